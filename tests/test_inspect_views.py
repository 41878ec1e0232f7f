"""The views of a graph: pretty/LaTeX definitions, debugprint, graphviz pictures
and the local-gradient view."""
import re
import shutil

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import graphviz_view

graphviz = pytest.importorskip("graphviz", reason="sg.graphviz needs the graphviz package")


@pytest.fixture(scope="module")
def window():
    W, x = sg.matrix("W", "m", "n"), sg.vector("x", "n")
    b, u = sg.vector("b", "m"), sg.vector("u", "m")
    s = sg.dot(u, sg.tanh(W @ x + b))
    gW, gx, gb = sg.grad(s, [W, x, b])
    return dict(W=W, x=x, b=b, u=u, s=s, gW=gW, gx=gx, gb=gb)


# ---------------------------------------------------------------- pretty / latex

def test_window_gradient_reads_as_the_textbook_definitions(window):
    text = sg.pretty({"∂s/∂W": window["gW"], "∂s/∂x": window["gx"], "∂s/∂b": window["gb"]})
    assert text.splitlines() == [
        "δ = u∘(𝟙 - tanh(W⋅x + b)∘²)",
        "∂s/∂W = δ⋅xᵀ",
        "∂s/∂x = Wᵀ⋅δ",
        "∂s/∂b = δ",
    ]


def test_definitions_are_sympy_objects_that_substitute_back(window):
    lines = sg.definitions({"gW": window["gW"], "gx": window["gx"]})
    (delta_sym, delta), (_, gW), (_, gx) = lines
    assert delta_sym.name == "delta" and gW.has(delta_sym) and gx.has(delta_sym)
    expanded = gW.xreplace({delta_sym: delta})
    assert _canonical(expanded) == _canonical(window["gW"].to_sympy(expand=True))


def _canonical(e):
    """Hadamard factors in a fixed order (construction order may differ)."""
    return e.replace(lambda a: isinstance(a, sympy.HadamardProduct),
                     lambda a: sympy.HadamardProduct(*sorted(a.args, key=sympy.default_sort_key)))


def test_named_node_gets_its_own_line(window):
    W, x, b, u = (window[k] for k in "Wxbu")
    z = W @ x + b
    h = sg.tanh(z)
    s = sg.dot(u, h)
    text = sg.pretty({"s": s, "∂s/∂W": sg.grad(s, W)}, names={z: "z", h: "h"})
    assert text.splitlines() == ["z = W⋅x + b", "h = tanh(z)", "s = u⋅h", "∂s/∂W = (u∘(𝟙 - h∘²))⋅xᵀ"]
    unshared = sg.pretty(sg.grad(s, W), share=False)
    assert "\n" not in unshared and "tanh(W⋅x + b)" in unshared


def test_named_via_attribute_is_a_definition(window):
    W, x, b = (window[k] for k in "Wxb")
    z = W @ x + b
    z.name = "z"
    try:
        out = sg.pretty(sg.tanh(z) * 2.0)
    finally:
        z.name = None
    first, second = out.splitlines()
    assert first == "z = W⋅x + b" and re.fullmatch(r"2(\.0)?⋅tanh\(z\)", second), out


def test_latex_of_window_gradients(window):
    tex = sg.latex({"∂s/∂W": window["gW"], "∂s/∂x": window["gx"]})
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    for piece in [r"\delta &= ", r"\frac{\partial s}{\partial W} &= \delta x^{T}",
                  r"\frac{\partial s}{\partial x} &= W^{T} \delta", r"\tanh{\left(W x + b \right)}",
                  r"\circ", "^{\\circ {2}}"]:
        assert piece in tex, (piece, tex)


def test_latex_of_a_scalar_formula_parses_back():
    x, y = sg.scalar("x"), sg.scalar("y")
    # y**2 cos(x): written as y^{2} \cos{...}, which the parser reads unambiguously
    # (it reads "\cos{(x)} e^{y}" as cos(x e^y))
    g = sg.grad(sg.sin(x) * y ** 2, x)
    tex = sg.latex(g)
    assert r"\cos{\left(x \right)}" in tex and "y^{2}" in tex
    parse = pytest.importorskip("sympy.parsing.latex").parse_latex
    try:
        back = parse(tex)
    except ImportError as e:  # parse_latex needs antlr4
        pytest.skip(f"sympy's LaTeX parser is unavailable: {e}")
    X, Y = sympy.symbols("x y")
    assert sympy.simplify(back - sympy.cos(X) * Y ** 2) == 0


