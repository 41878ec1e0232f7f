"""A small labelled corpus for the word-window classifier, built from templates
and name/place lists (no download): every token is tagged O, PER or LOC.

A few names are both people and places (jordan, georgia, florence, ...), so
only the context tells them apart. A few words (the "unseen" ones) never occur
in the training sentences: they appear only in their own test sentences, to
show what fine-tuning word vectors does to words it never sees.
"""
import numpy as np

TAGS = ("O", "PER", "LOC")

PEOPLE = ("anna", "james", "maria", "david", "sofia", "omar", "chen", "fatima", "peter",
          "laura", "ivan", "emma", "lucas", "amara", "kenji", "olga", "pablo", "nina", "tom",
          "priya", "hassan", "elena", "marco", "yuki")
PLACES = ("london", "paris", "berlin", "madrid", "rome", "tokyo", "cairo", "lagos", "lima",
          "oslo", "vienna", "prague", "dublin", "delhi", "seoul", "boston", "perth",
          "toronto", "nairobi", "athens", "munich", "havana", "manila", "denver", "hanoi")
BOTH = ("jordan", "georgia", "florence", "victoria", "chelsea", "sydney")
UNSEEN = {"PER": ("greta", "tariq"), "LOC": ("kyoto", "lisbon", "quito")}

# {P}: a person, {L}: a place, {X}: either (only the word itself tells which);
# every other word is tagged O.
TEMPLATES = (
    "i really like {X}",
    "{X} is wonderful",
    "what do you think of {X}",
    "everyone talks about {X}",
    "{X} was in the news",
    "we all miss {X}",
    "{P} flew to {L} last week",
    "the museums in {L} are amazing",
    "{P} and {P} met in {L}",
    "we drove from {L} to {L} on sunday",
    "{P} said the weather in {L} was cold",
    "i visited {L} with {P} in may",
    "{P} lives near {L}",
    "my friend {P} works in {L}",
    "the train to {L} leaves at noon",
    "{P} bought a new car",
    "have you seen {P} today",
    "{P} thinks {L} is beautiful",
    "the mayor of {L} met {P}",
    "rain is expected in {L} tomorrow",
    "{P} wrote a book about {L}",
    "tourists love {L} in the summer",
    "ask {P} about the meeting",
    "{P} called me from {L}",
    "prices in {L} went up again",
    "{P} is moving to {L} next year",
    "the food in {L} was great",
    "{P} told {P} a story",
    "we watched the game with {P}",
    "the flight from {L} was late",
    "she met {P} at the station",
    "he grew up in {L}",
    "the weather was nice today",
    "we watched a film on the telly",
    "nobody came to the meeting",
    "the shop closes at six",
)


def _fill(template, rng, people, places):
    """Tokens and tags of one sentence from ``template``."""
    tokens, tags = [], []
    for word in template.split():
        if word == "{X}":   # a person or a place that only its own vector identifies
            tag = "PER" if rng.random() < 0.5 else "LOC"
            pool = [w for w in (people if tag == "PER" else places) if w not in BOTH]
        elif word in ("{P}", "{L}"):
            tag = "PER" if word == "{P}" else "LOC"
            pool = people if tag == "PER" else places
        else:
            tag, pool = "O", [word]
        tokens.append(pool[rng.integers(len(pool))])
        tags.append(tag)
    return tokens, tags


def build_corpus(n_train=600, n_test=200, n_unseen=200, seed=0):
    """``{"train", "test", "unseen"}`` -> lists of (tokens, tags) sentences.

    "unseen" sentences contain at least one of the UNSEEN words, which never
    occur in "train" or "test".

    >>> from symgrad.examples.corpus import build_corpus
    >>> corpus = build_corpus(seed=0)
    >>> sum(len(tokens) for tokens, _ in corpus["train"]) > 3000
    True
    >>> corpus["train"][0]
    (['she', 'met', 'priya', 'at', 'the', 'station'], ['O', 'O', 'PER', 'O', 'O', 'O'])
    """
    rng = np.random.default_rng(seed)
    people, places = PEOPLE + BOTH, PLACES + BOTH

    def sentences(n, people, places, keep=lambda tokens: True):
        out = []
        while len(out) < n:
            tokens, tags = _fill(TEMPLATES[rng.integers(len(TEMPLATES))], rng, people, places)
            if keep(tokens):
                out.append((tokens, tags))
        return out

    unseen = set(UNSEEN["PER"] + UNSEEN["LOC"])
    return {
        "train": sentences(n_train, people, places),
        "test": sentences(n_test, people, places),
        "unseen": sentences(n_unseen, people + UNSEEN["PER"], places + UNSEEN["LOC"],
                            keep=lambda tokens: bool(unseen.intersection(tokens))),
    }


def vocabulary(corpus):
    """All words of all sentences, sorted, after the padding token ``<pad>``."""
    words = {w for part in corpus.values() for tokens, _ in part for w in tokens}
    return ["<pad>"] + sorted(words)
