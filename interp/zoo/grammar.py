"""The zoo grammar's checker: is a passage one that :mod:`interp.zoo.corpus` could have produced?

Each sentence must match one production (built as a regular expression from the same tables the generator
uses), agree in number, give each animal its own sound and say a list twice word for word. It judges generated
text (e.g. a diffusion model's) by the corpus's own rules.
"""

from __future__ import annotations

import functools
import re

from interp.zoo.corpus import (
    ACTIONS,
    ADJS,
    AGAIN_LEFT,
    AGAIN_RIGHT,
    AGREEMENT_LEADS,
    ANIMAL_SOUNDS,
    ANIMALS,
    CITIES,
    CLOZE_LEADS,
    CLOZE_TAILS,
    COLORS,
    FACT,
    FACT_TAILS,
    FILLERS,
    INDUCTION_LEADS,
    INTROS,
    LEADS,
    MIDDLES,
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
    VERB_TAILS,
)

_CLASSES = {
    "time": TIMES,
    "place": PLACES,
    "city": CITIES,
    "adj": ADJS,
    "n": NAMES,
    "b": NAMES,
    "noun": list(NOUNS),
    "nouns": PLURALS,
    "prep": PREPS,
    "action": ACTIONS,
    "color": COLORS,
    "thing": THINGS,
    "sb": SURNAMES,
}
LIST_POOLS = (NAMES, SURNAMES, CITIES, COLORS + THINGS + ADJS)


def _alt(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) + ")"


def _pattern(template: str, **extra: str) -> str:
    """A template's regular expression: each {field} stands for its word class (or for ``extra[field]``)."""
    parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, ...
    return "".join(
        re.escape(p) if i % 2 == 0 else extra[p] if p in extra else _alt(_CLASSES[p])
        for i, p in enumerate(parts)
    )


def _any(templates, **extra: str) -> str:
    return "(?:" + "|".join(_pattern(t, **extra) for t in templates if t) + ")"


@functools.cache
def _grammar() -> dict[str, re.Pattern]:
    lead = f"(?:{_any(LEADS)} )?"
    full = f"{_alt(NAMES)} {_alt(SURNAMES)}"
    people = f"{full}(?: , {full})* and {full}"
    nouns = _alt(list(NOUNS) + list(PLURALS))
    noun_phrase = f"the(?: {_alt(ADJS)})? {nouns}"
    rc = f"that (?:we|i|{_alt(NAMES)}|the {nouns}) {_alt(RC_VERBS)}"
    fact = _any(FACT.values(), v=f"(?:{_alt(CITIES)}|{_alt(COLORS)})", t=_alt(THINGS))
    again = _any(AGAIN_LEFT.values(), X=full, lead=_any(INDUCTION_LEADS))
    again_right = f"(?: {_any(AGAIN_RIGHT.values(), sb=_alt(SURNAMES))})?"
    sounds = _alt(SOUNDS)
    cloze_lead = f"(?:{_any(CLOZE_LEADS)} )?"
    cloze_tail = f"(?: {_any(CLOZE_TAILS)})?"
    animal = f"(?:the|a)(?: {_alt(ADJS)})? (?P<animal>{_alt(ANIMALS)})"
    return {
        "fact": re.compile(f"{lead}{fact}(?: and {fact})*(?: {_any(FACT_TAILS.values())})?"),
        "intro": re.compile(lead + _any((t[:-2] for t in INTROS), people=people)),
        "again": re.compile(again + again_right),
        "agreement": re.compile(
            f"(?:{_any(AGREEMENT_LEADS)} )?the(?: {_alt(ADJS)})? (?P<subject>{nouns})"
            f"(?: (?:{_alt(PREPS)} {noun_phrase}|{rc})){{0,3}} (?P<verb>is|are) {_any(VERB_TAILS.values())}"
        ),
        "cloze": re.compile(
            f"{cloze_lead}{animal}(?: {_any(MIDDLES.values())}){{0,2}} (?P<sound>{sounds}){cloze_tail}"
        ),
        "cloze_seen": re.compile(
            f"{cloze_lead}(?:we saw|we heard|{_alt(NAMES)} saw) {animal}"
            f"(?: near the {_alt(PLACES)}| at {_alt(TIMES)})?"
        ),
        "it": re.compile(f"it (?P<sound>{sounds}){cloze_tail}"),
        "filler": re.compile(lead + _any(f[:-2] for f in FILLERS)),
    }


def sentences(text: str) -> list[str]:
    """A passage's sentences, each without its final "."."""
    return [s.strip() for s in f" {text} ".split(" . ") if s.strip()]


def well_formed(text: str) -> bool:
    """Whether every sentence of ``text`` is one the grammar produces, with its agreement and sound right.

    Checks syntax (each sentence matches a production and ends with "."), subject-verb number, that each animal
    makes its own sound (also "it SOUND" after "we saw the ANIMAL"), and that a list said twice is repeated
    word for word. Facts' consistency across sentences is not checked (a generated passage may state new ones).
    """
    g = _grammar()
    words = text.split()
    if not words or words[-1] != ".":
        return False
    sents = sentences(text)
    i, seen_animal = 0, None
    while i < len(sents):
        sent, expect, seen_animal = sents[i], seen_animal, None
        i += 1
        if expect is not None and (m := g["it"].fullmatch(sent)):
            if m["sound"] != ANIMAL_SOUNDS[expect]:
                return False
        elif m := g["agreement"].fullmatch(sent):
            if (m["verb"] == "are") != (m["subject"] in PLURALS):
                return False
        elif m := g["cloze"].fullmatch(sent):
            if m["sound"] != ANIMAL_SOUNDS[m["animal"]]:
                return False
        elif m := g["cloze_seen"].fullmatch(sent):
            seen_animal = m["animal"]
        elif any(g[k].fullmatch(sent) for k in ("fact", "intro", "again", "filler")):
            pass
        elif 3 <= len(items := sent.split()) <= 7 and any(set(items) <= set(p) for p in LIST_POOLS):
            if i >= len(sents) or sents[i] != sent:  # a list is said twice
                return False
            i += 1
        else:
            return False
    return True
