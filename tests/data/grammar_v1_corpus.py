# Test data, not interp code: grammar v1 of the zoo corpus (interp/zoo/corpus.py at commit 0b865e9), frozen here
# so that tests/test_zoo.py regenerates the text the masked model started from without the git history.
"""A seeded generator of the zoo's "toy world" language.

Every sentence is lower-case words separated by single spaces ("." is a word), so a word-level tokenizer maps
each word to exactly one token. Passages mix plain filler with four phenomena whose right answer is known:

- ``left_recall``: facts stated earlier and asked for later ("anna lives in oslo . ... anna lives in ___").
- ``induction``: a full name repeated; the first name alone must recall the surname ("anna berg ... anna ___").
- ``agreement``: subject-verb number agreement across an attractor ("the keys to the cabinet ___" -> are).
- ``right_cloze``: a slot fixed only by the words after it ("the ___ barked at the mailman" -> dog).

Training passages also hold lists said twice ("oslo rome lima . oslo rome lima ."), the plainest material for
the copying (induction) heads that left recall and induction need.

Training passages use the ``train`` templates; :func:`probes` uses the ``eval`` templates and its own seed
stream, so evaluation material is held out: the frames around each slot never occur in training.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

SLOT = "___"
PHENOMENA = ("left_recall", "induction", "agreement", "right_cloze")

NAMES = (
    "anna ben carl dora emil fay greg hana ivan jane karl lena milo nina omar pia quinn rosa sam tara "
    "uma vic wes xena yuri zoe abe bea cole dina eli flo gus ida jon kim leo mae ned ola"
).split()
SURNAMES = (
    "berg lund moss hart reed vale cross fox gray hale kent lowe marsh noble page quill ross stone "
    "thorn vance wade york ash birch clay dale fenn frost glenn hayes"
).split()
CITIES = (
    "oslo rome paris lima cairo delhi tokyo quito dakar hanoi kyiv riga sofia tunis accra bern doha "
    "minsk perth oran"
).split()
COLORS = "red blue green yellow black white brown pink".split()
THINGS = "car ball hat bike coat lamp cup bag".split()
# animal -> the sound only it makes: the right context names the animal.
ANIMAL_SOUNDS = {
    "dog": "barked",
    "cat": "meowed",
    "cow": "mooed",
    "duck": "quacked",
    "lion": "roared",
    "snake": "hissed",
    "bee": "buzzed",
    "sheep": "bleated",
    "frog": "croaked",
    "owl": "hooted",
    "pig": "oinked",
    "wolf": "howled",
    "horse": "neighed",
    "crow": "cawed",
}
ANIMALS = tuple(ANIMAL_SOUNDS)
# singular -> plural; every form is one word.
NOUNS = {
    "key": "keys",
    "book": "books",
    "letter": "letters",
    "painting": "paintings",
    "cabinet": "cabinets",
    "table": "tables",
    "door": "doors",
    "window": "windows",
    "chair": "chairs",
    "bottle": "bottles",
    "picture": "pictures",
    "box": "boxes",
    "shelf": "shelves",
    "garden": "gardens",
    "student": "students",
    "teacher": "teachers",
}
PREPS = "to near of beside under behind with above".split()
VERBS = {"is": "are"}  # one pair, so the number alone fixes the answer
ADJS = "old small big quiet bright dark warm cold".split()
PLACES = "market river park school station library harbor bridge".split()
ACTIONS = "walked ran drove went talked".split()
TIMES = "morning evening night noon".split()

TEMPLATES = {
    "train": {
        "left_recall": {
            "city": ("{n} lives in {v}", "{n} lives in {v}"),
            "thing": ("{n} has a {v} {t}", "{n} has a {v} {t}"),
        },
        "left_recall_lead": ("so", "then", "and"),
        "left_recall_other_lead": ("i think", "later", "at noon"),
        "induction_intro": (
            "{people} met at the {p} .",
            "at the {p} we saw {people} .",
            "{people} walked to the {p} .",
        ),
        "induction_again": (
            "later {a} {sa} went home .",
            "then {a} {sa} sat down .",
            "{a} {sa} smiled .",
            "and {a} {sa} left the {p} .",
            "{a} {sa} was {adj} .",
            "at the {p} {a} {sa} called .",
        ),
        # Second mentions whose surname ends the sentence or meets other words: a masked model reads the right
        # side too, and must not learn that a surname before "." is never a repeat.
        "induction_again_other": (
            "then we saw {a} {sa} .",
            "we talked to {a} {sa} at the {p} .",
            "the {adj} one was {a} {sa} .",
        ),
        "agreement": (
            "the {s} {prep} the {o} {v} on the table .",
            "the {s} {prep} the {o} {v} {adj} today .",
            "i think the {s} {prep} the {o} {v} here .",
        ),
        "right_cloze": (
            "the {x} {y} at the mailman .",
            "in the {time} the {x} {y} .",
            "near the {p} a {x} {y} loudly .",
        ),
        # More frames for the masked model only: other words on both sides of the slot, so that the sound word
        # fixes the animal wherever it stands (never the evaluation's "{y} all" or "{y} twice").
        "right_cloze_other": (
            "the {x} {y} and then sat down .",
            "at {time} a {x} {y} near the {p} .",
            "{n} heard the {x} {y} .",
            "later the {adj} {x} {y} very loudly .",
            "it was {time} and the {x} {y} .",
            "so the {x} {y} , then a {x2} {y2} .",
            "in {c} the {x} {y} at the {p} today .",
            "we saw that a {x} {y} here .",
        ),
    },
    "eval": {
        "left_recall_lead": ("remember that", "we know", "but"),
        "induction": (
            "yesterday {a} {sa} and {b} {sb} talked at the {p} . after that {a} {SLOT} .",
            "{b} {sb} met {a} {sa} . near the {p} {a} {SLOT} .",
        ),
        "agreement": (
            "the {s} {prep} the {o} {v} very {adj} .",
            "we saw that the {s} {prep} the {o} {v} gone .",
        ),
        "right_cloze": (
            "one {time} the {x} {y} all night .",
            "we heard that the {x} {y} twice .",
        ),
    },
}


@dataclass(frozen=True)
class Probe:
    """One evaluation item: ``text`` holds exactly one ``___`` slot whose right word is ``answer``."""

    text: str
    answer: str
    phenomenon: str

    def __getitem__(self, key: str) -> str:
        return getattr(self, key)


def _sentence(template: str, **fields: str) -> list[str]:
    return template.format(**fields).split()


def _filler(rng: random.Random) -> list[str]:
    """Plain sentences so the models learn the language, not just the probes."""
    kind = rng.randrange(8)
    if kind == 0:
        return f"{rng.choice(NAMES)} {rng.choice(ACTIONS)} to the {rng.choice(PLACES)} .".split()
    if kind == 1:
        n = rng.choice(list(NOUNS))
        return f"the {rng.choice(ADJS)} {n} is {rng.choice(PREPS)} the {rng.choice(list(NOUNS))} .".split()
    if kind == 2:
        n = rng.choice(list(NOUNS.values()))
        return f"the {n} are {rng.choice(ADJS)} .".split()
    if kind == 3:
        return f"it was a {rng.choice(ADJS)} {rng.choice(TIMES)} in {rng.choice(CITIES)} .".split()
    if kind == 4:
        a = rng.choice(ANIMALS)
        return f"the {a} {ANIMAL_SOUNDS[a]} near the {rng.choice(PLACES)} .".split()
    if kind == 5:
        return f"{rng.choice(NAMES)} saw a {rng.choice(COLORS)} {rng.choice(THINGS)} .".split()
    # The connective words of the evaluation templates, in frames that never precede a slot.
    if kind == 6:
        lead = rng.choice(
            ("we know that", "remember that", "but", "yesterday", "after that", "one " + rng.choice(TIMES))
        )
        return f"{lead} we went to the {rng.choice(PLACES)} .".split()
    n = rng.choice(list(NOUNS))
    gone = f"the {n} is gone" if rng.random() < 0.5 else f"the {NOUNS[n]} are gone"
    return f"we heard that {gone} , very {rng.choice(ADJS)} , all night twice .".split()


class _World:
    """One passage's facts: each name keeps one surname, one city and one colour for the whole passage.

    Consistent facts mean every repeat or query has exactly one right answer in the context, so only real
    copying (find the earlier mention, read what followed it) lowers the loss; shortcuts such as "copy the
    first surname" do not.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surname: dict[str, str] = {}
        self.city: dict[str, str] = {}
        self.color: dict[str, str] = {}

    def of(self, table: dict[str, str], name: str, pool: tuple[str, ...] | list[str]) -> str:
        if name not in table:
            table[name] = self.rng.choice(pool)
        return table[name]


