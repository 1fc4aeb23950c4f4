"""The strict judge of zoo grammar v3: is a passage one that :mod:`interp.zoo.corpus_v3` could have produced,
and is it free of degenerate repetition?

Grammar: each sentence must match a production (regular expressions built from the builders' own tables),
subjects agree with their verb in number (coordination with "and" is plural), each animal makes its own sound
(also across sentences: "we saw a dog . ... it barked", "the animal near the river quacked . it was a duck"), a
pronoun fact follows a "has a THING" sentence, a list is said twice word for word, and no one's city or colour
of a thing is stated twice with two values.

Degeneracy (what a lax judge let through: "sam and sam talked", "zoe frost , zoe frost , zoe frost"): a
name, noun, thing, animal, place or time twice in one sentence; the same phrase on both sides of "and" or ",";
a list with an item twice; any sentence said twice in the passage (the list said twice excepted).
"""

from __future__ import annotations

import collections
import functools
import re

from interp.zoo import constructions_v3 as c3
from interp.zoo import copying_v3 as cp
from interp.zoo import cues_v3
from interp.zoo.corpus import (
    ACTIONS,
    ADJS,
    ANIMAL_SOUNDS,
    ANIMALS,
    CITIES,
    COLORS,
    LEADS,
    NAMES,
    NOUNS,
    PLACES,
    PLURALS,
    PREPS,
    RC_VERBS,
    SOUNDS,
    SURNAMES,
    THINGS,
    TIMES,
)

LIST_POOLS = (NAMES, SURNAMES, CITIES, COLORS + THINGS + ADJS)
_LEMMA = {**{n: n for n in NOUNS}, **{p: n for n, p in NOUNS.items()}}
_ONCE = set(NAMES) | set(NOUNS) | set(PLURALS) | set(THINGS) | set(ANIMALS) | set(TIMES) | set(PLACES)
_ONCE.add("loudly")
"""Words a sentence never says twice (nouns by lemma: "the key near the keys" is degenerate too; "one evening
it was evening", "the lion loudly roared loudly")."""


def _alt(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) + ")"


N, S = _alt(NAMES), _alt(SURNAMES)
X = f"{N}(?: {S})?"
_FIELDS = {
    "place": _alt(PLACES),
    "time": _alt(TIMES),
    "adj": _alt(ADJS),
    "city": _alt(CITIES),
    "color": _alt(COLORS),
    "color2": _alt(COLORS),
    "thing": _alt(THINGS),
    "thing2": _alt(THINGS),
    "aside": "(?:i think|we know)",
    "prep": _alt(PREPS),
    "noun": _alt(NOUNS),
    "noun2": _alt(NOUNS),
    "nouns": _alt(PLURALS),
    "action": _alt(ACTIONS),
    "rcv": _alt(RC_VERBS),
    "n": N,
    "m": N,
    "x": X,
    "y": X,
    "X": X,
    "Y": X,
}


def _pattern(template: str, **extra: str) -> str:
    """A template's regular expression: each {field} stands for its word class (or ``extra[field]``)."""
    parts = re.split(r"\{(\w+)\}", template.removesuffix(" ."))
    return "".join(
        re.escape(p) if i % 2 == 0 else extra[p] if p in extra else _FIELDS[p] for i, p in enumerate(parts)
    )


def _any(templates, **extra: str) -> str:
    return "(?:" + "|".join(_pattern(t, **extra) for t in templates if t) + ")"


def _opt(templates, **extra: str) -> str:
    """Zero or one of ``templates``, after a space."""
    return f"(?: {_any(templates, **extra)})?"