def test_repr_latex_for_jupyter(window):
    out = window["gW"]._repr_latex_()
    assert out.startswith("$\\displaystyle ") and out.endswith("$")
    assert "x^{T}" in out and r"\tanh" in out
    assert sg.scalar("x")._repr_latex_() == "$\\displaystyle x$"


def test_indexed_forms_print_too():
    E, idx = sg.matrix("E", 10, 3), sg.vector("idx", 4, dtype="int64")
    s = (sg.tanh(E[idx]) ** 2).sum()
    text = sg.pretty(sg.grad(s, E))
    assert "↦" in text and "idx[" in text and "E[" in text
    assert r"\sum" in sg.latex(sg.grad(s, E))


# ---------------------------------------------------------------- debugprint

def test_debugprint_prints_a_shared_node_once():
    x = sg.vector("x", 3, dtype="float32")
    h = sg.tanh(x)
    out = sg.debugprint(h * h + sg.exp(h))
    lines = out.splitlines()
    full = [line for line in lines if "tanh: t0 ↦ tanh(t0)" in line]
    assert len(full) == 1 and "float32 (3,)" in full[0]
    (hid,) = re.findall(r"#([A-Z]+)$", full[0])
    assert sum(line.strip().endswith(f"↑ #{hid} tanh") for line in lines) == 1
    assert len([line for line in lines if "input x" in line]) == 1
    assert lines[0].startswith("add: ") and lines[0].endswith("#A")


def test_debugprint_grows_with_the_graph_not_the_tree():
    x = sg.scalar("x")
    e = x
    for _ in range(40):  # a tree of 2**40 leaves, a graph of 80 nodes
        e = e * e + e
    lines = sg.debugprint(e).splitlines()
    assert len(lines) <= 3 * 81
    deep = sg.scalar("y")
    for k in range(3000):  # no recursion limit
        deep = sg.sin(deep) if k % 2 else sg.cos(deep)
    assert len(sg.debugprint(deep).splitlines()) == 3001


def test_debugprint_shows_op_details_and_names():
    A = sg.matrix("A", "batch", 4)
    out = sg.debugprint([A.T.sum(axis=0), A.max(axis=1)])
    assert "einsum 'ab->b'" in out and "transpose (1, 0)" in out and "max kind='max' axes=(1,)" in out
    assert "float64 (batch, 4)" in out and "float64 (batch,)" in out


# ---------------------------------------------------------------- graphviz

@pytest.fixture(scope="module")
def lecture():
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    q = x + y
    m = sg.maximum(y, z)
    f = q * m
    grads = sg.grad(f, [x, y, z, q, m])
    run = sg.function([x, y, z], [q, m, f] + grads, backend="numpy")
    qv, mv, fv, *gv = run(1.5, 2.25, -0.75)
    values = {"x": 1.5, "y": 2.25, "z": -0.75, q: qv, m: mv, f: fv}
    gradients = dict(zip([x, y, z, q, m], gv))
    gradients[f] = 1.0
    return dict(x=x, y=y, z=z, q=q, m=m, f=f, values=values, grads=gradients)


def test_graphviz_source_has_every_input_and_op(lecture):
    g = sg.graphviz(lecture["f"])
    assert isinstance(g, graphviz.Digraph)
    for name in ("x", "y", "z"):
        assert re.search(rf"\[label={name} shape=ellipse\]", g.source), name
    assert "label=add shape=box" in g.source and "label=maximum shape=box" in g.source
    assert "label=mul shape=box" in g.source
    assert g.source.count("->") == 7  # x,y->add; y,z->max; add,max->mul; mul->output


def test_graphviz_edges_carry_values_and_gradients(lecture):
    g = sg.graphviz(lecture["f"], values=lecture["values"], grads=lecture["grads"])
    # forward: q = 3.75, max = 2.25, f = 8.4375; backward: df/dx = 2.25, df/dy = 6, df/dz = 0
    for number in ("3.75", "2.25", "8.438", "-0.75"):
        assert f'darkgreen">{number}<' in g.source, number
    for number in ("6", "0", "2.25", "3.75"):
        assert f'red">{number}<' in g.source, number


