"""The functions a kernel's entry point calls: repeated loop nests and runs of
statements outlined, each distinct one compiled once, and runs called back to
back rolled into loops.

Numba's and LLVM's time grows faster than linearly in the size of one
function (a 485-node gradient graph printed as one function: 40 s), and
grows with every statement of the entry point (a call or an allocation there
costs 5-10 ms to compile); the loops of a model repeat (the steps of an RNN,
the layers of an MLP). ``Outliner`` prints a step with canonical names (``a0,
a1, ...`` for the kernel's arrays, sizes and constant offsets it uses, ``l0,
l1, ...`` for its own), so that repeats print the same function, compiled
once, which the kernel calls with its own names. A step that occurs once
stays inline: a function of its own costs a compile pipeline (~0.1 s) and
saves nothing. Then runs of statements that repeat back to back (an unrolled
RNN's forward step, its backward step, an MLP's layers) become functions too
(``Outliner.blocks``), and the calls of one such function, back to back, a
loop in the entry point (``Outliner._rolled``), so that the entry point does
not grow with the number of steps.
"""
import builtins
import keyword
import re

LOOP_PREFIX = "loop"  # the functions the entry point calls: for loop nests ...
BLOCK_PREFIX = "block"  # ... and for runs of statements

_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
# what canonical names rename: names, and the constant offsets of subscripts
# (``x[nonneg(64 + i1)]``: the columns of one gate of an LSTM, one window of a
# convolution) and of sub-arrays (``r = x[9]``: one step's input), which become
# parameters of the function too
_TOKEN = re.compile(_NAME.pattern + r"|(?<=nonneg\()\d+(?= \+ )|(?<=\[)\d+(?=\]$)", re.M)
_NOT_RENAMED = frozenset(keyword.kwlist) | frozenset(dir(builtins))


