"""Worked examples, importable by the demo and the notebooks:

- :mod:`symgrad.examples.window`: the lecture's word-window classifier on a
  templated corpus (:mod:`symgrad.examples.corpus`), with frozen or fine-tuned
  word vectors;
- :mod:`symgrad.examples.digits`: an MLP on scikit-learn's bundled digits,
  SGD against Adam.

Each runs as ``python -m symgrad.examples.<name>``.
"""
