"""Sentence builders of zoo grammar v3 for the two cue phenomena, agreement and right-context cloze, and the
plain list said twice (design: :mod:`interp.zoo.corpus_v3`; shared pieces: :mod:`interp.zoo.constructions_v3`).
"""

from __future__ import annotations

import random

from interp.zoo.constructions_v3 import ASIDES, Piece3, World, fill, filler
from interp.zoo.corpus import (
    ADJS,
    ANIMAL_SOUNDS,
    ANIMALS,
    NOUNS,
    PREPS,
    RC_VERBS,
)

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
AGREEMENT_LEADS = ("", "", "i think", "we saw that", "we know that", "yesterday", "in {city}", "so", "but")
SUBJECTS = ("np", "np", "coord", "name", "quant")
# Training leans on names: a name after "and" opens a singular sentence in left-recall facts ("and milo has"),
# so two coordinated names as a subject need more examples than the other subjects to be read as plural.
TRAIN_SUBJECTS = ("np", "coord", "name", "name", "name", "quant")
INVERSIONS = ("here", "near the {place}", "on the table", "behind the {noun}")
NAME_PREPS = ("with", "near", "beside", "behind")


def _np(rng: random.Random, plural: bool, used: set, adj: float = 0.2) -> list[str]:
    noun = rng.choice([n for n in NOUNS if n not in used])
    used.add(noun)
    return ["the"] + ([rng.choice(ADJS)] if rng.random() < adj else []) + [NOUNS[noun] if plural else noun]


def _person(rng: random.Random, plural: bool, used: set) -> list[str]:
    """The subject of a relative clause: "the student(s)" or "the teacher(s)" where free, else any noun."""
    free = [n for n in ("student", "teacher") if n not in used]
    if not free:
        return _np(rng, plural, used, 0)
    noun = rng.choice(free)
    used.add(noun)
    return ["the", NOUNS[noun] if plural else noun]


