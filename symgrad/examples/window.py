"""The lecture's word-window classifier: is the centre word of a 5-word window
a person, a place, or neither?

    x = [e(w-2); e(w-1); e(w); e(w+1); e(w+2)]     5 word vectors from E, concatenated
    h = tanh(x W + b)                              a hidden layer
    scores = h U + c,  cost = softmax cross-entropy against the centre word's tag

Trained on the templated corpus of :mod:`symgrad.examples.corpus`, starting
from "pretrained" word vectors, with the embeddings either frozen or
fine-tuned. The pretrained vectors are synthetic stand-ins for word2vec/GloVe
(nothing is downloaded): person names lie near one direction, places near
another, words that are both in between, everything else at random. Fine-tuning
moves the vectors of the words seen in training and leaves the unseen ones
where they were (the lecture's "TV / telly / television" effect).

``python -m symgrad.examples.window`` prints the comparison.
"""
import time

import numpy as np

import symgrad as sg

from .corpus import BOTH, PEOPLE, PLACES, TAGS, UNSEEN, build_corpus, vocabulary

WINDOW = 5


def windows(sentences, word_index):
    """(idx, labels): one row of 5 word indices per token (padded with
    ``<pad>``), labelled with the centre token's tag.

    >>> idx, labels = windows([(["anna", "flew", "home"], ["PER", "O", "O"])],
    ...                       {"<pad>": 0, "anna": 1, "flew": 2, "home": 3})
    >>> idx
    array([[0, 0, 1, 2, 3],
           [0, 1, 2, 3, 0],
           [1, 2, 3, 0, 0]])
    >>> labels
    array([1, 0, 0])
    """
    half = WINDOW // 2
    rows, labels = [], []
    for tokens, tags in sentences:
        ids = [0] * half + [word_index[w] for w in tokens] + [0] * half
        for i, tag in enumerate(tags):
            rows.append(ids[i:i + WINDOW])
            labels.append(TAGS.index(tag))
    return np.array(rows, dtype=np.int64), np.array(labels, dtype=np.int64)


def pretrained_vectors(words, dim=50, noise=4.0, seed=0):
    """Synthetic pretrained vectors: person names near one unit direction,
    places near another, names that are both halfway, other words random
    (each vector also gets Gaussian noise of expected norm ``noise``).

    >>> E = pretrained_vectors(["<pad>", "kyoto", "lisbon", "anna"], dim=50, noise=0.5)
    >>> cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    >>> bool(cos(E[1], E[2]) > 0.5 > cos(E[1], E[3]))
    True
    """
    rng = np.random.default_rng(seed)
    person, place = np.linalg.qr(rng.normal(size=(dim, 2)))[0].T
    people, places = set(PEOPLE + UNSEEN["PER"]), set(PLACES + UNSEEN["LOC"])
    E = rng.normal(scale=noise / np.sqrt(dim), size=(len(words), dim))
    for i, w in enumerate(words):
        if w in BOTH:
            E[i] += 0.5 * (person + place)
        elif w in people:
            E[i] += person
        elif w in places:
            E[i] += place
    return E


def build_model(vocab_size, dim, hidden):
    """The symbolic model: returns a dict of its variables, ``logits`` and ``cost``.

    >>> m = build_model(vocab_size=100, dim=8, hidden=16)
    >>> m["logits"].shape, m["cost"].shape
    ((batch, 3), ())
    """
    idx = sg.matrix("idx", "batch", WINDOW, dtype="int64")
    y = sg.vector("y", "batch", dtype="int64")
    E = sg.matrix("E", vocab_size, dim)
    W, b = sg.matrix("W", WINDOW * dim, hidden), sg.vector("b", hidden)
    U, c = sg.matrix("U", hidden, len(TAGS)), sg.vector("c", len(TAGS))
    x = E[idx].reshape(("batch", WINDOW * dim))
    h = sg.tanh(x @ W + b)
    logits = h @ U + c
    return dict(idx=idx, y=y, E=E, W=W, b=b, U=U, c=c, logits=logits,
                cost=sg.nn.softmax_cross_entropy(logits, y))