def _facts(
    rng: random.Random, split: str, world: _World | None = None, lead: str = "left_recall_lead"
) -> tuple[list[str], list[int], str, str]:
    """A block of 2-4 facts and one query about one of them (training blocks may query twice).

    ``lead`` names the templates of the words that open a query.

    Returns (words, slot indices, phenomenon, answer); the last query's answer is the last slot.
    """
    kind = rng.choice(("city", "thing"))
    k = rng.randint(2, 4)
    names = rng.sample(NAMES, k)
    if world is None:
        values = rng.sample(CITIES if kind == "city" else COLORS, k)
    else:
        table, pool = (world.city, CITIES) if kind == "city" else (world.color, COLORS)
        values = [world.of(table, n, pool) for n in names]
    thing = rng.choice(THINGS)
    words: list[str] = []
    slots: list[int] = []
    template = "{n} lives in {v}" if kind == "city" else "{n} has a {v} {t}"
    for n, v in zip(names, values):
        sent = _sentence(template, n=n, v=v, t=thing)
        slots.append(len(words) + sent.index(v))
        words += sent + ["."]
    queries = [rng.randrange(k)] if world is None else rng.sample(range(k), rng.randint(1, 2))
    for q in queries:
        words += rng.choice(TEMPLATES[split][lead]).split()
        sent = _sentence(template, n=names[q], v=values[q], t=thing)
        slots.append(len(words) + sent.index(values[q]))
        words += sent + ["."]
    return words, slots, "left_recall", values[queries[-1]]


