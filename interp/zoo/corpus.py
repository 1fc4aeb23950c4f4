"""The zoo's toy-world language: a small compositional grammar, a seeded generator and a grammar checker.

Every sentence is lower-case words separated by single spaces ("." and "," are words), so a word-level
tokenizer maps each word to exactly one token. Passages mix plain filler with four phenomena whose right answer
is known:

- ``left_recall``: facts stated earlier and asked for later ("anna lives in oslo . ... anna lives in ___").
- ``induction``: a full name repeated; the first name alone must recall the surname ("anna berg ... anna ___").
- ``agreement``: subject-verb number agreement across attractors ("the keys to the cabinet ___" -> are).
- ``right_cloze``: a slot fixed only by a word after it ("the ___ near the river quacked" -> duck).

Productions combine freely: facts and queries at 0-4 sentences' distance with or without a lead word, 0-3
attractors in prepositional phrases and relative clauses, a cue word 0-7 words after the cloze slot or in the
next sentence, names said again after gaps in other syntactic roles. Each slot sits between a *left* and a
*right* production; a construction is ``phenomenon:left+right``. :data:`HELD_OUT` lists the constructions that
training never produces and that every evaluation probe (:func:`probes`) uses, so an evaluation probe's words
around its slot never occur in training text (``tests/test_zoo.py`` checks it on a large sample).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

GRAMMAR_VERSION = 2
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
SOUNDS = tuple(ANIMAL_SOUNDS.values())
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
PLURALS = tuple(NOUNS.values())
PREPS = "to near of beside under behind with above".split()
VERBS = {"is": "are"}  # one pair, so the number alone fixes the answer
ADJS = "old small big quiet bright dark warm cold".split()
PLACES = "market river park school station library harbor bridge".split()
ACTIONS = "walked ran drove went talked".split()
TIMES = "morning evening night noon".split()
RC_VERBS = "saw heard left".split()

# Words that open a sentence before its clause; "" is no lead at all.
LEADS = (
    "",
    "so",
    "then",
    "and",
    "but",
    "later",
    "i think",
    "we know",
    "we know that",
    "remember that",
    "yesterday",
    "after that",
    "at noon",
    "one {time}",
    "in the {time}",
    "at the {place}",
    "in {city}",
)

# ---- held-out constructions ----------------------------------------------------------------------------------
# A construction names the production just left of the slot and the one just right of it. Training never
# produces these; evaluation always does. Each left and right production also occurs in training, with others.
HELD_OUT = frozenset(
    {
        # a queried city followed by an aside or a place; a queried colour followed by a time or "here"
        "left_recall:city+aside",
        "left_recall:city+place",
        "left_recall:thing+today",
        "left_recall:thing+here",
        # the repeated name after "saw", "met" or "to", with a continuation that never follows there in training
        "induction:saw+today",
        "induction:met+place",
        "induction:to+end",
        "induction:lead+called",
        # the verb after a noun (subject or prepositional attractor) with a place or city after it; after a
        # relative clause with "very" or "gone"
        "agreement:noun+at",
        "agreement:noun+in",
        "agreement:rc+very",
        "agreement:rc+gone",
        # an adjective before the animal and a relative clause, an aside, a time or a sentence end after it
        "right_cloze:adj+rc",
        "right_cloze:adj+aside",
        "right_cloze:adj+time",
        "right_cloze:det+next",
    }
)


@dataclass(frozen=True)
class Probe:
    """One evaluation item: ``text`` holds exactly one ``___`` slot whose right word is ``answer``.

    ``construction`` is ``phenomenon:left+right``, the productions on each side of the slot (see
    :data:`HELD_OUT`); ``variant`` names a robustness variant of the same item ("" for the official one).
    """

    text: str
    answer: str
    phenomenon: str
    construction: str = ""
    variant: str = ""

    def __getitem__(self, key: str) -> str:
        return getattr(self, key)


@dataclass
class Piece:
    """Words of one or more sentences, indices of their probe-like slots, and the constructions used."""

    words: list[str]
    slots: list[int]
    constructions: list[str]


def _pick(rng: random.Random, options, split: str, phenomenon: str, left: str | None = None):
    """A (left, right) production pair of ``options`` allowed in ``split``."""
    pairs = [(a, b) for a, b in options if left is None or a == left]
    held = [(a, b) for a, b in pairs if f"{phenomenon}:{a}+{b}" in HELD_OUT]
    allowed = held if split == "eval" else [p for p in pairs if p not in held]
    return rng.choice(allowed)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        time=rng.choice(TIMES),
        place=rng.choice(PLACES),
        city=rng.choice(CITIES),
        adj=rng.choice(ADJS),
        n=rng.choice(NAMES),
        noun=rng.choice(list(NOUNS)),
        nouns=rng.choice(PLURALS),
        prep=rng.choice(PREPS),
        action=rng.choice(ACTIONS),
        color=rng.choice(COLORS),
        thing=rng.choice(THINGS),
    )


def _lead(rng: random.Random, p_none: float = 0.35) -> list[str]:
    if rng.random() < p_none:
        return []
    return _fill(rng.choice(LEADS[1:]), rng).split()


# ---- filler and distractors ------------------------------------------------------------------------------------

FILLERS = (
    "{n} {action} to the {place} .",
    "the {adj} {noun} is {prep} the {noun} .",
    "the {nouns} are {adj} .",
    "it was a {adj} {time} in {city} .",
    "{n} saw a {color} {thing} .",
    "we went to the {place} .",
    "{n} and {n} talked at the {place} .",
    "the {place} was {adj} .",
    "we drove to {city} .",
    "it was {time} .",
    "we heard that the {place} was {adj} .",
    "the {thing} was {adj} , very {adj} .",
)


def _filler(rng: random.Random) -> list[str]:
    """A plain sentence, optionally after a lead: the language around the phenomena."""
    return _lead(rng, 0.6) + _fill(rng.choice(FILLERS), rng).split()


# ---- left recall ---------------------------------------------------------------------------------------------

FACT = {"city": "{n} lives in {v}", "thing": "{n} has a {v} {t}"}
# What follows a fact's value: its first word differs between productions.
FACT_TAILS = {
    "end": "",
    "today": "today",
    "here": "here",
    "aside": ", i think",
    "place": "near the {place}",
    "and": "and then we went home",
}
LEFT_RECALL_PAIRS = [(k, t) for k in FACT for t in FACT_TAILS]


class _World:
    """One passage's facts: each name keeps one surname, one city and one colour for the whole passage.

    Consistent facts mean every repeat or query has exactly one right answer in the context, so only real
    copying (find the earlier mention, read what followed it) lowers the loss.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surname: dict[str, str] = {}
        self.city: dict[str, str] = {}
        self.color: dict[str, str] = {}

    def of(self, table: dict[str, str], name: str, pool) -> str:
        if name not in table:
            table[name] = self.rng.choice(pool)
        return table[name]