def agreement(rng: random.Random, world: World, split: str = "train", want: dict | None = None) -> Piece3:
    """[lead] SUBJECT MODIFIER{0,3} is/are TAIL . or (inverted) PLACE is/are SUBJECT MODIFIER{0,2} .

    Subjects: a noun phrase, two coordinated noun phrases (plural), a name or two (coordinated: plural), a
    quantified phrase ("one key", "one of the keys", "all the keys", "two keys"). Modifiers: prepositional
    phrases, relative clauses (one may nest another), parentheticals (", i think ,"). Evaluation: every noun
    among the modifiers has the other number. ``want`` keys: subject, plural, mods, tail, inverted, quant."""
    want = want or {}
    ev = split == "eval"
    inverted = want.get("inverted", rng.random() < 0.15)
    subject = want.get("subject") or rng.choice(SUBJECTS if ev else TRAIN_SUBJECTS)
    plural = want.get("plural", rng.random() < 0.5)
    if subject in ("coord",):
        plural = True
    used: set = set()
    if subject == "np":
        subj = _np(rng, plural, used)
    elif subject == "coord":
        subj = _np(rng, rng.random() < 0.5, used, 0.1) + ["and"] + _np(rng, rng.random() < 0.5, used, 0.1)
    elif subject == "name":
        if plural:
            a, b = world.names(2, plain=True)
            subj = [a, "and", b]
        else:
            subj = world.names(1, plain=True)
    else:
        noun = rng.choice(list(NOUNS))
        used.add(noun)
        options = (["two", NOUNS[noun]], ["all", "the", NOUNS[noun]], ["all", "of", "the", NOUNS[noun]])
        if not plural:
            options = (["one", noun], ["one", "of", "the", NOUNS[noun]])
        quant = want.get("quant")
        subj = options[quant] if quant is not None else rng.choice(options)
    n_mods = want.get("n_mods", rng.choice((0, 0, 1, 1, 2, 3)) if not ev else rng.choice((1, 1, 2, 3)))
    kinds = ("pp", "paren") if subject == "name" else ("pp", "pp", "rc", "rc2", "paren")
    mods = list(want.get("mods") or [rng.choice(kinds) for _ in range(n_mods)])
    if inverted:
        mods = [m for m in mods if m != "paren"][:2]
    if "paren" in mods:  # one parenthetical, right before the verb
        mods = [m for m in mods if m != "paren"] + ["paren"]
    for k in range(1, len(mods)):  # never two relative clauses in a row on one noun
        if mods[k] in ("rc", "rc2") and mods[k - 1] in ("rc", "rc2"):
            mods[k] = "pp"
    words: list[str] = []
    verbs = list(RC_VERBS)  # each relative clause its own verb
    for m in mods:
        other = (not plural) if ev else rng.random() < 0.5
        if m == "pp":
            prep = rng.choice(NAME_PREPS if subject == "name" else PREPS)
            words += [prep] + _np(rng, other, used)
        elif m == "paren":
            words += [",", *(want.get("aside") or rng.choice(ASIDES)).split(), ","]
        else:
            who = want.get("who") or rng.choice(("we", "i", "name", "noun"))
            inner = {"we": ["we"], "i": ["i"]}.get(who) or (
                world.names(1, exclude=subj, plain=True) if who == "name" else _person(rng, other, used)
            )
            verb = want.get("rcv") or rng.choice(verbs)
            verbs = [v for v in verbs if v != verb] or list(RC_VERBS)
            if m == "rc2":  # a relative clause nested in another
                inner = _person(rng, other, used) + ["that", "we", want.get("inner") or rng.choice(verbs)]
                verbs = [v for v in verbs if v != inner[-1]] or list(RC_VERBS)
            words += ["that"] + inner + [verb]
    verb = "are" if plural else "is"
    env = f"subject={subject};number={'plural' if plural else 'singular'};mods={'+'.join(mods) or 'none'}"
    if inverted:
        noun = rng.choice([n for n in NOUNS if n not in used])
        where = fill(want.get("where") or rng.choice(INVERSIONS), rng, noun=rng.choice((noun, NOUNS[noun])))[
            0
        ]
        out = where + [verb] + subj + words + ["."]
        return Piece3(out, [len(where)], [], [env + ";inverted"], 0, False)
    start = fill(rng.choice(AGREEMENT_LEADS), rng)[0] + subj + words
    tail = want.get("tail") or rng.choice(list(VERB_TAILS))
    noun = rng.choice([n for n in NOUNS if n not in used])
    rest = fill(VERB_TAILS[tail], rng, noun=noun)[0]
    return Piece3(start + [verb] + rest + ["."], [len(start)], [], [env], 0, True)


# ---- right-context cloze ---------------------------------------------------------------------------------------

# Words between the animal and its sound (0-2 of them).
MIDDLES = {
    "place": "near the {place}",
    "prep": "{prep} the {noun}",
    "time": "in the {time}",
    "i": ", i think ,",
    "we": ", we know ,",
    "rc": "that we saw",
    "city": "in {city}",
    "loudly": "loudly",
}
# A first verb phrase coordinated before the sound: "the dog sat down and barked".
COORD_VERBS = {
    "sat": "sat down",
    "went": "went home",
    "ran": "ran to the {place}",
    "walked": "walked to the {place}",
}
CLOZE_TAILS = ("", "loudly", "all night", "at the mailman", "twice", "near the {place}", "at {n}")
LEFT_TAILS = {"end": "", "i": ", i think", "we": ", we know"}
SEEN_AFTER = {"end": "", "near": "near the {place}", "night": "at night", "noon": "at noon"}
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
FRAMES = ("mid", "mid", "coord", "next", "left", "left_next")