def _induction(
    rng: random.Random, world: _World, again: str = "induction_again"
) -> tuple[list[str], list[int]]:
    """2-4 people met by full name, then 1-2 of them, chosen at random, named again: the surname is a copy slot.

    ``again`` names the templates of the second mention."""
    people = rng.sample(NAMES, rng.randint(2, 4))
    full = [f"{n} {world.of(world.surname, n, SURNAMES)}" for n in people]
    listed = " , ".join(full[:-1]) + " and " + full[-1]
    words = _sentence(rng.choice(TEMPLATES["train"]["induction_intro"]), people=listed, p=rng.choice(PLACES))
    slots = []
    for person in rng.sample(people, rng.randint(1, min(2, len(people)))):
        sent = _sentence(
            rng.choice(TEMPLATES["train"][again]),
            a=person,
            sa=world.surname[person],
            adj=rng.choice(ADJS),
            p=rng.choice(PLACES),
        )
        slots.append(len(words) + sent.index(person) + 1)
        words += sent
    return words, slots


def _repeat(rng: random.Random) -> tuple[list[str], list[int]]:
    """A random list of words said twice: the plainest material for induction (every repeated word a slot)."""
    pool = rng.choice((NAMES, SURNAMES, CITIES, COLORS + THINGS + ADJS))
    items = [rng.choice(pool) for _ in range(rng.randint(3, 7))]
    words = items + ["."] + items + ["."]
    return words, [len(items) + 1 + i for i in range(len(items))]


def _agreement(rng: random.Random) -> tuple[list[str], list[int]]:
    s, o = rng.sample(list(NOUNS), 2)
    plural_s, plural_o = rng.random() < 0.5, rng.random() < 0.5
    verb = rng.choice(list(VERBS))
    v = VERBS[verb] if plural_s else verb
    fields = dict(
        s=NOUNS[s] if plural_s else s,
        o=NOUNS[o] if plural_o else o,
        prep=rng.choice(PREPS),
        v=v,
        adj=rng.choice(ADJS),
    )
    words = _sentence(rng.choice(TEMPLATES["train"]["agreement"]), **fields)
    return words, [words.index(v)]


def _cloze(rng: random.Random) -> tuple[list[str], list[int]]:
    x = rng.choice(ANIMALS)
    fields = dict(x=x, y=ANIMAL_SOUNDS[x], time=rng.choice(TIMES), p=rng.choice(PLACES))
    words = _sentence(rng.choice(TEMPLATES["train"]["right_cloze"]), **fields)
    return words, [words.index(x)]


def _varied_cloze(rng: random.Random) -> tuple[list[str], list[int]]:
    """Right-context cloze in other frames (training only): every animal is a slot fixed by its sound."""
    x, x2 = rng.sample(ANIMALS, 2)
    fields = dict(
        x=x,
        y=ANIMAL_SOUNDS[x],
        x2=x2,
        y2=ANIMAL_SOUNDS[x2],
        time=rng.choice(TIMES),
        p=rng.choice(PLACES),
        n=rng.choice(NAMES),
        adj=rng.choice(ADJS),
        c=rng.choice(CITIES),
    )
    words = _sentence(rng.choice(TEMPLATES["train"]["right_cloze_other"]), **fields)
    return words, [i for i, w in enumerate(words) if w in (x, x2)]