def _fact_sentence(rng, kind, name, value, thing, split, slot_answer=False, left=None):
    """One fact (or query) sentence; returns (words, index of the value, construction)."""
    k, tail = _pick(rng, LEFT_RECALL_PAIRS, split, "left_recall", left=kind)
    clause = FACT[kind].format(n=name, v=value, t=thing).split()
    lead = _lead(rng) if not slot_answer else []
    words = lead + clause + _fill(FACT_TAILS[tail], rng).split() + ["."]
    return words, len(lead) + clause.index(value), f"left_recall:{k}+{tail}"


def _left_recall(rng: random.Random, world: _World, split: str = "train", lead: str = "random") -> Piece:
    """2-4 facts of one kind (some joined by "and"), 0-4 other sentences, then 1-2 queries.

    ``lead`` (evaluation): "random" (a lead word or none), "none", or "filler" (a plain sentence instead).
    """
    kind = rng.choice(tuple(FACT))
    k = rng.randint(2, 4)
    names = rng.sample(NAMES, k)
    table, pool = (world.city, CITIES) if kind == "city" else (world.color, COLORS)
    values = [world.of(table, n, pool) for n in names]
    if split == "eval":
        values = rng.sample(pool, k)  # evaluation: every fact has its own value, so only one answer fits
    thing = rng.choice(THINGS)
    words: list[str] = []
    slots: list[int] = []
    cons: list[str] = []
    for j, (n, v) in enumerate(zip(names, values)):
        if (
            j and cons[-1].endswith("+end") and rng.random() < 0.3
        ):  # "anna lives in oslo and ben lives in rome ."
            words[-1] = "and"
            cons[-1] = cons[-1].replace("+end", "+and")
            clause = FACT[kind].format(n=n, v=v, t=thing).split()
            sent, i, c = clause + ["."], clause.index(v), f"left_recall:{kind}+end"
        else:
            sent, i, c = _fact_sentence(rng, kind, n, v, thing, "train")
        slots.append(len(words) + i)
        cons.append(c)
        words += sent
    queries = rng.sample(range(k), 1 if split == "eval" else rng.randint(1, 2))
    for q in queries:
        for _ in range(rng.randint(0, 4) if rng.random() < 0.7 else 0):
            words += _distractor(rng, world, kind)
        if split == "eval" and lead == "filler":
            words += _filler(rng)
        if split == "train" or lead == "random":
            words += _lead(rng, 0.4)
        sent, i, c = _fact_sentence(rng, kind, names[q], values[q], thing, split, slot_answer=True)
        slots.append(len(words) + i)
        cons.append(c)
        words += sent
    return Piece(words, slots, cons)


