"""Names live on the object the user holds (issue 12, part 5).

Nodes built alike are equal (``==`` and ``hash`` by structure, so dicts and
sets keyed by nodes still merge common subexpressions) but they are distinct
objects: naming one never renames another, and a graph shows the names of
the objects it was built from.
"""
import gc
import threading

import numpy as np
import pytest

import symgrad as sg
from symgrad import graph
from symgrad.graph import toposort


@pytest.fixture
def xy():
    return sg.vector("x", 3), sg.vector("y", 3)


# ------------------------------------------------------------------ the a/b case

def test_naming_a_node_does_not_rename_an_equal_node(xy):
    x, y = xy
    a = x + y
    a.name = "a"
    b = x + y
    b.name = "b"
    assert (a.name, b.name) == ("a", "b")
    assert a is not b
    assert a == b and hash(a) == hash(b)
    c = x + y                       # built again: equal, and still unnamed
    assert c == a and c._name is None and c.name != "a" and c.name != "b"
    b.name = None
    assert a.name == "a"


def test_equal_nodes_merge_as_dict_keys_and_set_members(xy):
    x, y = xy
    a, b = x + y, x + y
    a.name, b.name = "a", "b"
    assert {a: 1}[b] == 1
    assert len({a, b, x + y, x, y}) == 3
    assert sg.exp(a) == sg.exp(b) and sg.exp(a) != sg.sin(a)
    # an elementwise op merges repeated arguments by structure: a * b is a**2, one input
    square = a * b
    assert len(square.inputs) == 1 and square.inputs[0] is a


def test_equality_is_a_plain_bool_never_elementwise(xy):
    x, y = xy
    for left, right, want in [(x + y, x + y, True), (x + y, y + x, False), (x, y, False),
                              (x, x, True)]:
        assert (left == right) is want and (left != right) is (not want)
    for other in (2, 2.0, None, "x", np.zeros(3), np.float64(0.0), [x]):
        assert (x == other) is False and (x != other) is True
    with pytest.raises(TypeError, match="truth value"):
        bool(x + y)


def test_inputs_are_the_objects_passed_to_the_builder(xy):
    x, y = xy
    a = x + y
    a.name = "a"
    b = x + y
    b.name = "b"
    ea, eb = sg.exp(a), sg.exp(b)
    assert ea == eb and ea is not eb
    assert ea.inputs[0] is a and eb.inputs[0] is b
    assert ea.name == "exp(a)" and eb.name == "exp(b)"


def test_nodes_stay_immutable_but_for_their_name(xy):
    x, y = xy
    a = x + y
    for attr, value in [("op", x.op), ("inputs", ()), ("shape", (4,)), ("dtype", "int64"),
                        ("_key", x._key), ("_serial", 0)]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(a, attr, value)
    a.name = 7
    assert a.name == "7"
    assert a == x + y  # a name is no part of the structure


def test_toposort_gives_one_node_per_structure_the_first_met(xy):
    x, y = xy
    a, b = x + y, x + y
    a.name, b.name = "a", "b"
    out = sg.exp(a) + sg.sin(b)
    order = toposort([out])
    assert len(order) == 6  # x, y, x + y once, exp, sin, the sum
    assert sum(n == a for n in order) == 1
    (shared,) = [n for n in order if n == a]
    assert shared is a      # exp(a) is the first input of the sum: met first


# ------------------------------------------------------------------ printed names

def test_pretty_shows_the_name_of_the_object_each_graph_was_built_from(xy):
    x, y = xy
    a = x + y
    a.name = "a"
    b = x + y
    b.name = "b"
    assert sg.pretty(sg.exp(a)).splitlines() == ["a = x + y", "exp(a)"]
    assert sg.pretty(sg.sin(b)).splitlines() == ["b = x + y", "sin(b)"]
    assert sg.pretty(sg.exp(x + y)) == "exp(x + y)"  # built again, unnamed: no definition