def _animal(rng: random.Random, det: str, adj: bool) -> tuple[list[str], str]:
    """det [adj] ANIMAL with no "a" before a vowel (the vocabulary has no "an")."""
    x = rng.choice(ANIMALS if adj or det != "a" else [a for a in ANIMALS if a[0] not in "aeiou"])
    words = [det]
    if adj:
        words.append(rng.choice(ADJS if det != "a" else [a for a in ADJS if a[0] not in "aeiou"]))
    return words + [x], x


def right_cloze(rng: random.Random, world: World, split: str = "train", want: dict | None = None) -> Piece3:
    """An animal fixed by its sound: after it in the same sentence (0-2 middles, or a coordinated first verb),
    in a later sentence ("it barked", 0-2 sentences on), or before it ("the animal that barked was a dog").
    ``want`` keys: frame, det, adj, mids, verb, after, tail, gap."""
    want = want or {}
    frame = want.get("frame") or rng.choice(FRAMES)
    det = want.get("det") or rng.choice(("the", "a"))
    adj = want.get("adj", rng.random() < 0.3)
    n, m = world.names(2, plain=True)  # one may open the sentence, the other end it: never the same
    gap = want.get("gap", rng.choice((0, 0, 1, 2)))
    env = f"frame={frame};gap={gap if 'next' in frame else 0}"
    if frame in ("left", "left_next"):
        head, x = _animal(rng, "a", adj)
        sound = ANIMAL_SOUNDS[x]
        mid = fill(MIDDLES[rng.choice(["place", "time", "city", "loudly"])], rng)[0]
        tail = fill(LEFT_TAILS[want.get("tail") or rng.choice(list(LEFT_TAILS))], rng)[0]
        if frame == "left":
            words = ["the", "animal", "that", sound] + (mid if rng.random() < 0.5 else []) + ["was"]
        else:
            words = ["the", "animal"] + (mid if rng.random() < 0.7 else []) + [sound, "."]
            for _ in range(gap):
                words += filler(rng, world, quiet=True)
            words += ["it", "was"]
        slot = len(words) + len(head) - 1
        return Piece3(words + head + tail + ["."], [slot], [], [env], 0, True)
    words = fill(want.get("lead", rng.choice(CLOZE_LEADS)), rng, n=n)[0]
    tail = fill(want.get("tail", rng.choice(CLOZE_TAILS)), rng, n=m)[0]
    if frame == "next":
        words += [("we" if rng.random() < 0.7 else n), want.get("seen") or rng.choice(("saw", "heard"))]
        head, x = _animal(rng, det, adj)
        slot = len(words) + len(head) - 1
        words += head + fill(SEEN_AFTER[want.get("after") or rng.choice(list(SEEN_AFTER))], rng)[0] + ["."]
        for _ in range(gap):
            words += filler(rng, world, quiet=True)
        words += ["it", ANIMAL_SOUNDS[x]] + tail + ["."]
        return Piece3(words, [slot], [], [env], 0, False)
    head, x = _animal(rng, det, adj)
    slot = len(words) + len(head) - 1
    words += head
    n_mids = rng.choice((0, 1, 1, 2)) if frame == "mid" else rng.choice((0, 0, 1))
    mids = list(want.get("mids", rng.sample(list(MIDDLES), n_mids)))
    if sum(m in ("i", "we") for m in mids) > 1:
        mids = mids[:1]
    if "loudly" in mids:  # right before the verb: "a snake in the evening loudly hissed"
        mids = [m for m in mids if m != "loudly"] + ["loudly"]
    used = {x}
    for m in mids:
        noun = rng.choice([w for w in NOUNS if w not in used])
        used.add(noun)
        words += fill(MIDDLES[m], rng, noun=rng.choice((noun, NOUNS[noun])))[0]
    if frame == "coord":
        verb = want.get("verb") or rng.choice(list(COORD_VERBS))
        words += fill(COORD_VERBS[verb], rng)[0] + ["and"]
        env += f";verb={verb}"
    words += [ANIMAL_SOUNDS[x]] + tail + ["."]
    return Piece3(words, [slot], [], [env + f";mids={'+'.join(mids) or 'none'}"], 0, False)
