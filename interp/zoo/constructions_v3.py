"""Sentence builders of zoo grammar v3: each phenomenon in many syntactic environments (design:
:mod:`interp.zoo.corpus_v3`).

A builder returns a :class:`Piece3`: words, the indices of its probe-like slots (a fact's city or colour, a
repeated surname, the agreeing verb, the animal fixed by its cue), one environment string per slot (what lies
beyond the slot's five-word window: fact and query form, subject kind, cue side, gap) and which slot an
evaluation probe blanks. ``want`` forces choices, so that evaluation can steer a piece to a held-out construction;
every other choice is drawn. With ``split="eval"`` every stated value is distinct, so a copy from the wrong
sentence is wrong.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from interp.zoo.corpus import (
    ACTIONS,
    ADJS,
    CITIES,
    COLORS,
    LEADS,
    NAMES,
    NOUNS,
    PLACES,
    PLURALS,
    PREPS,
    RC_VERBS,
    SURNAMES,
    THINGS,
    TIMES,
    Piece,
)


@dataclass
class Piece3(Piece):
    """A v3 piece: ``envs[k]`` describes slot ``slots[k]``; ``probe`` is the index (into ``slots``) of the slot
    an evaluation probe blanks, and ``sees_left`` whether the words before that slot alone fix its answer."""

    envs: list[str] = field(default_factory=list)
    probe: int = -1
    sees_left: bool = True


class Retry(Exception):
    """A builder could not satisfy its constraints with the choices drawn: draw the piece again."""


ASIDES = ("i think", "we know")
POOLS = {
    "place": PLACES,
    "time": tuple(t for t in TIMES if t != "noon"),  # "in the noon", "one noon": not English
    "adj": ADJS,
    "city": CITIES,
    "color": COLORS,
    "thing": THINGS,
    "aside": ASIDES,
    "prep": PREPS,
    "noun": tuple(NOUNS),
    "nouns": PLURALS,
    "action": ACTIONS,
    "rcv": RC_VERBS,
}
# What follows a fact's value (or a queried colour's thing): the first words differ between tails.
TAILS = {
    "end": "",
    "today": "today",
    "here": "here",
    "i": ", i think",
    "we": ", we know",
    "place": "near the {place}",
    "and": "and then we went home",
}


def fill(template: str, rng: random.Random, **values: str) -> tuple[list[str], dict[str, int]]:
    """The words of ``template`` ({field}s as separate words: given values, else drawn from their class), and
    where each field's first word landed."""
    words: list[str] = []
    at: dict[str, int] = {}
    for tok in template.split():
        if tok[0] == "{" and tok[-1] == "}":
            key = tok[1:-1]
            at[key] = len(words)
            words += (values[key] if key in values else rng.choice(POOLS[key])).split()
        else:
            words.append(tok)
    return words, at


def lead(rng: random.Random, p_none: float = 0.35, city: bool = True) -> list[str]:
    """A sentence opener from the v2 table ("so", "in the morning", ...), or none. ``city=False``: never "in
    CITY" (before a fact about where someone lives it would read as another fact)."""
    leads = LEADS[1:] if city else [x for x in LEADS[1:] if "{city}" not in x]
    return [] if rng.random() < p_none else fill(rng.choice(leads), rng)[0]


class World:
    """One passage's facts, kept consistent: a name keeps one surname, one city and one colour per thing.

    ``avoid``: names this world never uses (an evaluation probe's people, when it builds the text around them).
    ``distinct``: new values are drawn among those not yet used (evaluation)."""

    def __init__(self, rng: random.Random, avoid=(), distinct: bool = False) -> None:
        self.rng, self.avoid, self.distinct = rng, set(avoid), distinct
        self.surname: dict[str, str] = {}
        self.city: dict[str, str] = {}
        self.color: dict[tuple[str, str], str] = {}

    def names(self, k: int, exclude=(), plain: bool = False) -> list[str]:
        """``k`` distinct names; ``plain``: only names never said with a surname (fillers, distractors)."""
        pool = [n for n in NAMES if n not in self.avoid and n not in exclude]
        if plain and len([n for n in pool if n not in self.surname]) >= k:
            pool = [n for n in pool if n not in self.surname]
        if len(pool) < k:
            raise Retry("not enough names left")
        return self.rng.sample(pool, k)

    def _new(self, pool, used) -> str:
        free = [v for v in pool if v not in used] if self.distinct else list(pool)
        if not free:
            raise Retry("no distinct value left")
        return self.rng.choice(free)

    def city_of(self, n: str) -> str:
        if n not in self.city:
            self.city[n] = self._new(CITIES, set(self.city.values()))
        return self.city[n]

    def color_of(self, n: str, thing: str) -> str:
        if (n, thing) not in self.color:
            self.color[n, thing] = self._new(COLORS, set(self.color.values()))
        return self.color[n, thing]

    def things_of(self, n: str) -> list[str]:
        return [t for (m, t) in self.color if m == n]

    def full(self, n: str) -> str:
        if n not in self.surname:
            used = set(self.surname.values())
            self.surname[n] = self.rng.choice([s for s in SURNAMES if s not in used] or SURNAMES)
        return f"{n} {self.surname[n]}"


