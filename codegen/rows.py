"""Long elementwise loop bodies run a block at a time by an interpreter: a
table of instructions, each an ``op_<operation>`` helper over a block of
elements held in a row of a flat float64 ``stage`` buffer.

A loop body making more codegen.vmath calls than LLVM can inline in
reasonable time (see ``codegen.source``) was left to scalar libm calls,
which keep the loop from vectorising. Compiled as loops of their own, the
pieces between calls cost Numba and LLVM ~25 ms per loop (a 300-op chain
needs ~120). Here every instruction is one vectorised loop of a helper,
compiled once per operation and cached like the other helpers; a kernel
prints its instruction table (``RowsProgram``) and a loop dispatching its
rows, whatever their number.
The instructions are those of the body's printed Python (``formula_lines``
with vector math), so they compute the same IEEE operations in the same
order as the inline code would: the same results, bit for bit.
"""
import ast
import hashlib

import numpy as np

from .numba_internals import helper
from .runtime import nonneg, select
from .vmath import SIN_COS_LIMIT, vcos, vexp, vexpm1, vlog, vlog1p, vsin, vtanh

# opcodes: an instruction is (op, target, a, b, c): rows' offsets into the stage,
# except "fill" (a: an index into the constants)
OPS = ("fill", "add", "sub", "mul", "div", "pow", "neg", "abs", "sqrt", "eq", "ne", "lt",
       "le", "gt", "ge", "and", "or", "not", "select", "exp", "expm1", "log", "log1p", "sin",
       "cos", "tanh")
_CODE = {name: k for k, name in enumerate(OPS)}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
           ast.BitAnd: "and", ast.BitOr: "or"}
_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt",
            ast.GtE: "ge"}
