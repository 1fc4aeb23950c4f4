"""Sentence builders of zoo grammar v3 for the copying phenomena: induction (a full name said again in any
role) and the plain list said twice (design: :mod:`interp.zoo.corpus_v3`; shared pieces:
:mod:`interp.zoo.constructions_v3`).
"""

from __future__ import annotations

import random

from interp.zoo.constructions_v3 import ASIDES, Piece3, World, fill, filler, lead, unrelated_fact
from interp.zoo.corpus import ADJS, CITIES, COLORS, NAMES, NOUNS, RC_VERBS, SURNAMES, THINGS

# ---- induction -------------------------------------------------------------------------------------------------

INTROS = (
    "{people} met at the {place} .",
    "at the {place} we saw {people} .",
    "{people} walked to the {place} .",
    "we talked to {people} today .",
    "{people} went home .",
    "in {city} we met {people} .",
    "we saw a picture of {people} .",
    "{n} met {people} at the {place} .",
)
# Where the repeated full name {X} stands (left) and what follows it (right).
AGAIN_LEFT = {
    "start": "{X}",
    "lead": "{lead} {X}",
    "comma": "{clead} , {X}",
    "clause": "{clause} and {X}",
    "coord": "{Y} and {X}",
    "saw": "we saw {X}",
    "met": "{Y} met {X}",
    "to": "we talked to {X}",
    "of": "we saw a picture of {X}",
    "ocoord": "we saw {Y} and {X}",
    "with": "{Y} went home with {X}",
    "rc": "the {noun} that {X}",
}
SUBJECT = ("start", "lead", "comma", "clause", "coord")
SUBJECT_RIGHT = {
    "went": "went home",
    "sat": "sat down",
    "smiled": "smiled",
    "called": "called",
    "paren": ", {aside} , went home",
    "was": "was {adj}",
    "lives": "lives in {city}",
    "has": "has a {color} {thing}",
}
OBJECT_RIGHT = {"end": "", "today": "today", "place": "at the {place}", "aside": ", {aside}"}
CLAUSES = ("it was {time}", "we went to the {place}", "the {place} was {adj}", "we drove to {city}")
INDUCTION_LEADS = ("then", "later", "after that", "and", "so", "yesterday", "at noon", "one {time}")
RC_TAILS = ("{adj}", "here", "gone", "at the {place}", "very {adj}")
COMMA_LEADS = ("after that", "later", "at noon", "in the {time}", "then")


def induction(rng: random.Random, world: World, split: str = "train", want: dict | None = None) -> Piece3:
    """2-4 people introduced by full name, then 0-3 sentences (filler or facts about other people), then 1-2
    of them named again in another role. ``want`` keys: left, right, gap (random/none/unrelated)."""
    want = want or {}
    people = world.names(rng.randint(2, 4), plain=True)
    full = [world.full(n) for n in people]
    listed = " , ".join(full[:-1]) + " and " + full[-1]
    (host,) = world.names(1, exclude=people, plain=True)
    words = lead(rng, 0.7) + fill(rng.choice(INTROS).replace("{people}", listed), rng, n=host)[0]
    piece = Piece3(words, [], [])
    for person in rng.sample(range(len(people)), 1 if split == "eval" else rng.randint(1, 2)):
        mode = want.get("gap", "random")
        gap = 1 if mode == "unrelated" else 0 if mode == "none" else rng.randint(0, 3) * (rng.random() < 0.6)
        for _ in range(gap):
            unrelated = mode == "unrelated" or rng.random() < 0.4
            words += unrelated_fact(rng, world, people) if unrelated else filler(rng, world)
        left = want.get("left") or rng.choice(list(AGAIN_LEFT))
        rights = SUBJECT_RIGHT if left in SUBJECT else OBJECT_RIGHT
        if left == "coord":
            rights = {k: v for k, v in rights.items() if k in ("went", "sat", "smiled", "called", "paren")}
        right = want.get("right") or rng.choice(list(rights) if left != "rc" else RC_VERBS)
        other = full[rng.choice([i for i in range(len(people)) if i != person])]
        head, at = fill(
            AGAIN_LEFT[left],
            rng,
            X="{X}",
            Y=other,
            lead=" ".join(fill(rng.choice(INDUCTION_LEADS), rng)[0]),
            clead=" ".join(fill(rng.choice(COMMA_LEADS), rng)[0]),
            clause=" ".join(fill(rng.choice(CLAUSES), rng)[0]),
        )
        x = head.index("{X}")
        name, surname = full[person].split()
        head[x : x + 1] = [name, surname]
        n = people[person]
        if left == "rc":
            noun = rng.choice(list(NOUNS))
            plural = want.get("plural", rng.random() < 0.5)
            head[1] = NOUNS[noun] if plural else noun
            tail = [right, "are" if plural else "is"] + fill(rng.choice(RC_TAILS), rng)[0]
        else:
            values = {"aside": want.get("aside") or rng.choice(ASIDES)}
            if right == "lives":
                values["city"] = world.city_of(n)
            if right == "has":
                values["thing"] = rng.choice(THINGS)
                values["color"] = world.color_of(n, values["thing"])
            tail = fill(rights[right], rng, **values)[0]
        piece.slots.append(len(words) + x + 1)
        piece.envs.append(f"role={left};gap={gap}")
        words += head + tail + ["."]
    piece.probe = len(piece.slots) - 1
    return piece


def repeat(rng: random.Random, world: World, split: str = "train", want: dict | None = None) -> Piece3:
    """A list of 3-7 different words said twice: the plainest material for copying (each repeat a slot)."""
    pool = rng.choice((NAMES, SURNAMES, CITIES, COLORS + THINGS + ADJS))
    items = rng.sample(pool, rng.randint(3, 7))
    words = items + ["."] + items + ["."]
    return Piece3(words, [len(items) + 1 + i for i in range(len(items))], [], ["list"] * len(items))