def sentences(words: list[str]) -> list[str]:
    """Sentences as the strict judge counts them: split at "." and "?"."""
    out, cur = [], []
    for w in words:
        if w in (".", "?"):
            if cur:
                out.append(" ".join(cur))
            cur = []
        else:
            cur.append(w)
    return out + ([" ".join(cur)] if cur else [])


FILLERS = (
    "{n} walked to the {place} .",
    "the {adj} {noun} is {prep} the {noun2} .",
    "the {nouns} are {adj} .",
    "it was a {adj} {time} in {city} .",
    "{n} saw a {color} {thing} .",
    "we went to the {place} .",
    "{n} and {m} talked at the {place} .",
    "the {place} was {adj} .",
    "we drove to {city} .",
    "it was {time} .",
    "we heard that the {place} was {adj} .",
    "the {thing} was {adj} , very {adj} .",
    "{n} ran to the {place} in the {time} .",
    "we talked at the {place} .",
)
QUIET = tuple(f for f in FILLERS if not f.startswith("it ") and "{" in f)  # no "it": a cue's "it" stays clear


def filler(rng: random.Random, world: World, quiet: bool = False, p_lead: float = 0.6) -> list[str]:
    """A plain sentence, optionally after a lead: the language around the phenomena."""
    n, m = world.names(2, plain=True)
    noun, noun2 = rng.sample(list(NOUNS), 2)
    words, _ = fill(rng.choice(QUIET if quiet else FILLERS), rng, n=n, m=m, noun=noun, noun2=noun2)
    return ([] if quiet else lead(rng, p_lead)) + words


def unrelated_fact(rng: random.Random, world: World, exclude=()) -> list[str]:
    """A fact about someone else: "omar lives in rome ." (the sentence that once derailed induction)."""
    (n,) = world.names(1, exclude=exclude, plain=True)
    if rng.random() < 0.5:
        return f"{n} lives in {world.city_of(n)} .".split()
    t = rng.choice(THINGS)
    return f"{n} has a {world.color_of(n, t)} {t} .".split()


# ---- left recall -----------------------------------------------------------------------------------------------

FACTS = {
    "city": {
        "plain": "{x} lives in {city}",
        "cleft": "it is in {city} that {x} lives",
        "inverted": "in {city} lives {x}",
        "pair": "{x} and {y} live in {city}",
        "mixed": "{x} lives in {city} and has a {color} {thing}",
    },
    "thing": {
        "plain": "{x} has a {color} {thing}",
        "two": "{x} has a {color} {thing} and a {color2} {thing2}",
        "pronoun": "{x} has a {thing} . it is {color}",
        "rc": "the {thing} that {x} has is {color}",
        "cleft": "it is a {color} {thing} that {x} has",
        "mixed": "{x} has a {color} {thing} and lives in {city}",
    },
}
QUERIES = {
    "city": {
        "plain": "{x} lives in {city}",
        "paren": "{x} , {aside} , lives in {city}",
        "cleft": "it is in {city} that {x} lives",
        "coord": "{x} has a {color} {thing} and lives in {city}",
        "question": "where does {x} live ? {x} lives in {city}",
        "answer": "where does {x} live ? in {city}",
    },
    "thing": {
        "plain": "{x} has a {color} {thing}",
        "paren": "{x} , {aside} , has a {color} {thing}",
        "rc": "the {thing} that {x} has is {color}",
        "rc_paren": "the {thing} that {x} has , {aside} , is {color}",
        "cleft": "it is a {color} {thing} that {x} has",
        "question": "what color is the {thing} that {x} has ? it is {color}",
        "coord": "{x} lives in {city} and has a {color} {thing}",
        "second": "{x} has a {color2} {thing2} and a {color} {thing}",
    },
}
VALUE_FIELDS = ("city", "color", "color2")


def _say(rng: random.Random, world: World, n: str, form: str | None = None) -> tuple[str, str]:
    form = form or ("full" if rng.random() < 0.3 else "short")
    return (world.full(n) if form == "full" else n), form


