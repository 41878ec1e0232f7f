"""Training-step benchmarks S2 and S3 of WORKLOADS.md: one step of training
(forward, backward and the optimiser's update) at the W2 and W3 sizes.

    python benchmarks/training_steps.py [--steps 200] [--only S2-Adam]

Per workload, three ways to take a step, each from the same initial values:

* ``compiled``: one ``sg.function([data...], cost, updates=opt.updates(params, grads))``
  over shared parameters; the kernel writes parameters and moments in place;
* ``vg + step``: ``sg.value_and_grad`` (for SparseAdam: the cost and
  ``sg.optim.sparse_grad``'s rows of the embedding, as the trainer's
  gradient path takes them), then ``opt.step`` in NumPy;
* ``Trainer.step``: ``sg.Trainer(cost, params, opt).step(batch)``, the compiled
  step as the trainer builds it (each update guarded by a finiteness check
  of the cost and the gradients; for S2-SparseAdam the trainer takes one
  optimiser, SparseAdam, for every parameter);
* ``torch``: ``opt.zero_grad(); loss.backward(); opt.step()`` with
  ``torch.optim`` (the embedding through ``F.embedding(..., sparse=True)`` for
  SparseAdam), ``torch.set_num_threads(1)``; left out when torch is not installed.

Every step is timed alone; the table shows medians, the implementations
interleaved in rounds, one thread each (the thread variables below are set
before NumPy, Numba or torch load). After the timed steps the parameters of
each implementation are compared with those of ``vg + step`` (the same number
of steps from the same start): the largest relative difference. ``kernel``
is the compiled step's Numba kernel called directly with prepared arguments,
and ``call`` the rest of a compiled call (argument checks, index checks):
where the compiled step's time goes.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "SYMGRAD_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report import fmt_time  # noqa: E402

import symgrad as sg  # noqa: E402


class Step:
    """A workload: ``data`` (list of arrays), ``init`` (name -> initial array),
    ``graph(params)`` -> (cost, data variables) over ``params`` (name -> variable),
    ``optimizer()`` -> a new sg.optim optimiser, ``sparse``: the names whose
    gradient is row-sparse, and ``torch_step(torch, params)`` -> a step function."""

    def __init__(self, name, data, init, graph, optimizer, sparse, torch_step):
        self.name, self.data, self.init, self.graph = name, data, init, graph
        self.optimizer, self.sparse, self.torch_step = optimizer, sparse, torch_step


def _gradients(cost, params, sparse):
    """The gradient of each parameter, in ``params`` order: (index, rows) for the sparse ones."""
    return [sg.optim.sparse_grad(cost, v) if k in sparse else sg.grad(cost, v)
            for k, v in params.items()]


def compiled(step):
    """The compiled step, its shared parameters (name -> shared variable) and the function."""
    params = {k: sg.shared(v, name=k) for k, v in step.init.items()}
    cost, data_vars = step.graph(params)
    updates = step.optimizer().updates(list(params.values()),
                                       _gradients(cost, params, step.sparse))
    f = sg.function(data_vars, cost, updates=updates, cache=True)
    f.wait_compiled()
    return (lambda: f(*step.data)), (lambda: {k: v.get_value() for k, v in params.items()}), f


def value_and_grad_step(step):
    """``value_and_grad`` (or the cost and sparse rows) then ``opt.step`` on NumPy arrays."""
    variables = {k: sg.tensor(k, v.shape) for k, v in step.init.items()}
    cost, data_vars = step.graph(variables)
    values = {k: v.copy() for k, v in step.init.items()}
    opt = step.optimizer()
    outputs = [cost]
    for g in _gradients(cost, variables, step.sparse):
        outputs += list(g) if isinstance(g, tuple) else [g]
    f = sg.function(data_vars + list(variables.values()), outputs, cache=True)
    f.wait_compiled()

    def run():
        loss, *rest = f(*step.data, *values.values())
        grads = {}
        for k in values:
            if k in step.sparse:
                index, rows, *rest = rest
                grads[k] = sg.optim.SparseRows(index, rows, values[k].shape)
            else:
                grads[k], *rest = rest
        opt.step(values, grads)
        return loss
    return run, (lambda: {k: v.copy() for k, v in values.items()})


def trainer_step(step):
    """``sg.Trainer.step`` on one batch: the trainer's guarded compiled step."""
    variables = {k: sg.tensor(k, v.shape) for k, v in step.init.items()}
    cost, data_vars = step.graph(variables)
    params = {variables[k]: v.copy() for k, v in step.init.items()}
    opt = step.optimizer()
    trainer = sg.Trainer(cost, params, sg.optim.SparseAdam(lr=1e-3) if step.sparse else opt)
    trainer.function.wait_compiled()
    batch = dict(zip(data_vars, step.data))
    return (lambda: trainer.step(batch)), None