def _distractor(rng: random.Random, world: _World, kind: str) -> list[str]:
    """A sentence between facts and query: filler, or a fact of the other kind about someone else."""
    if rng.random() < 0.5:
        return _filler(rng)
    other = "thing" if kind == "city" else "city"
    n = rng.choice(NAMES)
    table, pool = (world.city, CITIES) if other == "city" else (world.color, COLORS)
    return FACT[other].format(n=n, v=world.of(table, n, pool), t=rng.choice(THINGS)).split() + ["."]


# ---- induction -----------------------------------------------------------------------------------------------

INTROS = (
    "{people} met at the {place} .",
    "at the {place} we saw {people} .",
    "{people} walked to the {place} .",
    "we talked to {people} today .",
    "{people} went home .",
)
# Where the repeated full name stands: the words before it (left) and after it (right).
AGAIN_LEFT = {
    "start": "{X}",
    "lead": "{lead} {X}",
    "saw": "we saw {X}",
    "met": "{b} met {X}",
    "to": "we talked to {X}",
}
AGAIN_RIGHT = {
    "went": "went home",
    "sat": "sat down",
    "smiled": "smiled",
    "was": "was {adj}",
    "called": "called",
    "end": "",
    "today": "today",
    "place": "at the {place}",
    "and": "and {b} {sb}",
}
SUBJECT_RIGHT = ("went", "sat", "smiled", "was", "called")
INDUCTION_PAIRS = [
    (a, b)
    for a in AGAIN_LEFT
    for b in AGAIN_RIGHT
    if (a in ("start", "lead")) == (b in SUBJECT_RIGHT)  # a subject takes a verb; an object does not
]
INDUCTION_LEADS = ("then", "later", "after that", "and", "so", "yesterday", "at noon", "one {time}")


def _again(rng, split, a, sa, b, sb):
    """The second mention of ``a sa``: (words, index of the surname, construction)."""
    left, right = _pick(rng, INDUCTION_PAIRS, split, "induction")
    head = AGAIN_LEFT[left].format(X="{X}", b=b, lead=_fill(rng.choice(INDUCTION_LEADS), rng)).split()
    pos = head.index("{X}")
    head[pos : pos + 1] = [a, sa]
    tail = _fill(AGAIN_RIGHT[right].replace("{b} {sb}", f"{b} {sb}"), rng).split()
    return head + tail + ["."], pos + 1, f"induction:{left}+{right}"


def _induction(rng: random.Random, world: _World, split: str = "train") -> Piece:
    """2-4 people met by full name, 0-3 other sentences, then 1-2 of them named again in another role."""
    people = rng.sample(NAMES, rng.randint(2, 4))
    if split == "eval":
        surnames = rng.sample(SURNAMES, len(people))
        full = [f"{n} {s}" for n, s in zip(people, surnames)]
    else:
        full = [f"{n} {world.of(world.surname, n, SURNAMES)}" for n in people]
    listed = " , ".join(full[:-1]) + " and " + full[-1]
    words = _lead(rng, 0.7) + _fill(rng.choice(INTROS).replace("{people}", listed), rng).split()
    slots: list[int] = []
    cons: list[str] = []
    for person in rng.sample(
        range(len(people)), 1 if split == "eval" else rng.randint(1, min(2, len(people)))
    ):
        for _ in range(rng.randint(0, 3) if rng.random() < 0.6 else 0):
            words += _filler(rng)
        a, sa = full[person].split()
        others = [i for i in range(len(people)) if i != person]
        b, sb = full[rng.choice(others)].split()
        sent, i, c = _again(rng, split, a, sa, b, sb)
        slots.append(len(words) + i)
        cons.append(c)
        words += sent
    return Piece(words, slots, cons)


def _repeat(rng: random.Random) -> Piece:
    """A random list of words said twice: the plainest material for copying (every repeated word a slot)."""
    pool = rng.choice((NAMES, SURNAMES, CITIES, COLORS + THINGS + ADJS))
    items = [rng.choice(pool) for _ in range(rng.randint(3, 7))]
    words = items + ["."] + items + ["."]
    return Piece(words, [len(items) + 1 + i for i in range(len(items))], [])