@functools.cache
def _grammar() -> dict[str, re.Pattern]:
    lead = f"(?:{_any(LEADS)} )?"
    tails = _opt(c3.TAILS.values())
    facts = [t for kind in c3.FACTS.values() for t in kind.values() if " . " not in t]
    queries = [t for kind in c3.QUERIES.values() for t in kind.values()]
    people = f"{X}(?: , {X})* and {X}"
    # agreement: singular and plural subjects, modifiers, verb tails
    np_sg, np_pl = f"the(?: {_alt(ADJS)})? {_alt(NOUNS)}", f"the(?: {_alt(ADJS)})? {_alt(PLURALS)}"
    np = f"(?:{np_sg}|{np_pl})"
    sg = f"(?:{np_sg}|{X}|one {_alt(NOUNS)}|one of {np_pl})"
    pl = f"(?:{np_pl}|{np} and {np}|{X} and {X}|two {_alt(PLURALS)}|all(?: of)? {np_pl})"
    rc_subject = f"(?:we|i|{X}|{np}(?: that we {_alt(RC_VERBS)})?)"
    mod = f"(?:{_alt(PREPS)} {np}|that {rc_subject} {_alt(RC_VERBS)}|, {_FIELDS['aside']} ,)"
    alead = f"(?:{_any(cues_v3.AGREEMENT_LEADS)} )?"
    vtail = _any(cues_v3.VERB_TAILS.values())
    where = _any(cues_v3.INVERSIONS, noun=f"(?:{_alt(NOUNS)}|{_alt(PLURALS)})")
    # induction: the repeated full name in every role, then what follows it
    left = _any(
        cp.AGAIN_LEFT.values(),
        lead=_any(cp.INDUCTION_LEADS),
        clead=_any(cp.COMMA_LEADS),
        clause=_any(cp.CLAUSES),
    )
    again_right = _opt([*cp.SUBJECT_RIGHT.values(), *cp.OBJECT_RIGHT.values()])
    # right cloze
    animal = f"(?:the|a)(?: {_alt(ADJS)})? {_alt(ANIMALS)}"
    clead = f"(?:{_any(cues_v3.CLOZE_LEADS)} )?"
    ctail = _opt(cues_v3.CLOZE_TAILS)
    lmid = _opt(cues_v3.MIDDLES[k] for k in ("place", "time", "city", "loudly"))
    ltail = _opt(cues_v3.LEFT_TAILS.values())
    mids = f"(?: {_any(cues_v3.MIDDLES.values(), noun=f'(?:{_alt(NOUNS)}|{_alt(PLURALS)})')}){{0,2}}"
    coord = _opt(f"{v} and" for v in cues_v3.COORD_VERBS.values())
    return {
        "filler": re.compile(lead + _any(c3.FILLERS)),
        "fact": re.compile(lead + _any(facts + queries) + tails),
        "has": re.compile(lead + f"{X} has a {_alt(THINGS)}"),
        "it_is": re.compile(f"it is {_alt(COLORS)}" + tails),
        "intro": re.compile(lead + _any(cp.INTROS, people=people)),
        "again": re.compile(left + again_right),
        "singular": re.compile(f"{alead}{sg}(?: {mod}){{0,3}} is {vtail}"),
        "plural": re.compile(f"{alead}{pl}(?: {mod}){{0,3}} are {vtail}"),
        "inverted": re.compile(f"{where} (?:is {sg}|are {pl})(?: {mod}){{0,2}}"),
        "cloze": re.compile(f"{clead}{animal}{mids}{coord} {_alt(SOUNDS)}{ctail}"),
        "seen": re.compile(f"{clead}(?:we|{N}) (?:saw|heard) {animal}{_opt(cues_v3.SEEN_AFTER.values())}"),
        "it": re.compile(f"it {_alt(SOUNDS)}{ctail}"),
        "animal_that": re.compile(
            f"the animal that {_alt(SOUNDS)}{lmid} was a(?: {_alt(ADJS)})? {_alt(ANIMALS)}{ltail}"
        ),
        "animal": re.compile(f"the animal{lmid} {_alt(SOUNDS)}"),
        "it_was": re.compile(f"it was a(?: {_alt(ADJS)})? {_alt(ANIMALS)}{ltail}"),
    }


def _number_ok(sent: str, g) -> bool | None:
    """Agreement: True where the sentence agrees, False where only the other verb would, None: no agreement
    sentence."""
    if g["singular"].fullmatch(sent) or g["plural"].fullmatch(sent) or g["inverted"].fullmatch(sent):
        return True
    flipped = re.sub(r"\b(is|are)\b", lambda m: "are" if m[1] == "is" else "is", sent)
    if any(g[k].fullmatch(flipped) for k in ("singular", "plural", "inverted")):
        return False
    return None