def test_a_name_given_in_one_model_does_not_leak_into_an_equal_graph_built_elsewhere():
    W, v, c, u = sg.matrix("W", 2, 3), sg.vector("v", 3), sg.vector("c", 2), sg.vector("u", 2)
    h = sg.tanh(W @ v + c)
    h.name = "h"
    named = sg.pretty(sg.dot(u, h))
    other = sg.tanh(W @ v + c)       # the same structure, built by other code
    unnamed = sg.pretty(sg.dot(u, other))
    assert named.splitlines() == ["h = tanh(W⋅v + c)", "u⋅h"]
    assert unnamed == "u⋅tanh(W⋅v + c)"
    assert sg.dot(u, h) == sg.dot(u, other)


def test_debugprint_names_each_object_where_the_graph_meets_it(xy):
    x, y = xy
    a = x + y
    a.name = "a"
    b = x + y
    b.name = "b"
    lines = sg.debugprint([sg.exp(a), sg.sin(b)]).splitlines()
    assert lines[1].strip("└─ ").startswith("a = add")
    shared_id = lines[1].rsplit("#", 1)[1]
    assert lines[-1].endswith(f"↑ #{shared_id} b")  # b is shown as the node printed as a
    assert not any(line.lstrip("└├─│ ").startswith("b = ") for line in lines)
    assert "a = " not in sg.debugprint(sg.sin(b)) and "b = add" in sg.debugprint(sg.sin(b))


def test_gradient_printing_uses_the_callers_names():
    W, v, c, u = sg.matrix("W", 2, 3), sg.vector("v", 3), sg.vector("c", 2), sg.vector("u", 2)
    h1 = sg.tanh(W @ v + c)
    h1.name = "hidden"
    h2 = sg.tanh(W @ v + c)
    h2.name = "other"
    s1, s2 = sg.dot(u, h1), sg.dot(u, h2)
    g1, g2 = sg.grad(s1, W), sg.grad(s2, W)
    assert g1 == g2
    p1, p2 = sg.pretty(g1), sg.pretty(g2)
    assert p1.splitlines()[0] == "hidden = tanh(W⋅v + c)" and "other" not in p1
    assert p2.splitlines()[0] == "other = tanh(W⋅v + c)" and "hidden" not in p2
    assert p1.replace("hidden", "h") == p2.replace("other", "h")


# ------------------------------------------------------------------ values and merging

def test_equal_subgraphs_built_twice_are_computed_once_and_differentiate_right(xy):
    rng = np.random.default_rng(12)
    x, y = xy
    first = sg.exp(x * y)
    first.name = "first"
    second = sg.exp(x * y)
    second.name = "second"
    cost = (first * sg.sin(second)).sum()
    assert sum(n == first for n in toposort([cost])) == 1
    xv, yv = rng.normal(size=3), rng.normal(size=3)
    gx = sg.grad(cost, x).eval({x: xv, y: yv})
    e = np.exp(xv * yv)
    np.testing.assert_allclose(gx, yv * e * (np.sin(e) + e * np.cos(e)), rtol=1e-12)
    f = sg.function([x, y], [cost, sg.grad(cost, y)], backend="numpy")
    value, gy = f(xv, yv)
    np.testing.assert_allclose(value, (e * np.sin(e)).sum(), rtol=1e-12)
    np.testing.assert_allclose(gy, xv * e * (np.sin(e) + e * np.cos(e)), rtol=1e-12)


def test_structures_are_freed_with_their_nodes():
    gc.collect()
    before = len(graph._structures)
    z = sg.vector("z_freed", 4)
    chain = z
    for _ in range(200):
        chain = sg.tanh(chain) * 0.5
    assert len(graph._structures) >= before + 400
    del z, chain
    gc.collect()
    assert len(graph._structures) <= before + 5  # what caches elsewhere may still hold


def test_threads_building_one_structure_get_equal_nodes():
    x = sg.vector("x_threads", 3)
    built, start = [], threading.Barrier(8)

    def build():
        start.wait()
        built.append([sg.exp(x * k) for k in range(1, 60)])

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = built[0]
    for other in built[1:]:
        assert other == first
        assert all(a is not b for a, b in zip(other, first))


def test_a_deep_chain_builds_and_sorts_without_recursion():
    x = sg.scalar("x_deep")
    y = x
    for _ in range(5000):
        y = sg.sin(y)
    assert len(toposort([y])) == 5001
    assert y == y and hash(y) == hash(y)