# ---- agreement -----------------------------------------------------------------------------------------------

AGREEMENT_LEADS = ("", "i think", "we saw that", "we know that", "yesterday", "in {city}", "so", "but")
# What follows the verb; its first word differs between productions.
VERB_TAILS = {
    "adj": "{adj}",
    "very": "very {adj}",
    "on": "on the table",
    "here": "here",
    "gone": "gone",
    "prep": "{prep} the {noun}",
    "at": "at the {place}",
    "in": "in {city}",
}
AGREEMENT_PAIRS = [(a, b) for a in ("noun", "rc") for b in VERB_TAILS]
# Attractor sequences: prepositional phrases (pp) and relative clauses (rc).
MODIFIERS = (
    (),
    ("pp",),
    ("rc",),
    ("pp", "pp"),
    ("pp", "rc"),
    ("rc", "pp"),
    ("pp", "pp", "pp"),
    ("pp", "pp", "rc"),
)


def _noun(rng: random.Random, plural: bool, adj: float = 0.2) -> list[str]:
    n = rng.choice(list(NOUNS))
    words = ["the"] + ([rng.choice(ADJS)] if rng.random() < adj else [])
    return words + [NOUNS[n] if plural else n]


def _agreement(rng: random.Random, split: str = "train") -> Piece:
    """[lead] the SUBJECT [pp | rc]{0,3} is/are TAIL . ; attractors of either number (evaluation: >= 1,
    the nearest noun of the other number)."""
    mods = rng.choice(MODIFIERS[1:] if split == "eval" else MODIFIERS)
    plural = rng.random() < 0.5
    words = _fill(rng.choice(AGREEMENT_LEADS), rng).split() + _noun(rng, plural)
    for m in mods:
        # evaluation: every attractor has the other number; training: either
        other = (not plural) if split == "eval" else rng.random() < 0.5
        if m == "pp":
            words += [rng.choice(PREPS)] + _noun(rng, other)
        else:
            who = rng.choice(("we", "i", "name", "noun"))
            subj = {"we": ["we"], "i": ["i"], "name": [rng.choice(NAMES)]}.get(who) or _noun(rng, other, 0)
            words += ["that"] + subj + [rng.choice(RC_VERBS)]
    left = "rc" if mods and mods[-1] == "rc" else "noun"
    _, tail = _pick(rng, AGREEMENT_PAIRS, split, "agreement", left=left)
    verb = VERBS["is"] if plural else "is"
    slot = len(words)
    words += [verb] + _fill(VERB_TAILS[tail], rng).split() + ["."]
    return Piece(words, [slot], [f"agreement:{left}+{tail}"])


# ---- right-context cloze -------------------------------------------------------------------------------------

# Words between the animal and its sound (0-7 words): the cue need not be next to the slot.
MIDDLES = {
    "place": "near the {place}",
    "prep": "{prep} the {noun}",
    "time": "in the {time}",
    "aside": ", i think ,",
    "rc": "that we saw",
    "city": "in {city}",
    "loudly": "loudly",
}
CLOZE_TAILS = ("", "loudly", "all night", "at the mailman", "twice", "near the {place}", "at {n}")
CLOZE_PAIRS = [(a, b) for a in ("det", "adj") for b in (*MIDDLES, "sound", "next")]
CLOZE_LEADS = (
    "",
    "",
    "then",
    "in the {time}",
    "we heard that",
    "{n} heard that",
    "one {time}",
    "at the {place}",
)


def _cloze(rng: random.Random, split: str = "train") -> Piece:
    """[lead] the/a [adj] ANIMAL MIDDLE{0,2} SOUND [tail] . , or the sound in the next sentence ("it SOUND")."""
    x = rng.choice(ANIMALS)
    left, right = _pick(rng, CLOZE_PAIRS, split, "right_cloze")
    words = _fill(rng.choice(CLOZE_LEADS), rng).split()
    if right == "next":
        words += rng.choice((["we", "saw"], ["we", "heard"], [rng.choice(NAMES), "saw"]))
    words += [rng.choice(("the", "a"))] + ([rng.choice(ADJS)] if left == "adj" else [])
    slot = len(words)
    words.append(x)
    if right == "next":
        words += _fill(rng.choice(("", "near the {place}", "at {time}")), rng).split()
        words += [".", "it", ANIMAL_SOUNDS[x]]
    else:
        middles = [right] if right != "sound" else []
        if middles and rng.random() < 0.4:
            middles.append(rng.choice([m for m in MIDDLES if m not in middles and m != "loudly"]))
        for m in middles:
            words += _fill(MIDDLES[m], rng).split()
        words.append(ANIMAL_SOUNDS[x])
    words += _fill(rng.choice(CLOZE_TAILS), rng).split() + ["."]
    return Piece(words, [slot], [f"right_cloze:{left}+{right}"])


