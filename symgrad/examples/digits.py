"""An MLP on scikit-learn's bundled 8x8 digits (1797 images, no download),
trained with SGD (momentum) and with Adam:

    h = relu(X W1 + b1),  logits = h W2 + b2,  cost = softmax cross-entropy

``python -m symgrad.examples.digits`` prints test accuracy and training time
for both optimisers. The data come with scikit-learn: ``pip install
"symgrad[examples]"``.
"""
import time

import numpy as np

import symgrad as sg


def load_data(test_size=0.25, seed=0):
    """(X_train, y_train, X_test, y_test): pixels scaled to [0, 1], a stratified split.

    >>> X_train, y_train, X_test, y_test = load_data()
    >>> X_train.shape, X_test.shape, float(X_train.max())
    ((1347, 64), (450, 64), 1.0)
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise ImportError("the digits example loads scikit-learn's bundled digits: "
                          "pip install \"symgrad[examples]\" (or scikit-learn)") from e
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y.astype(np.int64), test_size=test_size, stratify=y, random_state=seed)
    return X_train, y_train, X_test, y_test


def build_mlp(n_in=64, hidden=64, n_classes=10):
    """The symbolic MLP: returns a dict of its variables, ``logits`` and ``cost``.

    >>> build_mlp()["logits"].shape
    (batch, 10)
    """
    X = sg.matrix("X", "batch", n_in)
    y = sg.vector("y", "batch", dtype="int64")
    W1, b1 = sg.matrix("W1", n_in, hidden), sg.vector("b1", hidden)
    W2, b2 = sg.matrix("W2", hidden, n_classes), sg.vector("b2", n_classes)
    logits = sg.relu(X @ W1 + b1) @ W2 + b2
    return dict(X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2, logits=logits,
                cost=sg.nn.softmax_cross_entropy(logits, y))


OPTIMIZERS = {
    "sgd": lambda: sg.optim.SGD(lr=0.1, momentum=0.9),
    "adam": lambda: sg.optim.Adam(lr=0.003),
}


def train_mlp(optimizer="adam", epochs=20, hidden=64, batch_size=32, seed=0,
              backend="numba", progress=False):
    """Train the MLP with ``optimizer`` ("sgd", "adam", or an optimiser object).

    Returns a dict with ``train_accuracy``, ``test_accuracy``, ``seconds``
    (training only), ``seconds_per_step``, ``history`` (its ``validation`` is
    the test accuracy per epoch) and the trained ``params`` by name.

    >>> r = train_mlp("adam", epochs=2)
    >>> r["test_accuracy"] > 0.85
    True
    """
    X_train, y_train, X_test, y_test = load_data(seed=seed)
    rng = np.random.default_rng(seed)
    m = build_mlp(X_train.shape[1], hidden, 10)
    params = {m["W1"]: sg.nn.init.he_normal((X_train.shape[1], hidden), rng),
              m["b1"]: sg.nn.init.zeros(hidden),
              m["W2"]: sg.nn.init.xavier_uniform((hidden, 10), rng),
              m["b2"]: sg.nn.init.softmax_bias(y_train, 10)}
    logits = sg.function([m["X"], m["W1"], m["b1"], m["W2"], m["b2"]], m["logits"],
                         backend=backend)

    def accuracy(X, y):
        return float((logits(X, *(params[m[k]] for k in ("W1", "b1", "W2", "b2")))
                      .argmax(axis=1) == y).mean())

    opt = OPTIMIZERS[optimizer]() if isinstance(optimizer, str) else optimizer
    trainer = sg.Trainer(m["cost"], params, opt, backend=backend)
    logits.wait_compiled()  # compile before the timer: "seconds" is training only
    trainer.function.wait_compiled()
    start = time.perf_counter()
    history = trainer.fit({m["X"]: X_train, m["y"]: y_train}, epochs=epochs,
                          batch_size=batch_size, rng=rng, progress=progress,
                          validate=lambda p: accuracy(X_test, y_test))
    seconds = time.perf_counter() - start
    return {"optimizer": repr(opt), "train_accuracy": accuracy(X_train, y_train),
            "test_accuracy": accuracy(X_test, y_test), "seconds": seconds,
            "seconds_per_step": seconds / trainer.steps, "history": history,
            "params": {var.name: value for var, value in params.items()}}


def main(epochs=20):
    """Train with SGD and with Adam and print the comparison.

    >>> main(epochs=1)   # doctest: +ELLIPSIS
    SGD(lr=0.1, ...): test accuracy 0.9... in ... s; ...
    Adam(lr=0.003, ...): test accuracy ... in ... s; ...
    """
    for name in OPTIMIZERS:
        r = train_mlp(name, epochs=epochs)
        curve = " ".join(f"{a:.3f}" for a in r["history"]["validation"][::4])
        print(f"{r['optimizer']}: test accuracy {r['test_accuracy']:.3f} (train "
              f"{r['train_accuracy']:.3f}) in {r['seconds']:.1f} s; test accuracy every "
              f"4th epoch: {curve}")


if __name__ == "__main__":
    main()
