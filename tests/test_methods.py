"""Expr methods in NumPy's and PyTorch's spellings (symgrad/operators.py): each is
the node its function builds (equal structure), equals NumPy, and
where NumPy and PyTorch read a spelling differently, neither reading is
silently wrong."""
import pickle

import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases

RNG = np.random.default_rng(7)
A = RNG.normal(size=(2, 3, 4))
X = sg.tensor("X", A.shape)


def _value(e):
    return e.eval({X: A})


# method call, the function it aliases (same node), NumPy's value
SAME_AS_FUNCTION = [
    ("sum(dim, keepdim)", lambda: X.sum(dim=1, keepdim=True), lambda: sg.sum(X, 1, keepdims=True),
     A.sum(1, keepdims=True)),
    ("mean(dim=tuple)", lambda: X.mean(dim=(0, 2)), lambda: sg.mean(X, (0, 2)), A.mean((0, 2))),
    ("max(dim).values", lambda: X.max(dim=-1).values, lambda: sg.max(X, -1), A.max(-1)),
    ("max(dim)[0]", lambda: X.max(dim=-1)[0], lambda: sg.max(X, -1), A.max(-1)),
    ("max(dim)[1]", lambda: X.max(dim=-1)[1], lambda: sg.argmax(X, -1), A.argmax(-1)),
    ("min(dim, keepdim).indices", lambda: X.min(dim=0, keepdim=True).indices,
     lambda: sg.argmin(X, 0, keepdims=True), A.argmin(0, keepdims=True)),
    ("min(axis, keepdim)", lambda: X.min(1, keepdim=True), lambda: sg.min(X, 1, keepdims=True),
     A.min(1, keepdims=True)),
    ("prod(dim)", lambda: X.prod(dim=2), lambda: sg.prod(X, 2), A.prod(2)),
    ("argmax(dim)", lambda: X.argmax(dim=1), lambda: sg.argmax(X, 1), A.argmax(1)),
    ("argmin()", lambda: X.argmin(), lambda: sg.argmin(X), A.argmin()),
    ("cumsum(dim)", lambda: X.cumsum(dim=2), lambda: sg.cumsum(X, 2), A.cumsum(2)),
    ("cumprod(axis)", lambda: X.cumprod(1), lambda: sg.cumprod(X, 1), A.cumprod(1)),
    ("var(axis, ddof)", lambda: X.var(axis=1, ddof=1), lambda: sg.var(X, 1, ddof=1),
     A.var(1, ddof=1)),
    ("std()", lambda: X.std(), lambda: sg.std(X), A.std()),
    ("sort(axis)", lambda: X.sort(axis=1), lambda: sg.sort(X, 1), np.sort(A, 1)),
    ("argsort()", lambda: X.argsort(), lambda: sg.argsort(X), A.argsort()),
    ("transpose(a, b): swap", lambda: X.transpose(0, 2), lambda: sg.swapaxes(X, 0, 2),
     A.swapaxes(0, 2)),
    ("transpose(*perm)", lambda: X.transpose(1, 0, 2), lambda: sg.transpose(X, (1, 0, 2)),
     A.transpose(1, 0, 2)),
    ("transpose(perm)", lambda: X.transpose((2, 0, 1)), lambda: sg.transpose(X, (2, 0, 1)),
     A.transpose((2, 0, 1))),
    ("transpose()", lambda: X.transpose(), lambda: sg.transpose(X), A.transpose()),
    ("view(*shape)", lambda: X.view(6, 4), lambda: sg.reshape(X, (6, 4)), A.reshape(6, 4)),
    ("view(-1)", lambda: X.view(-1), lambda: sg.reshape(X, (24,)), A.reshape(-1)),
    ("permute(*dims)", lambda: X.permute(2, 0, 1), lambda: sg.transpose(X, (2, 0, 1)),
     A.transpose(2, 0, 1)),
    ("swapaxes", lambda: X.swapaxes(0, 1), lambda: sg.swapaxes(X, 0, 1), A.swapaxes(0, 1)),
    ("unsqueeze", lambda: X.unsqueeze(1), lambda: sg.expand_dims(X, 1), A[:, None]),
    ("unsqueeze(-1)", lambda: X.unsqueeze(-1), lambda: sg.expand_dims(X, -1), A[..., None]),
    ("flatten()", lambda: X.flatten(), lambda: sg.ravel(X), A.flatten()),
    ("flatten(start_dim)", lambda: X.flatten(1), lambda: sg.reshape(X, (2, 12)), A.reshape(2, 12)),
    ("flatten(start, end)", lambda: X.flatten(0, 1), lambda: sg.reshape(X, (6, 4)),
     A.reshape(6, 4)),
    ("ravel", lambda: X.ravel(), lambda: sg.ravel(X), A.ravel()),
    ("squeeze", lambda: X[:, :1].squeeze(), lambda: sg.squeeze(X[:, :1]), A[:, :1].squeeze()),
    ("squeeze(dim)", lambda: X[:, :1].squeeze(dim=1), lambda: sg.squeeze(X[:, :1], 1),
     A[:, :1].squeeze(1)),
    ("repeat: NumPy's", lambda: X.repeat(2, axis=1), lambda: sg.repeat(X, 2, axis=1),
     A.repeat(2, axis=1)),
    ("dot", lambda: X.dot(np.ones(4)), lambda: sg.dot(X, np.ones(4)), A.dot(np.ones(4))),
    ("diagonal", lambda: X.diagonal(), lambda: sg.diagonal(X), A.diagonal()),
    ("trace", lambda: X.trace(offset=1), lambda: sg.trace(X, 1), A.trace(1)),
    ("exp", lambda: X.exp(), lambda: sg.exp(X), np.exp(A)),
    ("log", lambda: (X * X).log(), lambda: sg.log(X * X), np.log(A * A)),
    ("tanh", lambda: X.tanh(), lambda: sg.tanh(X), np.tanh(A)),
    ("sigmoid", lambda: X.sigmoid(), lambda: sg.sigmoid(X), 1 / (1 + np.exp(-A))),
    ("relu", lambda: X.relu(), lambda: sg.relu(X), np.maximum(A, 0)),
    ("sqrt", lambda: (X * X).sqrt(), lambda: sg.sqrt(X * X), np.abs(A)),
    ("abs", lambda: X.abs(), lambda: sg.abs(X), np.abs(A)),
    ("clip(min, max)", lambda: X.clip(-0.5, 0.5), lambda: sg.clip(X, -0.5, 0.5), A.clip(-0.5, 0.5)),
    ("clip(max=)", lambda: X.clip(max=0.1), lambda: sg.clip(X, None, 0.1), A.clip(max=0.1)),
    ("astype(str)", lambda: X.astype("float32"), lambda: sg.cast(X, "float32"),
     A.astype("float32")),
    ("astype(type)", lambda: X.astype(np.int64), lambda: sg.cast(X, "int64"), A.astype(np.int64)),
    ("%", lambda: X % 0.75, lambda: sg.mod(X, 0.75), A % 0.75),
    ("reflected %", lambda: 2.0 % (X + 3), lambda: sg.mod(2.0, X + 3), 2.0 % (A + 3)),
]


