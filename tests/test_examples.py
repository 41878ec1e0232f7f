"""The worked examples: the digits MLP reaches 95% test accuracy with SGD and
Adam; the window classifier learns, and fine-tuning moves only the vectors of
words seen in training."""
import numpy as np
import pytest

from symgrad.examples import corpus as C
from symgrad.examples import digits, window


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_digits_mlp_reaches_95_percent(optimizer):
    pytest.importorskip("sklearn", reason='the digits need scikit-learn: pip install -e ".[examples]"')
    r = digits.train_mlp(optimizer, epochs=20, seed=0)
    # recompute the test accuracy with plain NumPy from the trained parameters
    _, _, X_test, y_test = digits.load_data(seed=0)
    p = r["params"]
    logits = np.maximum(X_test @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    accuracy = float((logits.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.95
    assert abs(accuracy - r["test_accuracy"]) <= 1 / len(y_test)   # at most a near-tie apart
    assert r["history"]["loss"][-1] < 0.25 * r["history"]["loss"][0]


def test_corpus_is_consistent():
    corpus = C.build_corpus(seed=3)
    tokens = sum(len(t) for t, _ in corpus["train"])
    assert tokens > 3000
    unseen = set(C.UNSEEN["PER"] + C.UNSEEN["LOC"])
    for part, sentences in corpus.items():
        for words, tags in sentences:
            assert len(words) == len(tags)
            for w, tag in zip(words, tags):
                if tag == "PER":
                    assert w in C.PEOPLE + C.BOTH + C.UNSEEN["PER"]
                elif tag == "LOC":
                    assert w in C.PLACES + C.BOTH + C.UNSEEN["LOC"]
                else:
                    assert w not in C.PEOPLE + C.PLACES + C.BOTH
            if part != "unseen":
                assert not unseen.intersection(words)
            else:
                assert unseen.intersection(words)
    assert C.build_corpus(seed=3) == corpus


@pytest.fixture(scope="module")
def window_runs():
    return {freeze: window.train_window_classifier(freeze_embeddings=freeze, epochs=4,
                                                   dim=20, hidden=40)
            for freeze in (True, False)}


def test_window_classifier_learns(window_runs):
    for r in window_runs.values():
        assert r["accuracy"] >= 0.95
        assert r["history"]["loss"][-1] < 0.5 * r["history"]["loss"][0]


def test_fine_tuning_moves_seen_words_and_leaves_unseen_behind(window_runs):
    frozen, tuned = window_runs[True], window_runs[False]
    np.testing.assert_array_equal(frozen["E"], frozen["E0"])
    words = tuned["words"]
    train_words = {w for tokens, _ in C.build_corpus(seed=0)["train"] for w in tokens}
    train_words.add("<pad>")                   # pads every sentence's edge windows
    moved = np.linalg.norm(tuned["E"] - tuned["E0"], axis=1)
    for i, w in enumerate(words):
        if w in train_words:
            assert moved[i] > 0, w
        else:
            assert moved[i] == 0.0, w          # e.g. the unseen places: not one bit
    assert tuned["moved_seen"] > 0.1 and tuned["moved_unseen"] == 0.0
