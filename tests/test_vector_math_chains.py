"""Long chains of vectorisable math (codegen.rows): a loop body with more
codegen.vmath calls than LLVM can inline runs its formulas in the block
interpreter, with the same results, bit for bit, as the inline vector math
(the scalar vmath functions, element by element), special values included."""
import math

import numpy as np
import pytest
import sympy
from sympy.codegen.cfunctions import expm1, log1p

from symgrad_codegen import Alloc, Compute, Index, Load, Loop, Program, Store, compile_program, \
    vmath
from symgrad_codegen import source
from symgrad_codegen.rows import OPS, RowsProgram, Unsupported

t = sympy.Symbol("t0", real=True)


def _sin(v):  # vsin, and libm beyond its limit, as the interpreter computes it
    with np.errstate(invalid="ignore"):
        return vmath.vsin(v) if abs(v) < vmath.SIN_COS_LIMIT else float(np.sin(v))


n = sympy.Symbol("n0", integer=True)
# one step of the chain: (SymPy formula, the same with codegen.vmath, element by element)
STEPS = [
    (sympy.sin(t) + sympy.Rational(1, 10), lambda v: _sin(v) + 0.1),
    (sympy.tanh(t) * 1.5, lambda v: vmath.vtanh(v) * 1.5),
    (sympy.exp(-(t * t)), lambda v: vmath.vexp(-(v * v))),
    (log1p(t * t) - sympy.cos(t), lambda v: vmath.vlog1p(v * v) - vmath.vcos(v)),
    (sympy.Piecewise((expm1(t), t > 0), (sympy.log(-t), True)),
     lambda v: vmath.vexpm1(v) if v > 0 else (math.nan if v != v else vmath.vlog(-v))),
    (sympy.Max(t, -0.5) / (1 + abs(t)) + sympy.sqrt(t * t + 1), lambda v: (
        (v if v >= -0.5 or v != v else -0.5) / (1.0 + abs(v)) + math.sqrt(v * v + 1.0))),
]
LENGTH = 140  # steps: 163 vmath calls in one loop body, enough for the interpreter
POINTS = np.concatenate([np.linspace(-3.0, 3.0, 1190),
                         [0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 5e-324, 700.0, 1e-8]])


def _chain_program():
    body, previous = [Load("v0", "x0", (Index(0),))], "v0"
    for k in range(LENGTH):
        formula, _ = STEPS[k % len(STEPS)]
        body.append(Compute(f"v{k + 1}", sympy.Lambda((t,), formula), (previous,), "float64",
                            cast=False))
        previous = f"v{k + 1}"
    body += [Store("y", (Index(0),), previous), Store("total", (Index(None),), previous, "+=")]
    return Program(("x0", "n0"), (Alloc("y", "float64", (n,)),
                                  Alloc("total", "float64", (1,), 0), Loop((n,), tuple(body))),
                   ("y", "total"))


def _chain_reference(x):
    out = []
    for value in x:
        for k in range(LENGTH):
            value = STEPS[k % len(STEPS)][1](float(value))
        out.append(value)
    return np.array(out)


@pytest.fixture(scope="module")
def chain():
    return compile_program(_chain_program())


def test_a_long_chain_runs_in_the_interpreter(chain):
    assert "ROWS_" in chain.source and "op_sin(" in chain.source
    assert "math.sin" not in chain.source and "vsin(" not in chain.source  # no libm, nothing inlined


def test_a_long_chain_gives_the_inline_vector_maths_results_bit_for_bit(chain):
    x = POINTS.copy()
    y, total = chain.function(x, len(x))
    want = _chain_reference(x)
    np.testing.assert_array_equal(y, want)  # nan where nan, signed zeros, infinities
    assert np.isfinite(want).sum() > 1000
    np.testing.assert_array_equal(total[0], sum(want.tolist()))  # summed in order
    np.testing.assert_array_equal(x, POINTS)  # the caller's array untouched