class Outliner:
    """The functions of one kernel module, one per distinct canonical text
    (see the module docstring); ``outer``: the names the kernel defines (its
    parameters and arrays), ``imported``: the module's imported names.

    >>> o = Outliner({"x0", "b1", "b2"}, {"np", "nonneg"})
    >>> o.canonical(["    b1 = np.exp(x0[nonneg(4 + i0)])"])[:2]
    ('    a0 = np.exp(a1[nonneg(a2 + l0)])', ['b1', 'x0', '4'])
    """

    def __init__(self, outer, imported):
        self.outer = outer                  # names the kernel defines (its parameters, arrays)
        self.fixed = set(_NOT_RENAMED | imported)
        self.functions = {}                 # canonical text -> (function name, parameter count)

    def canonical(self, lines, own=frozenset(), given=()):
        """(``lines`` with canonical names, the kernel's names they use in order,
        the renaming); the kernel's names in ``own`` are defined by the lines,
        the names in ``given`` are parameters too (the lines' caller defines them)."""
        params, rename = [], {}
        for name in _TOKEN.findall("\n".join(lines)):
            if name in rename or name in self.fixed:
                continue
            if name[0].isdigit() or name in self.outer and name not in own or name in given:
                rename[name] = f"a{len(params)}"
                params.append(name)
            else:
                rename[name] = f"l{len(rename) - len(params)}"
        body = [_TOKEN.sub(lambda m: rename.get(m.group(0), m.group(0)), line) for line in lines]
        return "\n".join(body), params, rename

    def call(self, text, params, result=None, prefix=LOOP_PREFIX):
        """The kernel's line calling the function with body ``text`` (canonical),
        assigning what it returns to ``result``."""
        name, _ = self.functions.setdefault(text, (f"{prefix}{len(self.functions)}", len(params)))
        self.fixed.add(name)
        call = f"{name}({', '.join(map(_argument, params))})"
        return f"    {call}" if result is None else f"    {result} = {call}"

    def blocks(self, groups, defines, roll=True):
        """The entry point's lines, from ``groups`` (the lines of each statement,
        the last one returning the results; ``defines[k]``: the name statement k
        defines, or None) with each run of statements that repeats back to back
        called as one function (which returns the names it defines that later
        statements use); with ``roll``, a run repeated at least
        :data:`_ROLL_LEAST` times is called from a loop (see ``_rolled``)."""
        ids, last_use = {}, {}
        keys = [ids.setdefault(self.canonical(g)[0], len(ids)) for g in groups]
        for k, g in enumerate(groups):
            last_use.update(dict.fromkeys(_NAME.findall("\n".join(g)), k))
        lines, i, names = [], 0, _Names()
        while i < len(groups):
            period, count = _tandem(keys, i)
            runs = []
            # worth a block if every repeat turns out alike?
            worth = count > 1 and _saved(period, count) >= _LEAST_SAVED
            for start in range(i, i + period * count, period) if worth else ():
                own = set(filter(None, defines[start:start + period]))
                text, params, rename = self.canonical(
                    [line for g in groups[start:start + period] for line in g], own)
                if runs and text != runs[0][0]:
                    break
                used = {rename[d] for d in own if last_use.get(d, -1) >= start + period}
                runs.append((text, params, rename, used))
            if len(runs) < 2 or _saved(period, len(runs)) < _LEAST_SAVED:
                lines += names.bound(groups[i])
                i += 1
                continue
            returned = sorted(set().union(*(used for *_, used in runs)), key=lambda l: int(l[1:]))
            text = runs[0][0] + "".join(f"\n    return ({', '.join(returned)}, )" for _ in
                                         returned[:1])
            calls = []
            for _, params, rename, _ in runs:
                inverse = {local: name for name, local in rename.items()}
                calls.append((params, [inverse[local] for local in returned]))
            i += period * len(runs)
            first = i - period * len(calls)
            rolled = roll and len(calls) >= _ROLL_LEAST and self._rolled(
                text, calls, lambda m, name: last_use.get(name, -1) >= first + (m + 2) * period,
                names)
            lines += rolled or [line for params, outs in calls
                                for line in self._block_call(text, params, outs, names)]
        return lines

    def _block_call(self, text, params, targets, names):
        """The lines calling the block function ``text``, assigning ``targets``."""
        return names.bound([self.call(text, params, _targets(targets), BLOCK_PREFIX)])

    def _rolled(self, text, calls, reads, names):
        """The calls of one block function as a loop: the first few calls
        (while they take arguments the others do not), one more, then ``for t
        in range(s, n)``. Each argument is the same in every call of the loop,
        or what the previous call returned (carried), or differs per call:
        read from a list the calls of a rolled loop filled (this one's too), in
        order or reverse order, or offsets in a progression; else from a list
        of them built first. What the calls return that is read later than by
        the next call (``reads(m, name)``) is kept in a list per returned
        name; later statements read a name from it (see ``_Names``). None
        where no argument plan works (the calls are then written out)."""
        n, k = len(calls), len(calls[0][1])
        run = names.next_run()
        step, results = f"t{run}", [f"r{run}_{i}" for i in range(k)]
        kept = [i for i in range(k) if any(reads(m, calls[m][1][i]) for m in range(n - 1))]
        for m, (_, outs) in enumerate(calls):
            for i in kept:
                names.entry[outs[i]] = (f"o{run}_{i}", m)
        own = {name for _, outs in calls for name in outs}
        plans = [(s, _arguments(calls, s, results, own, names, f"p{run}_", step))
                 for s in range(1, n - _ROLL_LEAST + 2)]
        plans = [(s, plan) for s, plan in plans if plan is not None]
        if not plans:
            for _, outs in calls:
                for name in outs:
                    names.entry.pop(name, None)
            return None
        start, (before, later) = min(plans, key=lambda plan: (len(plan[1][0]), plan[0]))
        lines = []
        for m, (params, outs) in enumerate(calls[:start]):
            lines += self._block_call(text, params, outs if m < start - 1 else results, names)
        lines += [f"    o{run}_{i} = [{''.join(calls[m][1][i] + ', ' for m in range(start - 1))}"
                  f"{results[i]}]" for i in kept]
        lines += names.bound(before)
        lines.append(f"    for {step} in range({start}, {n}):")
        lines.append("    " + self.call(text, later, _targets(results), BLOCK_PREFIX))
        lines += [f"        o{run}_{i}.append({results[i]})" for i in kept]
        for i, name in enumerate(calls[-1][1]):
            names.define(name, results[i])
        for m in range(start - 1, n - 1):
            for i in kept:
                names.define(calls[m][1][i], f"o{run}_{i}[{m}]")
        return lines

    def definitions(self):
        """The source of each function, in first-use order."""
        for text, (name, n) in self.functions.items():
            yield f"def {name}({', '.join(f'a{k}' for k in range(n))}):\n{text}\n\n"