_CALLS = {"abs": "abs", "math.sqrt": "sqrt", "select": "select",
          **{f"v{name}": name for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh")}}
_LITERALS = {"np.nan": "np.nan", "np.inf": "np.inf", "True": "1.0", "False": "0.0"}


class Unsupported(Exception):
    """A line the interpreter has no instruction for (the loop keeps libm)."""


class RowsProgram:
    """The instructions computing ``lines`` (``(name, Python expression)``
    pairs, in order) a block at a time. ``inputs`` are the names the loop
    stores into rows before running them, ``outputs`` those it reads from
    rows after; any other name the lines read is a scalar known before the
    loop, and it and every literal is one of the ``constants`` (source text,
    in the order of the constants array), filled into a row. Raises
    ``Unsupported`` for what the ``op_`` helpers cannot compute. ``rows``: the rows
    needed, ``offset``: an input's or output's row offset (``block`` elements
    per row); a row is reused once its value is dead.

    >>> p = RowsProgram([("y", "vexp(-(x*x)) + c")], ["x"], ["y"], block=4)
    >>> [OPS[op] for op, *_ in p.table], p.constants, p.rows
    (['mul', 'neg', 'exp', 'fill', 'add'], ['c'], 3)
    """

    def __init__(self, lines, inputs, outputs, block):
        self.constants, self._code, self._filled = [], [], {}
        self._names = {name: ("in", k) for k, name in enumerate(inputs)}
        for name, text in lines:
            self._names[name] = self._expression(ast.parse(text, mode="eval").body)
        row = self._rows([self._names[name] for name in outputs], len(inputs))
        self.table = [(_CODE[op], row[("v", k)] * block,
                       *(o if op == "fill" else row[o] * block for o in operands),
                       *(0,) * (3 - len(operands)))
                      for k, (op, *operands) in enumerate(self._code)]
        self.offset = {name: row[self._names[name]] * block for name in [*inputs, *outputs]}
        self.outputs = list(outputs)
        self.name = "ROWS_" + hashlib.sha256(repr(self.table).encode()).hexdigest()[:16]

    def _emit(self, op, *operands):
        self._code.append((op, *operands))
        return ("v", len(self._code) - 1)

    def _constant(self, text):
        """A row filled with the constant ``text`` (once per program)."""
        if text not in self._filled:
            self.constants.append(text)
            self._filled[text] = self._emit("fill", len(self.constants) - 1)
        return self._filled[text]

    def _expression(self, node):
        text = ast.unparse(node)
        if text in _LITERALS:
            return self._constant(_LITERALS[text])
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return self._constant(repr(float(node.value)))
        if isinstance(node, ast.Name):
            return self._names.get(node.id) or self._constant(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            return self._emit("neg" if isinstance(node.op, ast.USub) else "not",
                              self._expression(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._emit(_BINARY[type(node.op)], self._expression(node.left),
                              self._expression(node.right))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return self._emit(_COMPARE[type(node.ops[0])], self._expression(node.left),
                              self._expression(node.comparators[0]))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in _CALLS and not node.keywords:
            op = _CALLS[ast.unparse(node.func)]
            if len(node.args) == (3 if op == "select" else 1):
                return self._emit(op, *map(self._expression, node.args))
        raise Unsupported(text)

    def _rows(self, outputs, n_inputs):
        """{value: row}: each value's row is its own from its instruction to its
        last reader (outputs: to the end), so no instruction writes a row it
        reads (no in-place loops); sets ``rows``."""
        last = {value: len(self._code) for value in outputs}
        for k, (op, *operands) in enumerate(self._code):
            if op != "fill":
                last.update((operand, max(k, last.get(operand, k))) for operand in operands)
        row, free, ending, self.rows = {}, [], {}, 0
        for k in range(-1, len(self._code)):
            for value in [("in", j) for j in range(n_inputs)] if k < 0 else [("v", k)]:
                if not free:
                    free.append(self.rows)
                    self.rows += 1
                row[value] = free.pop()
                ending.setdefault(last.get(value, k), []).append(row[value])
            free.extend(ending.pop(k, []))  # dead after instruction k
        return row

    def definition(self):
        """A kernel module's line defining the table as the global ``name`` (Numba
        compiles a global array into the kernel as a constant)."""
        flat = ", ".join(str(v) for instruction in self.table for v in instruction)
        return f"{self.name} = np.array([{flat}], dtype=np.int64).reshape({len(self.table)}, 5)"


    def helpers(self):
        """The names of the ``op_<operation>`` helpers the table calls."""
        return [f"op_{OPS[code]}" for code in sorted({instruction[0] for instruction in self.table})]

    def dispatch(self, stage, constants, count):
        """Lines running the table on ``stage`` (``count`` elements per row): a
        loop calling each instruction's ``op_<operation>``.

        >>> p = RowsProgram([("y", "vexp(-(x*x)) + c")], ["x"], ["y"], block=2)
        >>> stage = np.zeros(p.rows * 2)
        >>> stage[p.offset["x"]:p.offset["x"] + 2] = [0.0, 1.0]
        >>> namespace = dict(globals(), stage=stage, constants=np.array([0.5]))
        >>> exec(p.definition() + "\\n" + "\\n".join(p.dispatch("stage", "constants", 2)), namespace)
        >>> stage[p.offset["y"]:p.offset["y"] + 2].tolist() == [1.5, vexp(-1.0) + 0.5]
        True
        """
        p, op = f"p_{stage}", f"op_{stage}"
        lines = [f"for {p} in range({len(self.table)}):", f"    {op} = {self.name}[{p}, 0]"]
        for k, code in enumerate(sorted({instruction[0] for instruction in self.table})):
            lines.append(f"    {'if' if k == 0 else 'elif'} {op} == {code}:")
            lines.append(f"        op_{OPS[code]}({stage}, {self.name}[{p}, 1], "
                         f"{self.name}[{p}, 2], {self.name}[{p}, 3], {self.name}[{p}, 4], "
                         f"{constants}, {count})")
        return lines


# One helper per operation, each a vectorised loop over a block (a choice of
# operation inside the loop would keep it from vectorising; one function
# choosing among them would compile them all): t, a, b, c are rows' offsets
# into the stage; a kernel calls, and compiles or loads, only those it uses.

@helper
def op_fill(stage, t, a, b, c, constants, count):
    value = constants[a]
    for j in range(count):
        stage[nonneg(t + j)] = value


@helper
def op_add(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = stage[nonneg(a + j)] + stage[nonneg(b + j)]


@helper
def op_sub(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = stage[nonneg(a + j)] - stage[nonneg(b + j)]


@helper
def op_mul(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = stage[nonneg(a + j)] * stage[nonneg(b + j)]


@helper
def op_div(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = stage[nonneg(a + j)] / stage[nonneg(b + j)]


@helper
def op_pow(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = stage[nonneg(a + j)] ** stage[nonneg(b + j)]


@helper
def op_neg(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = -stage[nonneg(a + j)]


@helper
def op_abs(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = abs(stage[nonneg(a + j)])


@helper
def op_sqrt(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = np.sqrt(stage[nonneg(a + j)])


@helper
def op_eq(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] == stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_ne(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] != stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_lt(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] < stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_le(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] <= stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_gt(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] > stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_ge(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] >= stage[nonneg(b + j)], 1.0, 0.0)


@helper
def op_and(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select((stage[nonneg(a + j)] != 0.0) & (stage[nonneg(b + j)] != 0.0), 1.0, 0.0)


@helper
def op_or(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select((stage[nonneg(a + j)] != 0.0) | (stage[nonneg(b + j)] != 0.0), 1.0, 0.0)


@helper
def op_not(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] == 0.0, 1.0, 0.0)


@helper
def op_select(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = select(stage[nonneg(a + j)] != 0.0, stage[nonneg(b + j)], stage[nonneg(c + j)])


@helper
def op_exp(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vexp(stage[nonneg(a + j)])


@helper
def op_expm1(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vexpm1(stage[nonneg(a + j)])


@helper
def op_log(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vlog(stage[nonneg(a + j)])


@helper
def op_log1p(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vlog1p(stage[nonneg(a + j)])


@helper
def op_sin(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vsin(stage[nonneg(a + j)])
    for j in range(count):  # vsin / vcos give nan beyond SIN_COS_LIMIT: libm there
        if abs(stage[nonneg(a + j)]) >= SIN_COS_LIMIT:
            stage[nonneg(t + j)] = np.sin(stage[nonneg(a + j)])


@helper
def op_cos(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vcos(stage[nonneg(a + j)])
    for j in range(count):  # vsin / vcos give nan beyond SIN_COS_LIMIT: libm there
        if abs(stage[nonneg(a + j)]) >= SIN_COS_LIMIT:
            stage[nonneg(t + j)] = np.cos(stage[nonneg(a + j)])


@helper
def op_tanh(stage, t, a, b, c, constants, count):
    for j in range(count):
        stage[nonneg(t + j)] = vtanh(stage[nonneg(a + j)])