def test_the_interpreter_matches_numpy_over_blocks_of_any_length(chain):
    rng = np.random.default_rng(17)
    for size in (1, 511, 512, 513, 1500):
        x = rng.uniform(-2.0, 2.0, size)
        y, total = chain.function(x, size)
        want = x.copy()
        for k in range(LENGTH):  # NumPy's own functions: within a few ulp per step
            v = want
            want = [np.sin(v) + 0.1, np.tanh(v) * 1.5, np.exp(-(v * v)),
                    np.log1p(v * v) - np.cos(v),
                    np.where(v > 0, np.expm1(v), np.log(np.abs(v))),
                    np.maximum(v, -0.5) / (1 + np.abs(v)) + np.sqrt(v * v + 1)][k % len(STEPS)]
        np.testing.assert_allclose(y, want, rtol=1e-11, atol=1e-13)
        assert total[0] == pytest.approx(want.sum(), rel=1e-12)


def _run(program, inputs, count):
    """Run a RowsProgram's dispatch as the kernel would (compiled helpers, Python loop)."""
    stage = np.full(program.rows * count, np.nan)
    for name, values in inputs.items():
        stage[program.offset[name]:program.offset[name] + count] = values
    namespace = {"np": np, "stage": stage,
                 "constants": np.array([eval(c, {"np": np}) for c in program.constants] or [0.0])}
    exec("from symgrad_codegen.rows import *\n" + program.definition() + "\n"
         + "\n".join(program.dispatch("stage", "constants", count)), namespace)
    return {name: stage[program.offset[name]:program.offset[name] + count]
            for name in program.outputs}


SPECIAL = np.array([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("text, reference", [
    ("x + y - x * y / (y ** 2.0)", lambda x, y: x + y - x * y / (y ** 2.0)),
    ("-x + abs(y) + math.sqrt(x)", lambda x, y: -x + np.abs(y) + np.sqrt(x)),
    ("select((x < y) | (x == y) & (not (x >= 1.0)), x, select((x != x), np.nan, y))",
     lambda x, y: np.where((x < y) | (x == y) & ~(x >= 1.0), x, np.where(x != x, np.nan, y))),
    ("select((x > y) | (x <= -1.0), np.inf, -x)",
     lambda x, y: np.where((x > y) | (x <= -1.0), np.inf, -x)),
])
def test_each_operation_is_ieee_as_numpy(text, reference):
    x, y = np.meshgrid(SPECIAL, SPECIAL)
    x, y = x.ravel(), y.ravel()
    program = RowsProgram([("r", text)], ["x", "y"], ["r"], block=len(x))
    with np.errstate(all="ignore"):
        want = reference(x, y)
    np.testing.assert_array_equal(_run(program, {"x": x, "y": y}, len(x))["r"], want)


def test_no_instruction_writes_a_row_it_reads_and_dead_rows_are_reused():
    lines = [(f"v{k + 1}", f"vexp(-(v{k}*v{k})) + 0.25") for k in range(50)]
    program = RowsProgram(lines, ["v0"], ["v50"], block=8)
    arity = {"fill": 0, "neg": 1, "exp": 1, "add": 2, "mul": 2}
    assert {OPS[op] for op, *_ in program.table} == set(arity)
    for op, target, *operands in program.table:
        assert target not in operands[:arity[OPS[op]]]
    assert program.rows <= 5 < len(program.table) and program.constants == ["0.25"]
    x = np.linspace(-1.0, 1.0, 8)
    want = x
    for _ in range(50):
        want = np.array([vmath.vexp(-(v * v)) + 0.25 for v in want])
    np.testing.assert_array_equal(_run(program, {"v0": x}, 8)["v50"], want)


def test_what_the_interpreter_cannot_compute_keeps_libm():
    with pytest.raises(Unsupported, match="math.erf"):
        RowsProgram([("r", "math.erf(x) + 1.0")], ["x"], ["r"], block=4)
    body = [Load("v0", "x0", (Index(0),))]
    for k in range(170):  # calls enough for the interpreter, but erf it cannot do
        body.append(Compute(f"v{k + 1}", sympy.Lambda((t,), sympy.erf(t) + sympy.exp(t)),
                            (f"v{k}",), "float64", cast=False))
    assert source._interpreted(tuple(body), tuple(body)) is None
    float32 = tuple(Compute(st.sym, st.formula, st.args, "float32", cast=False)
                    if isinstance(st, Compute) else st for st in _chain_program().statements[2].body)
    assert source._interpreted(float32, float32) is None
    chain = _chain_program().statements[2].body
    assert source._interpreted(chain, chain) is not None