def train_window_classifier(freeze_embeddings=False, epochs=8, dim=50, hidden=100,
                            batch_size=64, optimizer=None, noise=4.0, seed=0,
                            backend="numba", progress=False):
    """Train the window classifier and report; the default optimiser is
    SparseAdam, which updates only the embedding rows of each batch's words.

    Returns a dict: ``accuracy`` on the test windows, ``unseen_accuracy`` on
    the windows centred on words never seen in training, ``unseen_place_prob``
    (mean probability of LOC for the unseen places), ``moved_seen`` /
    ``moved_unseen`` (mean distance the vectors of seen / unseen names moved),
    ``place_distance`` (mean distance of the unseen places to the centre of the
    seen places, before and after), ``seconds`` (training, with the test
    evaluation after each epoch), ``seconds_per_step``, ``history``, and the ``words`` with their vectors before (``E0``) and after
    (``E``).

    >>> r = train_window_classifier(epochs=1, dim=10, hidden=20)
    >>> r["accuracy"] > 0.8, r["moved_unseen"]
    (True, 0.0)
    """
    corpus = build_corpus(seed=seed)
    words = vocabulary(corpus)
    word_index = {w: i for i, w in enumerate(words)}
    data = {part: windows(corpus[part], word_index) for part in corpus}
    rng = np.random.default_rng(seed)
    m = build_model(len(words), dim, hidden)
    E0 = pretrained_vectors(words, dim, noise=noise, seed=seed)
    params = {m["E"]: E0.copy(),
              m["W"]: sg.nn.init.xavier_uniform((WINDOW * dim, hidden), rng),
              m["b"]: sg.nn.init.zeros(hidden),
              m["U"]: sg.nn.init.xavier_uniform((hidden, len(TAGS)), rng),
              m["c"]: sg.nn.init.softmax_bias(data["train"][1], len(TAGS))}
    predict = sg.function([m["idx"], m["E"], m["W"], m["b"], m["U"], m["c"]],
                          sg.softmax(m["logits"]), backend=backend)

    def probabilities(idx):
        return predict(idx, *(params[m[k]] for k in "EWbUc"))

    def accuracy(idx, labels):
        return float((probabilities(idx).argmax(axis=1) == labels).mean())

    optimizer = sg.optim.SparseAdam(lr=0.01) if optimizer is None else optimizer
    trainer = sg.Trainer(m["cost"], params, optimizer,
                         frozen=[m["E"]] if freeze_embeddings else [], backend=backend)
    predict.wait_compiled()  # compile before the timer: the first epoch is not charged with it
    trainer.function.wait_compiled()
    start = time.perf_counter()
    history = trainer.fit({m["idx"]: data["train"][0], m["y"]: data["train"][1]},
                          epochs=epochs, batch_size=batch_size, rng=rng, progress=progress,
                          validate=lambda p: accuracy(*data["test"]))
    seconds = time.perf_counter() - start

    E = params[m["E"]]
    unseen = [word_index[w] for w in UNSEEN["PER"] + UNSEEN["LOC"]]
    seen = [word_index[w] for w in PEOPLE + PLACES]
    unseen_places = [word_index[w] for w in UNSEEN["LOC"]]
    seen_places = [word_index[w] for w in PLACES]
    idx_u, labels_u = data["unseen"]
    centred = np.isin(idx_u[:, WINDOW // 2], unseen)
    on_places = np.isin(idx_u[:, WINDOW // 2], unseen_places)

    def place_distance(E):
        return float(np.linalg.norm(E[unseen_places] - E[seen_places].mean(axis=0), axis=1).mean())

    return {
        "freeze_embeddings": freeze_embeddings,
        "accuracy": accuracy(*data["test"]),
        "unseen_accuracy": accuracy(idx_u[centred], labels_u[centred]),
        "unseen_place_prob": float(probabilities(idx_u[on_places])[:, TAGS.index("LOC")].mean()),
        "moved_seen": float(np.linalg.norm(E[seen] - E0[seen], axis=1).mean()),
        "moved_unseen": float(np.linalg.norm(E[unseen] - E0[unseen], axis=1).mean()),
        "place_distance": (place_distance(E0), place_distance(E)),
        "train_tokens": int(len(data["train"][1])),
        "seconds": seconds,
        "seconds_per_step": seconds / trainer.steps,
        "history": history,
        "words": words, "E0": E0, "E": E,
    }


def main(epochs=8):
    """Train with frozen and with fine-tuned embeddings and print the comparison.

    >>> main(epochs=1)   # doctest: +ELLIPSIS
    window classifier (window 5, tags O, PER, LOC); unseen words: greta, tariq, kyoto, ...
    <BLANKLINE>
    frozen embeddings: 3402 training tokens, ...
      vectors moved: seen names 0.000, unseen words 0.000; ...
    <BLANKLINE>
    fine-tuned embeddings: 3402 training tokens, ...
      vectors moved: seen names 0..., unseen words 0.000; ...
    """
    print(f"window classifier (window {WINDOW}, tags {', '.join(TAGS)}); unseen words: "
          f"{', '.join(UNSEEN['PER'] + UNSEEN['LOC'])}")
    for freeze in (True, False):
        r = train_window_classifier(freeze_embeddings=freeze, epochs=epochs)
        before, after = r["place_distance"]
        print(f"\n{'frozen' if freeze else 'fine-tuned'} embeddings: "
              f"{r['train_tokens']} training tokens, {r['seconds']:.1f} s "
              f"({1e3 * r['seconds_per_step']:.1f} ms per step)")
        print(f"  test accuracy {r['accuracy']:.3f}; on unseen words {r['unseen_accuracy']:.3f}"
              f" (P(LOC) for unseen places {r['unseen_place_prob']:.3f})")
        print(f"  vectors moved: seen names {r['moved_seen']:.3f}, unseen words "
              f"{r['moved_unseen']:.3f}; distance of unseen places to the seen places' centre "
              f"{before:.3f} -> {after:.3f}")


if __name__ == "__main__":
    main()
