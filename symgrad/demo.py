"""``python -m symgrad demo``: the lecture's two worked examples, derived,
printed and checked numerically."""
import numpy as np

import symgrad as sg


def lecture_scalar():
    """f(x, y, z) = (x + y) * max(y, z) at (1, 2, 0): gradient (2, 5, 0)."""
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    f = (x + y) * sg.maximum(y, z)
    grads = sg.grad(f, [x, y, z])
    print("f(x, y, z) =", f.to_sympy())
    for var, g in zip("xyz", grads):
        print(f"  df/d{var} =", g.to_sympy())
    run = sg.function([x, y, z], [f] + grads, backend="numpy")
    fv, *gv = run(1.0, 2.0, 0.0)
    print(f"  at (1, 2, 0): f = {float(fv)}, gradient = {tuple(float(g) for g in gv)}")
    check = sg.check_grad(f, [x, y, z], {x: 1.0, y: 2.0, z: 0.5})
    print(f"  numeric check at (1, 2, 0.5): {'ok' if check else 'FAILED'} "
          f"(max relative error {max(check.max_rel_error.values()):.1e})")
    return bool(check) and [float(g) for g in gv] == [2.0, 5.0, 0.0]


def window_model(seed=0):
    """s = u . tanh(W x + b), x = 5 word vectors from E concatenated."""
    vocab, dim, window, hidden = 12, 4, 5, 8
    E = sg.matrix("E", vocab, dim)
    idx = sg.vector("idx", window, dtype="int64")
    W, b, u = sg.matrix("W", hidden, window * dim), sg.vector("b", hidden), sg.vector("u", hidden)
    x = E[idx].reshape((window * dim,))
    x.name = "x"
    h = sg.tanh(W @ x + b)
    h.name = "h"
    s = sg.dot(u, h)
    gE, gW, gb = sg.grad(s, [E, W, b])
    rng = np.random.default_rng(seed)
    vals = {E: rng.normal(size=(vocab, dim)), idx: np.array([3, 7, 3, 0, 11]),
            W: rng.normal(size=(hidden, window * dim)) * 0.3, b: rng.normal(size=hidden),
            u: rng.normal(size=hidden)}
    sv, gEv, gWv, gbv = sg.evaluate([s, gE, gW, gb], vals)
    xv = vals[E][vals[idx]].reshape(-1)
    hv = np.tanh(vals[W] @ xv + vals[b])
    delta = vals[u] * (1 - hv ** 2)
    same = (np.allclose(gWv, np.outer(delta, xv)) and np.allclose(gbv, delta))
    print("window model s = u . tanh(W x + b), x = E[idx] flattened, idx = [3, 7, 3, 0, 11]")
    print("  derived gradients:")
    print("    " + sg.pretty({"s": s, "∂s/∂W": gW, "∂s/∂b": gb}).replace("\n", "\n    "))
    print(f"  s = {float(sv):.6f}; dS/dW has shape {gWv.shape}, equals delta x^T: {same}")
    rows = np.flatnonzero(np.abs(gEv).sum(axis=1))
    print(f"  dS/dE is nonzero only in rows {rows.tolist()} (word 3 appears twice: its "
          "two gradients add up)")
    check = sg.check_grad(s, [E, W, b, u], vals)
    print(f"  numeric check of dS/dE, dS/dW, dS/db, dS/du: {'ok' if check else 'FAILED'} "
          f"(max relative error {max(check.max_rel_error.values()):.1e})")
    return bool(check) and same


def main():
    ok = bool(lecture_scalar())
    print()
    ok = window_model() and ok
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    return 0 if ok else 1