def _varied_copy(rng: random.Random, world: _World) -> tuple[list[str], list[int]]:
    """Left recall or induction in other frames (training only; a masked model reads both sides of a slot)."""
    if rng.random() < 0.5:
        return _facts(rng, "train", world, lead="left_recall_other_lead")[:2]
    return _induction(rng, world, again="induction_again_other")


# Training sentences by kind. A mix lays out its shares on [0, 1) in this order; the rest is plain filler.
GENERATORS = {
    "left_recall": lambda rng, world: _facts(rng, "train", world)[:2],
    "induction": _induction,
    "repeat": lambda rng, world: _repeat(rng),
    "agreement": lambda rng, world: _agreement(rng),
    "right_cloze": lambda rng, world: _cloze(rng),
    "varied_copy": _varied_copy,
    "varied_cloze": lambda rng, world: _varied_cloze(rng),
}
MIX = {
    "left_recall": 0.30,
    "induction": 0.20,
    "repeat": 0.05,
    "agreement": 0.15,
    "right_cloze": 0.15,
    "filler": 0.15,
}
"""Default share of each kind of sentence in a passage (training may pass its own mix)."""


def passage(
    rng: random.Random, max_words: int = 110, mix: dict[str, float] | None = None
) -> tuple[list[str], list[int]]:
    """One training passage: (words, indices of probe-like slots), dense in probe-like material."""
    mix = MIX if mix is None else mix
    if set(mix) - set(GENERATORS) - {"filler"}:
        raise ValueError(
            f"unknown sentence kinds {sorted(set(mix) - set(GENERATORS) - {'filler'})} in the mix"
        )
    edges = list(itertools.accumulate(mix.get(kind, 0.0) for kind in GENERATORS))
    world = _World(rng)
    words: list[str] = []
    slots: list[int] = []
    while True:
        r = rng.random()
        kind = next((k for k, edge in zip(GENERATORS, edges) if r < edge), None)
        sent, s = GENERATORS[kind](rng, world) if kind else (_filler(rng), [])
        if len(words) + len(sent) > max_words:
            return words, slots
        slots += [len(words) + i for i in s]
        words += sent


def generate(n: int, seed: int = 0) -> list[str]:
    """``n`` training passages as strings; the same seed gives the same text."""
    rng = random.Random(seed)
    return [" ".join(passage(rng)[0]) for _ in range(n)]


def _eval_probe(rng: random.Random, phenomenon: str) -> Probe:
    templates = TEMPLATES["eval"]
    if phenomenon == "left_recall":
        words, slots, _, answer = _facts(rng, "eval")
        words[slots[-1]] = SLOT
        return Probe(" ".join(words), answer, phenomenon)
    if phenomenon == "induction":
        a, b = rng.sample(NAMES, 2)
        sa, sb = rng.sample(SURNAMES, 2)
        text = rng.choice(templates["induction"]).format(
            a=a, b=b, sa=sa, sb=sb, p=rng.choice(PLACES), SLOT=SLOT
        )
        return Probe(text, sa, phenomenon)
    if phenomenon == "agreement":
        s, o = rng.sample(list(NOUNS), 2)
        plural_s = rng.random() < 0.5
        plural_o = not plural_s  # the attractor always disagrees with the subject
        verb = rng.choice(list(VERBS))
        answer = VERBS[verb] if plural_s else verb
        text = rng.choice(templates["agreement"]).format(
            s=NOUNS[s] if plural_s else s,
            o=NOUNS[o] if plural_o else o,
            prep=rng.choice(PREPS),
            v=SLOT,
            adj=rng.choice(ADJS),
        )
        return Probe(text, answer, phenomenon)
    if phenomenon == "right_cloze":
        x = rng.choice(ANIMALS)
        text = rng.choice(templates["right_cloze"]).format(x=SLOT, y=ANIMAL_SOUNDS[x], time=rng.choice(TIMES))
        return Probe(text, x, phenomenon)
    raise ValueError(f"unknown phenomenon {phenomenon!r}; known: {', '.join(PHENOMENA)}")


def probes(seed: int = 1234, n_per_kind: int = 50, phenomena: tuple[str, ...] = PHENOMENA) -> list[Probe]:
    """Held-out probes, ``n_per_kind`` of each phenomenon, from evaluation-only templates.

    Each record has ``text`` (one ``___`` slot, at least one word before it), ``answer`` (one word, so one
    token) and ``phenomenon``.
    """
    rng = random.Random(f"probes-{seed}")
    return [_eval_probe(rng, ph) for ph in phenomena for _ in range(n_per_kind)]