def left_recall(rng: random.Random, world: World, split: str = "train", want: dict | None = None) -> Piece3:
    """2-4 people's facts in several forms (some people with two attributes), 0-4 other sentences, then 1-2
    queries in several syntaxes. ``want`` keys: kind, query, tail, asked (first/second), lead
    (random/none/filler)."""
    want = want or {}
    ev = split == "eval"
    kind = want.get("kind") or rng.choice(("city", "thing"))
    names = world.names(rng.randint(2, 4), plain=True)
    thing = rng.choice(THINGS)
    words: list[str] = []
    piece = Piece3(words, [], [])
    form_of: dict[str, str] = {}
    said_as: dict[str, str] = {}

    def add(template: str, pre: list[str], tail: str, env: str, **values: str) -> dict[str, int]:
        w, at = fill(template, rng, **values)
        start = len(words) + len(pre)
        end = fill(TAILS[tail], rng)[0]
        if end[:1] == [","] and " ".join(end[1:]) in " ".join(pre + w):
            end = []  # "we know that anna lives in oslo , we know": the aside once is enough
        words.extend(pre + w + end + ["."])
        for f in VALUE_FIELDS:
            if f in at:
                piece.slots.append(start + at[f])
                piece.envs.append(env)
        return {k: start + v for k, v in at.items()}

    stated = set()
    stated_things: dict[str, list[str]] = {n: [] for n in names}
    for i, n in enumerate(names):
        if n in stated:
            continue
        forms = list(FACTS[kind])
        if i + 1 >= len(names) or kind != "city":
            forms = [f for f in forms if f != "pair"]
        if not ev and "two" in forms:  # the second of two attributes is the hard query: said more in training
            forms += ["two", "two"]
        form = rng.choice(forms)
        x, said_as[n] = _say(rng, world, n)
        values = {"x": x, "thing": thing}
        if kind == "city" or form == "mixed":
            values["city"] = world.city_of(n)
        if kind == "thing" or form == "mixed":
            values["thing"] = thing if kind == "thing" else rng.choice(THINGS)
            values["color"] = world.color_of(n, values["thing"])
        if kind == "thing" or form == "mixed":
            stated_things[n].append(values["thing"])
        if form == "two":
            values["thing2"] = rng.choice([t for t in THINGS if t != thing])
            values["color2"] = world.color_of(n, values["thing2"])
            stated_things[n].append(values["thing2"])
        if form == "pair":
            y = names[i + 1]
            if world.city.setdefault(y, values["city"]) != values["city"]:
                raise Retry("the pair's second person lives elsewhere")
            values["y"], said_as[y] = _say(rng, world, y)
            form_of[y] = "pair"
            stated.add(y)
        form_of[n] = form
        stated.add(n)
        add(FACTS[kind][form], lead(rng, city=False), rng.choice(list(TAILS)), f"fact={form}", **values)
    targets = [rng.choice(names)] if ev else rng.sample(names, rng.randint(1, 2))
    for q in targets:
        gap = rng.randint(0, 4) if rng.random() < 0.7 else 0
        for _ in range(gap):
            words += filler(rng, world) if rng.random() < 0.5 else unrelated_fact(rng, world, names)
        if want.get("lead") == "filler":
            words += filler(rng, world)
        pre = [] if want.get("lead") in ("none", "filler") else lead(rng, 0.4, city=False)
        if kind == "city":
            forms = list(QUERIES["city"])
        else:
            forms = list(QUERIES["thing"])
        qform = want.get("query") or rng.choice(forms)
        tail = want.get("tail") or rng.choice(list(TAILS))
        x, name_form = _say(rng, world, q)
        values = {"x": x, "aside": want.get("aside") or rng.choice(ASIDES)}
        asked = "only"
        if kind == "city":
            values["city"] = world.city_of(q)
            if qform == "coord":
                values["thing"] = (world.things_of(q) or [rng.choice(THINGS)])[0]
                values["color"] = world.color_of(q, values["thing"])
        else:
            own = stated_things[
                q
            ]  # stated in this piece (the world may hold more: drawn for rejected pieces)
            asked = want.get("asked") or rng.choice(("first", "second"))
            values["thing"] = own[-1] if asked == "second" else own[0]
            asked = asked if len(own) > 1 else "only"
            values["color"] = world.color_of(q, values["thing"])
            if qform == "coord":
                values["city"] = world.city_of(q)
            if qform == "second":
                values["thing2"] = next((t for t in own if t != values["thing"]), None) or rng.choice(
                    [t for t in THINGS if t != values["thing"]]
                )
                values["color2"] = world.color_of(q, values["thing2"])
        before, start = set(sentences(words)), len(words)
        at = add(QUERIES[kind][qform], pre, tail, "", **values)
        env = f"fact={form_of[q]};query={qform};names={said_as[q]}>{name_form};asked={asked};gap={gap}"
        value = "city" if kind == "city" else "color"
        k = piece.slots.index(at[value])
        piece.envs[k] = env
        piece.probe = k
        if set(sentences(words[start:])) & before:
            raise Retry("the query says a fact again word for word")
    return piece