def facts(text: str) -> dict[tuple[str, str], set[str]]:
    """(attribute, first name) -> the values ``text`` states for it, in every fact and query form of v3 (and
    v2's): attribute "city", or a thing whose colour is stated."""
    A = _alt
    n, c, col, t = (
        f"({A(NAMES)})(?: {A(SURNAMES)})?",
        f"({A(CITIES)})",
        f"({A(COLORS)})",
        f"({A(THINGS)})",
    )
    aside = "(?: , (?:i think|we know) ,)?"
    out: dict = collections.defaultdict(set)
    for m in re.finditer(rf"\b{n}{aside} (?:has a {col} {t} and )?lives in {c}\b", text):
        out["city", m[1]].add(m[4])
    for m in re.finditer(rf"\bit is in {c} that {n} lives\b|\bin {c} lives {n}\b", text):
        out["city", m[2] or m[4]].add(m[1] or m[3])
    for m in re.finditer(rf"\b{n} and {n} live in {c}\b", text):
        out["city", m[1]].add(m[3])
        out["city", m[2]].add(m[3])
    for m in re.finditer(rf"\bwhere does {n} live \? (?:\w+ (?:\w+ )?lives )?in {c}\b", text):
        out["city", m[1]].add(m[2])
    for m in re.finditer(rf"\b{n}{aside} (?:lives in \w+ and )?has a {col} {t}(?: and a {col} {t})?", text):
        out[m[3], m[1]].add(m[2])
        if m[4]:
            out[m[5], m[1]].add(m[4])
    for m in re.finditer(rf"\b{n} has a {t} \. it is {col}\b", text):
        out[m[2], m[1]].add(m[3])
    for m in re.finditer(rf"\bthe {t} that {n} has{aside} (?:\? it )?is {col}\b", text):
        out[m[1], m[2]].add(m[3])
    for m in re.finditer(rf"\bit is a {col} {t} that {n} has\b", text):
        out[m[2], m[3]].add(m[1])
    return out


def degenerate(text: str) -> str | None:
    """What is degenerate in ``text`` (a name, noun, thing, animal, place or time twice in a sentence, the same
    phrase on both sides of "and" or ",", a list with an item twice, a sentence said twice), or None."""
    words = text.split()
    said = c3.sentences(words)
    for k, sent in enumerate(said):
        ws = sent.split()
        seen = [_LEMMA.get(w, w) for w in ws if w in _ONCE]
        is_list = 3 <= len(ws) <= 7 and any(set(ws) <= set(p) for p in LIST_POOLS)
        if len(seen) != len(set(seen)) or (is_list and len(set(ws)) < len(ws)):
            return f"a word twice in {sent!r}"
        for i, w in enumerate(ws):
            if w in ("and", ","):
                for n in range(1, 5):
                    if i >= n and ws[i - n : i] == ws[i + 1 : i + 1 + n]:
                        return f"the same phrase on both sides of {w!r} in {sent!r}"
        if sent in said[:k] and not (
            is_list and k >= 1 and said[k - 1] == sent and said[:k].count(sent) == 1
        ):
            return f"{sent!r} said twice"
    return None


def well_formed(text: str) -> bool:
    """Whether ``text`` is a v3 passage: every sentence a production with its agreement and cues right, and
    nothing degenerate (see the module docstring)."""
    g = _grammar()
    words = text.split()
    if not words or words[-1] != "." or degenerate(text):
        return False
    if any(len(values) > 1 for values in facts(text).values()):
        return False  # "xena has a red hat . ... xena has a blue hat"
    sents = [s.strip() for s in f" {text} ".split(" . ") if s.strip()]
    i = 0
    seen_animal = heard_sound = None  # a cue waiting for its other half in a later sentence
    after_has = False
    while i < len(sents):
        sent = sents[i]
        i += 1
        ws = sent.split()
        animals = [w for w in ws if w in ANIMALS]
        sounds = [w for w in ws if w in SOUNDS]
        if len(animals) > 1 or len(sounds) > 1:
            return False
        if animals and sounds and ANIMAL_SOUNDS[animals[0]] != sounds[0]:
            return False
        if g["it"].fullmatch(sent):
            if seen_animal is None or ANIMAL_SOUNDS[seen_animal] != sounds[0]:
                return False
            seen_animal = None
        elif g["it_was"].fullmatch(sent):
            if heard_sound is None or ANIMAL_SOUNDS[animals[0]] != heard_sound:
                return False
            heard_sound = None
        elif g["seen"].fullmatch(sent):
            seen_animal = animals[0]
        elif g["animal"].fullmatch(sent):
            heard_sound = sounds[0]
        elif g["it_is"].fullmatch(sent):
            if not after_has:
                return False
        elif (ok := _number_ok(sent, g)) is not None:
            if not ok:
                return False
        elif any(
            g[k].fullmatch(sent) for k in ("cloze", "animal_that", "fact", "has", "intro", "again", "filler")
        ):
            pass
        elif 3 <= len(ws) <= 7 and any(set(ws) <= set(p) for p in LIST_POOLS):
            if i >= len(sents) or sents[i] != sent:
                return False
            i += 1
        else:
            return False
        after_has = bool(g["has"].fullmatch(sent))
    return True