# ---- passages ------------------------------------------------------------------------------------------------

# Training sentences by kind. A mix lays out its shares on [0, 1) in this order; the rest is plain filler.
GENERATORS = {
    "left_recall": lambda rng, world: _left_recall(rng, world),
    "induction": lambda rng, world: _induction(rng, world),
    "repeat": lambda rng, world: _repeat(rng),
    "agreement": lambda rng, world: _agreement(rng),
    "right_cloze": lambda rng, world: _cloze(rng),
}
MIX = {
    "left_recall": 0.28,
    "induction": 0.22,
    "repeat": 0.05,
    "agreement": 0.17,
    "right_cloze": 0.15,
    "filler": 0.13,
}
"""Default share of each kind of sentence in a passage (training may pass its own mix)."""


def passage(
    rng: random.Random, max_words: int = 110, mix: dict[str, float] | None = None, constructions=None
) -> tuple[list[str], list[int]]:
    """One training passage: (words, indices of probe-like slots), dense in probe-like material.

    ``constructions``, a list, receives the constructions of the slots (``phenomenon:left+right``).
    """
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
        piece = GENERATORS[kind](rng, world) if kind else Piece(_filler(rng), [], [])
        if len(words) + len(piece.words) > max_words:
            return words, slots
        slots += [len(words) + i for i in piece.slots]
        if constructions is not None:
            constructions += piece.constructions
        words += piece.words


def generate(n: int, seed: int = 0) -> list[str]:
    """``n`` training passages as strings; the same seed gives the same text."""
    rng = random.Random(seed)
    return [" ".join(passage(rng)[0]) for _ in range(n)]


# ---- evaluation ----------------------------------------------------------------------------------------------


def _probe(piece: Piece, phenomenon: str, variant: str = "") -> Probe:
    """The piece with its last slot (an evaluation piece ends with the slot's sentence) left blank."""
    words = list(piece.words)
    answer = words[piece.slots[-1]]
    words[piece.slots[-1]] = SLOT
    return Probe(" ".join(words), answer, phenomenon, piece.constructions[-1], variant)


def _eval_probe(rng: random.Random, phenomenon: str, lead: str = "random") -> Probe:
    if phenomenon == "left_recall":
        piece = _left_recall(rng, _World(rng), "eval", lead=lead)
        return _probe(piece, phenomenon, "" if lead == "random" else lead)
    if phenomenon == "induction":
        piece = _induction(rng, _World(rng), "eval")
    elif phenomenon == "agreement":
        piece = _agreement(rng, "eval")
    elif phenomenon == "right_cloze":
        piece = _cloze(rng, "eval")
    else:
        raise ValueError(f"unknown phenomenon {phenomenon!r}; known: {', '.join(PHENOMENA)}")
    return _probe(piece, phenomenon)


def probes(
    seed: int = 1234,
    n_per_kind: int = 50,
    phenomena: tuple[str, ...] = PHENOMENA,
    *,
    lead: str = "random",
) -> list[Probe]:
    """Held-out probes, ``n_per_kind`` of each phenomenon, each in a construction of :data:`HELD_OUT`.

    Each record has ``text`` (one ``___`` slot, at least one word before it), ``answer`` (one word, so one
    token), ``phenomenon`` and ``construction``. ``lead`` changes what stands before a left-recall query:
    "random" (a lead word or none, the official set), "none" (never a lead word) or "filler" (a plain sentence
    in its place); the same seed gives the same facts in each.
    """
    if lead not in ("random", "none", "filler"):
        raise ValueError(f"lead must be 'random', 'none' or 'filler', not {lead!r}")
    out = []
    for ph in phenomena:
        rng = random.Random(f"probes-{seed}-{ph}")
        out += [_eval_probe(rng, ph, lead) for _ in range(n_per_kind)]
    return out


def well_formed(text: str) -> bool:
    """Whether every sentence of ``text`` is one this grammar produces (see :func:`interp.zoo.grammar.well_formed`)."""
    from interp.zoo.grammar import well_formed

    return well_formed(text)


def minimal_pairs(seed: int = 0, n_per_kind: int = 20) -> list:
    """Minimal pairs (good, bad, phenomenon, construction) on held-out constructions: see :mod:`interp.zoo.pairs`."""
    from interp.zoo.pairs import minimal_pairs as _pairs

    return _pairs(seed=seed, n_per_kind=n_per_kind)