def test_graphviz_array_values_are_summarised():
    v = sg.vector("v", 50)
    g = sg.graphviz(sg.exp(v).sum(), values={"v": np.arange(50.0)})
    assert "..." in g.source and "49" in g.source


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz dot program is not installed")
def test_graphviz_renders_svg(lecture):
    svg = sg.graphviz(lecture["f"], values=lecture["values"]).pipe(format="svg").decode()
    assert "<svg" in svg and ">x<" in svg and ">3.75<" in svg


def test_missing_dot_gives_install_instructions(lecture, monkeypatch, tmp_path):
    g = sg.graphviz(lecture["f"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        g.pipe(format="svg")
    with pytest.raises(graphviz.ExecutableNotFound, match="brew install graphviz"):
        g.render(tmp_path / "graph", format="png")
    assert "digraph" in g.source  # everything but drawing still works


def test_missing_python_package_is_explained(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "graphviz", None)
    graphviz_view._digraph_class.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install graphviz"):
            sg.graphviz(sg.scalar("x") * 2)
    finally:
        graphviz_view._digraph_class.cache_clear()


# ---------------------------------------------------------------- local gradients

def test_local_gradient_of_the_lecture_add_node(lecture):
    x, y, z, q, f = (lecture[k] for k in "xyzqf")
    lg = sg.local_gradient(f, q, values={"x": -2.0, "y": 5.0, "z": -4.0}, names={f: "f", q: "q"})
    assert float(lg.numbers["value"]) == 3.0  # q = x + y
    assert float(lg.numbers["upstream"]) == 3.0 * 0 + 5.0  # df/dq = max(y, z) = 5
    assert [float(v) for v in lg.numbers["local"]] == [1.0, 1.0]
    assert [float(v) for v in lg.numbers["downstream"]] == [5.0, 5.0]
    text = str(lg)
    assert "upstream    ∂f/∂q" in text and "downstream  ∂f/∂x = upstream × local = ∂f/∂q" in text


def test_local_gradient_of_tanh_is_derived_by_sympy():
    W, v = sg.matrix("W", 3, 2), sg.vector("v", 2)
    u = sg.vector("u", 3)
    z = W @ v
    h = sg.tanh(z)
    s = sg.dot(u, h)
    rng = np.random.default_rng(5)
    vals = {"W": rng.normal(size=(3, 2)), "v": rng.normal(size=2), "u": rng.normal(size=3)}
    lg = sg.local_gradient(s, h, values=vals, names={h: "h", z: "z", s: "s"})
    H, Zs = sympy.symbols("h z", real=True)
    (local,) = lg.local
    # tanh' written in terms of the output, equal to SymPy's own derivative
    assert sympy.simplify(local.subs(H, sympy.tanh(Zs)) - sympy.diff(sympy.tanh(Zs), Zs)) == 0
    hv = np.tanh(vals["W"] @ vals["v"])
    np.testing.assert_allclose(lg.numbers["upstream"], vals["u"])
    np.testing.assert_allclose(lg.numbers["local"][0], 1 - hv ** 2)
    np.testing.assert_allclose(lg.numbers["downstream"][0], vals["u"] * (1 - hv ** 2))
    assert "∂s/∂z = upstream × local = ∂s/∂h∘(𝟙 - h∘²)" in str(lg)


def test_local_gradient_of_a_matrix_product():
    W, v, u = sg.matrix("W", 3, 2), sg.vector("v", 2), sg.vector("u", 3)
    z = W @ v
    s = sg.dot(u, sg.sin(z))
    rng = np.random.default_rng(6)
    vals = {"W": rng.normal(size=(3, 2)), "v": rng.normal(size=2), "u": rng.normal(size=3)}
    lg = sg.local_gradient(s, z, values=vals, names={z: "z", s: "s"})
    up = vals["u"] * np.cos(vals["W"] @ vals["v"])
    np.testing.assert_allclose(lg.numbers["downstream"][0], np.outer(up, vals["v"]))
    np.testing.assert_allclose(lg.numbers["downstream"][1], vals["W"].T @ up)
    text = str(lg)
    assert "∂z[i]/∂W[i, j] = v[j]" in text and "∂s/∂W = upstream × local = ∂s/∂z⋅vᵀ" in text
    assert "∂s/∂v = upstream × local = Wᵀ⋅∂s/∂z" in text


def test_local_gradient_errors():
    x, y = sg.scalar("x"), sg.scalar("y")
    with pytest.raises(ValueError, match="does not depend"):
        sg.local_gradient(x * 2, sg.sin(y))
