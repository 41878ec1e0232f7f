"""Every public function of ``sg`` and ``sg.nn`` has a docstring with a runnable
example (the doctests themselves run under ``--doctest-modules``), and the
names API.md fixes for this round exist."""
import inspect

import pytest

import symgrad as sg


def _public(module):
    names = getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")])
    return [(f"{module.__name__}.{n}", getattr(module, n)) for n in names
            if callable(getattr(module, n)) and not inspect.isclass(getattr(module, n))]


@pytest.mark.parametrize("name,fn", _public(sg) + _public(sg.nn), ids=lambda p: p if isinstance(p, str) else "")
def test_public_function_has_a_docstring_with_an_example(name, fn):
    assert fn.__doc__ and ">>>" in fn.__doc__, f"{name} has no docstring example"


@pytest.mark.parametrize("name", ["eq", "neq", "equal", "not_equal", "cumsum", "var", "argmax", "pad",
                                  "jvp", "hvp"])
def test_names_of_the_second_round_exist(name):
    assert callable(getattr(sg, name))


@pytest.mark.parametrize("name", ["layer_norm", "binary_cross_entropy_with_logits", "dropout",
                                  "softmax_cross_entropy"])
def test_nn_names_of_the_second_round_exist(name):
    assert callable(getattr(sg.nn, name))