def torch_step(step):
    """The same step in PyTorch, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in step.init.items()}
    run = step.torch_step(torch, params, [torch.from_numpy(a) for a in step.data])
    return run, (lambda: {k: v.detach().numpy().copy() for k, v in params.items()})


# S2: the W2 window classifier --------------------------------------------------------------

def s2(optimizer_name):
    rng = np.random.default_rng(2)
    data = [rng.integers(0, 20000, (512, 5)), rng.integers(0, 5, 512)]
    init = {"E": rng.normal(0, 0.1, (20000, 50)), "W": rng.normal(0, 0.1, (100, 250)),
            "b": rng.normal(0, 0.1, 100), "U": rng.normal(0, 0.1, (5, 100))}

    def graph(p):
        idx = sg.matrix("idx", 512, 5, dtype="int64")
        labels = sg.vector("labels", 512, dtype="int64")
        h = sg.tanh(sg.reshape(p["E"][idx], (512, 250)) @ p["W"].T + p["b"])
        return sg.nn.softmax_cross_entropy(h @ p["U"].T, labels), [idx, labels]

    def torch_step(torch, p, data):
        idx, labels = data
        F = torch.nn.functional
        if optimizer_name == "SparseAdam":
            opts = [torch.optim.SparseAdam([p["E"]], lr=1e-3),
                    torch.optim.Adam([p["W"], p["b"], p["U"]], lr=1e-3)]
        else:
            opts = [torch.optim.Adam(list(p.values()), lr=1e-3)]

        def run():
            for o in opts:
                o.zero_grad()
            x = F.embedding(idx, p["E"], sparse=optimizer_name == "SparseAdam")
            h = torch.tanh(x.reshape(512, 250) @ p["W"].T + p["b"])
            loss = F.cross_entropy(h @ p["U"].T, labels)
            loss.backward()
            for o in opts:
                o.step()
            return loss
        return run

    if optimizer_name == "SparseAdam":
        # SparseAdam for the embedding, Adam for the dense layers (as in torch)
        return Step("S2-SparseAdam", data, init, graph, lambda: _Mixed(), {"E"}, torch_step)
    return Step("S2-Adam", data, init, graph, lambda: sg.optim.Adam(lr=1e-3), set(), torch_step)


class _Mixed:
    """SparseAdam for E, Adam for the rest: the two optimisers as one, for both paths."""

    def __init__(self):
        self.sparse, self.dense = sg.optim.SparseAdam(lr=1e-3), sg.optim.Adam(lr=1e-3)

    def updates(self, params, grads):
        (E, gE), rest = (params[0], grads[0]), (params[1:], grads[1:])
        return self.sparse.updates([E], [gE]) + self.dense.updates(*rest)

    def step(self, params, grads):
        first = next(iter(params))
        self.sparse.step({first: params[first]}, {first: grads[first]})
        self.dense.step({k: params[k] for k in params if k != first},
                        {k: grads[k] for k in grads if k != first})


# S3: the W3 MLP ----------------------------------------------------------------------------

def s3():
    rng = np.random.default_rng(3)
    data = [rng.random((128, 784)), rng.integers(0, 10, 128)]
    init = {"W1": rng.normal(0, 0.05, (784, 256)), "b1": np.zeros(256),
            "W2": rng.normal(0, 0.05, (256, 10)), "b2": np.zeros(10)}

    def graph(p):
        X, y = sg.matrix("X", 128, 784), sg.vector("y", 128, dtype="int64")
        logits = sg.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        return sg.nn.softmax_cross_entropy(logits, y), [X, y]

    def torch_step(torch, p, data):
        X, y = data
        opt = torch.optim.Adam(list(p.values()), lr=1e-3)

        def run():
            opt.zero_grad()
            h = torch.relu(X @ p["W1"] + p["b1"])
            loss = torch.nn.functional.cross_entropy(h @ p["W2"] + p["b2"], y)
            loss.backward()
            opt.step()
            return loss
        return run

    return Step("S3-Adam", data, init, graph, lambda: sg.optim.Adam(lr=1e-3), set(), torch_step)


STEPS = {"S2-Adam": lambda: s2("Adam"), "S2-SparseAdam": lambda: s2("SparseAdam"), "S3-Adam": s3}


def kernel_time(f, step, calls):
    """Median seconds of the compiled step's kernel alone, called with its arguments
    prepared once (as the last call passed them). It keeps updating the shared arrays."""
    arrays, bindings = f._arguments(step.data, {})
    args, _ = f._program.kernel_arguments(arrays, bindings)
    kernel = f._program.function
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        kernel(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def max_rel_diff(got, want):
    return max(float(np.max(np.abs(got[k] - want[k]))) / max(float(np.max(np.abs(want[k]))),
                                                             1e-300) for k in want)


def measure(step, steps, rounds):
    """{implementation: median seconds}, {implementation: rel. difference to vg + step},
    and the kernel's median alone."""
    run_c, values_c, f = compiled(step)
    impls = {"compiled": (run_c, values_c), "vg + step": value_and_grad_step(step),
             "Trainer.step": trainer_step(step)}
    t = torch_step(step)
    if t is not None:
        impls["torch"] = t
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, (run, _values) in impls.items():
            for _ in range(steps // rounds):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    reference = impls["vg + step"][1]()
    diffs = {name: max_rel_diff(values(), reference) for name, (_run, values) in impls.items()
             if values is not None}
    # measured last: the kernel alone keeps stepping the compiled parameters
    kernel = kernel_time(f, step, max(steps // 4, 5))
    return {name: statistics.median(ts) for name, ts in times.items()}, diffs, kernel


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per implementation")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--only", nargs="*", choices=sorted(STEPS), help="workloads to run")
    args = parser.parse_args()
    print("| step | compiled | kernel | call | Trainer.step | vg + step | torch "
          "| compiled / vg + step | compiled / torch | max rel. diff to vg + step "
          "(compiled, torch) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.only or list(STEPS):
        medians, diffs, kernel = measure(STEPS[name](), args.steps, args.rounds)
        c, v, t = medians["compiled"], medians["vg + step"], medians.get("torch")
        ratio_t = f"{c / t:.2f}" if t else "–"
        torch_diff = f"{diffs['torch']:.1e}" if "torch" in diffs else "–"
        print(f"| {name} | {fmt_time(c)} | {fmt_time(kernel)} | {fmt_time(max(c - kernel, 0))} "
              f"| {fmt_time(medians['Trainer.step'])} | {fmt_time(v)} | {fmt_time(t)} "
              f"| {c / v:.2f} | {ratio_t} "
              f"| {diffs['compiled']:.1e}, {torch_diff} |", flush=True)


if __name__ == "__main__":
    main()