def _targets(names):
    """The left side assigning a block call's returned tuple, or None."""
    return ", ".join(names) + "," if names else None


def _arguments(calls, start, results, own, names, listed, step):
    """(lines before the loop, the loop's arguments) for the calls of one
    block function from ``start`` on, rolled into ``for step in range(start,
    n)`` (see ``Outliner._rolled``), or None where an argument differs per
    call and names what an earlier call returns other than through a list."""
    n, k = len(calls), len(calls[0][1])
    before, later = [], []
    for j in range(len(calls[0][0])):
        values = [params[j] for params, _ in calls[start:]]
        carried = next((i for i in range(k) if all(
            calls[m][0][j] == calls[m - 1][1][i] for m in range(start, n))), None)
        if len(set(values)) == 1:
            later.append(values[0])
        elif carried is not None:
            later.append(results[carried])
        else:
            entry = names.progression(values, step, start)
            if entry is None:
                if own.intersection(values):
                    return None
                before.append(f"    {listed}{j} = [{', '.join(map(_argument, values))}]")
                entry = f"{listed}{j}[{step} - {start}]"
            later.append(entry)
    return before, later


def _argument(value):
    """A call's argument: a name, or an offset as np.intp (passed as a constant it
    would be typed as that literal: a compile per value)."""
    return f"np.intp({value})" if value[0].isdigit() else value


class _Names:
    """The kernel's names that a rolled loop defined: each is bound (``name =
    o3_1[4]``, the list of what the loop's calls returned, at that call; or the
    last call's result) just before the first line that reads it."""

    def __init__(self):
        self.source, self.entry, self.runs = {}, {}, 0

    def next_run(self):
        self.runs += 1
        return self.runs - 1

    def define(self, name, source):
        self.source[name] = source

    def bound(self, lines):
        """``lines`` after the bindings of the names they read that are not bound yet."""
        binding = []
        for name in dict.fromkeys(_NAME.findall("\n".join(lines))):
            if name in self.source:
                binding.append(f"    {name} = {self.source.pop(name)}")
        return binding + list(lines)

    def progression(self, values, step, start):
        """An expression reading the per-call ``values`` at ``step`` (which runs
        from ``start``) without a list of their own: offsets in an arithmetic
        progression, or entries of one rolled loop's list at positions in an
        arithmetic progression; else None."""
        if all(v.isdigit() for v in values):
            first, d = int(values[0]), int(values[1]) - int(values[0])
            if all(int(v) == first + d * m for m, v in enumerate(values)):
                return f"np.intp({first - d * start} + {d} * {step})"
            return None
        if not all(v in self.entry for v in values):
            return None
        (source, first), (_, second) = self.entry[values[0]], self.entry[values[1]]
        d = second - first
        if all(self.entry[v] == (source, first + d * m) for m, v in enumerate(values)):
            return f"{source}[{first - d * start} + {d} * {step}]"
        return None


_ROLL_LEAST = 3  # calls of one block function back to back: called from a loop
_LONGEST_BLOCK = 256  # statements
# a block function costs a compile pipeline, and Numba links, optimizes and
# compiles the code of the functions it calls again into each caller (one
# level more for them): worth it where it takes this many statements (5-10 ms
# each) out of the entry point. Measured (cold CPU time, LSTM of the model
# zoo): at 8, 10 steps 3.96 s and 30 steps 4.91 s; at 100, 3.54 s and 5.13 s;
# no blocks, 3.47 s and 8.37 s
_LEAST_SAVED = 100


def _saved(period, count):
    """The statements a block of ``period`` statements called ``count`` times
    takes out of the entry point."""
    return period * count - count - period


def _tandem(keys, i):
    """(period, count): the run of statements from ``i`` (``keys``: one per
    statement, equal for statements printed alike) that repeats most back to
    back, covering the most statements (at least 2 per run; ties: the
    shortest); (0, 0) if none repeats."""
    best = (0, 0)
    for period in range(2, min(_LONGEST_BLOCK, (len(keys) - i) // 2) + 1):
        if keys[i + period] != keys[i]:
            continue
        run, count = keys[i:i + period], 1
        while keys[i + count * period:i + (count + 1) * period] == run:
            count += 1
        if count > 1 and period * count > best[0] * best[1]:
            best = (period, count)
    return best