@pytest.mark.parametrize("method, function, want", [c[1:] for c in SAME_AS_FUNCTION],
                         ids=[c[0] for c in SAME_AS_FUNCTION])
def test_method_is_its_function_and_matches_numpy(method, function, want):
    e = method()
    assert e == function()  # the same structure
    got = _value(e)
    assert got.shape == np.shape(want)
    assert got.dtype.kind == np.asarray(want).dtype.kind
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_methods_differentiate_on_the_backend_under_test():
    cases = [
        Case("transpose(a, b)", lambda x: x.transpose(0, 2), [A], lambda x: x.swapaxes(0, 2)),
        Case("sum(dim, keepdim)", lambda x: x.sum(dim=1, keepdim=True), [A],
             lambda x: x.sum(1, keepdims=True)),
        Case("flatten(1) @", lambda x: x.flatten(1) @ np.ones(12), [A],
             lambda x: x.reshape(2, 12) @ np.ones(12)),
        Case("%", lambda x: x % 0.75, [A], lambda x: x % 0.75),
        Case("clip", lambda x: x.clip(-0.5, 0.5).exp(), [A], lambda x: np.exp(x.clip(-0.5, 0.5)),
             smooth=False),
    ]
    check_cases(cases)


def test_size_is_the_count_and_callable_as_pytorch():
    assert X.size == 24 and isinstance(X.size, int) and X.size + 1 == 25
    assert X.size() == (2, 3, 4) and X.size(1) == 3 and X.size(-1) == 4
    assert X.numel() == 24 and X.dim() == 3 == X.ndim
    assert sg.scalar("s").size == 1 and sg.scalar("s").size() == ()
    assert type(pickle.loads(pickle.dumps(X.size))) is int  # pickles as the count
    with pytest.raises(ValueError):
        X.size(3)


def test_size_with_named_dimensions_refuses_to_be_a_number():
    m = sg.matrix("m", "n", 3)
    assert m.size() == (m.shape[0], 3) and m.size(1) == 3
    assert str(m.size) == "3*n" and m.size == m.numel()
    for use in (lambda: int(m.size), lambda: m.size + 1, lambda: 2.0 / m.size,
                lambda: range(m.size)):
        with pytest.raises(TypeError, match="call time"):
            use()
    assert int(sg.dim_size(m.size.count).eval({m: np.zeros((5, 3))})) == 15


def test_ambiguous_and_mixed_spellings_raise():
    m = sg.matrix("m", 2, 3)
    with pytest.raises(ValueError, match="ambiguous"):
        m.transpose(0, 1)      # NumPy: identity; PyTorch: swap
    with pytest.raises(ValueError, match="ambiguous"):
        m.transpose(-2, -1)
    assert m.transpose(1, 0) == m.T and m.transpose((0, 1)) is m
    with pytest.raises(TypeError, match="not both"):
        X.sum(1, dim=1)
    with pytest.raises(TypeError, match="not both"):
        X.mean(axis=0, dim=0)
    with pytest.raises(TypeError, match="not both"):
        X.max(0, keepdims=True, keepdim=True)
    with pytest.raises(TypeError, match="keepdim"):
        X.cumsum(dim=0, keepdim=True)
    with pytest.raises(TypeError, match="ddof"):
        X.std(dim=1)           # PyTorch's std is unbiased by default
    with pytest.raises(TypeError, match="ddof"):
        X.var(axis=1, unbiased=False)
    with pytest.raises(TypeError, match="start_dim"):
        X.flatten(0, 1, 2)


def test_repeat_is_numpys_not_pytorchs():
    v = sg.vector("v", 2)
    assert v.repeat(3).eval({v: [1.0, 2.0]}).tolist() == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
