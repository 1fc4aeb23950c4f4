"""Zoo grammar v3: the toy world of :mod:`interp.zoo.corpus`, with each phenomenon in many syntactic
environments, freely combined, in texts of up to about 200 words (the public shape of ``corpus``, so training
and evaluation switch by changing one import).

Design
------
v2's models were perfect on v2's own held-out constructions and 53-83% on hand-written probes in other frames:
they had learned the templates. v3 grows breadth, not templates (builders: :mod:`interp.zoo.constructions_v3`,
:mod:`interp.zoo.copying_v3`, :mod:`interp.zoo.cues_v3`):

- ``left_recall``: facts in several forms (plain, cleft "it is in oslo that hana lives", inverted "in oslo
  lives hana", pair "anna and ben live in rome", a pronoun follow-up "anna has a car . it is red", a relative
  clause "the car that anna has is red", two attributes "ben has a green hat and a blue cup", mixed "ben lives
  in rome and has a red car"), full or short names in the fact and in the query independently; queries in
  several syntaxes (plain, parenthetical "rosa , i think , lives in", relative clause "the car that anna has
  is", cleft, coordinated verb phrases, questions "where does anna live ? in ___", "what color is the cup that
  ben has ? it is ___", the second of two attributes "ben has a green hat and a ___ cup").
- ``induction``: a full name repeated in any role (subject at the start, after a lead, after a clause and
  "and", coordinated with another name, object of "saw"/"met"/"talked to"/"with", after "of", inside a
  relative clause) after 0-3 sentences, among them facts about other people ("omar lives in rome .").
- ``agreement``: subjects that are noun phrases, coordinated noun phrases ("the key and the box" -> are),
  names ("anna", "anna and ben"), quantified ("one key", "one of the keys", "all the keys", "two keys"), or
  inverted after the verb ("here are the keys to the box"); 0-3 prepositional phrases, relative clauses (one
  may nest another) and parentheticals between subject and verb.
- ``right_cloze``: the animal fixed by its sound after it (0-2 middles), after a coordinated first verb ("the
  dog sat down and barked"), one to three sentences later ("we saw a dog . ... it barked"), or before it ("the
  animal that barked was a dog", also sentences apart): the cue on either side, at sentence and paragraph
  distance.

A passage concatenates pieces of every kind and filler up to ``max_words`` (200 by default; the models'
context grows to 256 positions), so a slot can sit anywhere; no sentence is said twice in a passage (a list
said twice excepted) and no name, noun, thing, animal, place or time twice in a sentence, which the strict
judge (:func:`well_formed`, :mod:`interp.zoo.judge_v3`) also demands.

Held out
--------
A slot's *construction* is its five-word window in word classes, ``phenomenon:L2 L1 ___ R1 R2`` (names N,
surnames S, cities C, colours COL, things T, nouns n (either number), adjectives ADJ, places P, times TIME,
animals A, sounds SND; other words as they are; the window stops at a sentence end), computed by
:func:`construction`. :data:`HELD_OUT` lists five per phenomenon, each a new environment in a new combination
(a relative-clause query before an aside, the second of two attributes before "here", the short answer to a
question, a parenthetical before "very", coordinated names before "at the", "one key" before "in", an inverted
"here ___ two keys", a nested relative clause before "in", a surname after "of" before "at the", after "with"
before an aside, after a comma before "smiled" or "has a", a coordinated name before a parenthetical, an
adjective and a coordinated first verb before the sound, a cue before the slot and an aside after it, ...).
Training text never holds a held-out window anywhere (a piece that would is drawn again), each probe of
:func:`probes` has one at its slot, and both halves of every held-out window occur in training in other
combinations (``tests/test_zoo_v3.py`` checks all three on a large sample). The models start from v2's weights
(the masked lineage from v1's), so no held-out window occurs in v1's or v2's training text either (tested
too). Why windows: a model that reads a phenomenon from its cause (the fact, the earlier full name, the
subject, the sound) answers in a local frame it never saw; one that memorised frames does not. Each held-out
window joins a v3 environment to a continuation trained elsewhere, so the test is new combinations, not new
words.

Words added to the v2 vocabulary, each for the construction that needs it: "where", "does", "live", "?" (the
question "where does anna live ? in ___"; "live" also for the pair fact "anna and ben live in rome"), "what",
"color" (the question "what color is the cup that ben has ? it is ___"), "two" (the quantified plural subject
"two keys are"), "animal" (the cue before the slot: "the animal that barked was a ___")."""

from __future__ import annotations

import functools
import itertools
import json
import random
from dataclasses import dataclass

from interp.zoo import constructions_v3 as c3
from interp.zoo import copying_v3, corpus, cues_v3
from interp.zoo.constructions_v3 import Piece3 as Piece
from interp.zoo.constructions_v3 import Retry, World, sentences
from interp.zoo.judge_v3 import degenerate

GRAMMAR_VERSION = 3
SLOT = corpus.SLOT
PHENOMENA = corpus.PHENOMENA
NAMES, SURNAMES, CITIES, COLORS, THINGS = (
    corpus.NAMES,
    corpus.SURNAMES,
    corpus.CITIES,
    corpus.COLORS,
    corpus.THINGS,
)
ANIMAL_SOUNDS, ANIMALS, SOUNDS, NOUNS, PLURALS = (
    corpus.ANIMAL_SOUNDS,
    corpus.ANIMALS,
    corpus.SOUNDS,
    corpus.NOUNS,
    corpus.PLURALS,
)
ADJS, PLACES, TIMES, PREPS = corpus.ADJS, corpus.PLACES, corpus.TIMES, corpus.PREPS
NEW_WORDS = ("where", "does", "live", "?", "what", "color", "two", "animal")
"""Words v3 adds to the v2 vocabulary (the module docstring says which construction needs each)."""
BANDS = {"0-50": (0, 50), "50-100": (50, 100), "100-200": (100, 200)}
"""Position bands of a probe's slot: the slot's word index in the text."""

_CLASSES = [
    (NAMES, "N"),
    (SURNAMES, "S"),
    (CITIES, "C"),
    (COLORS, "COL"),
    (THINGS, "T"),
    ((*NOUNS, *PLURALS), "n"),
    (ADJS, "ADJ"),
    (PLACES, "P"),
    (TIMES, "TIME"),
    (ANIMALS, "A"),
    (SOUNDS, "SND"),
]
WORD_CLASS = {w: label for words, label in _CLASSES for w in words}
CENTERS = {
    **{w: "left_recall" for w in (*CITIES, *COLORS)},
    **{w: "induction" for w in SURNAMES},
    "is": "agreement",
    "are": "agreement",
    **{w: "right_cloze" for w in ANIMALS},
}
"""The words whose windows are constructions, and the phenomenon each belongs to."""


def construction(words: list[str], i: int) -> str | None:
    """``phenomenon:L2 L1 ___ R1 R2``: the word classes around ``words[i]``, up to a sentence end ("." or "?",
    kept); None where ``words[i]`` is no phenomenon's answer word."""
    phenomenon = CENTERS.get(words[i])
    if phenomenon is None:
        return None
    left: list[str] = []
    for j in (i - 1, i - 2):
        w = words[j] if j >= 0 else "."
        left.insert(0, WORD_CLASS.get(w, w))
        if w in (".", "?"):
            break
    right: list[str] = []
    for j in (i + 1, i + 2):
        w = words[j] if j < len(words) else "."
        right.append(WORD_CLASS.get(w, w))
        if w in (".", "?"):
            break
    return f"{phenomenon}:{' '.join(left)} ___ {' '.join(right)}"


# ---- held-out constructions ----------------------------------------------------------------------------------
# Construction -> the builder choices that make it (evaluation checks the result with `construction`).
HELD_SPEC = {
    # a relative-clause query before an aside; the second of two attributes before "here"; the short answer to
    # a question; a city before ", we know"; a colour after "it is" (question answer or pronoun fact) before
    # "today"
    "left_recall:has is ___ , i": dict(kind="thing", query="rc", tail="i"),
    "left_recall:and a ___ T here": dict(kind="thing", query="second", tail="here"),
    "left_recall:? in ___ .": dict(kind="city", query="answer", tail="end"),
    "left_recall:lives in ___ , we": dict(kind="city", query="paren", aside="i think", tail="we"),
    "left_recall:it is ___ today .": dict(kind="thing", query="question", tail="today"),
    # a surname after "of" before a place; after "with" before an aside; after a lead and a comma before
    # "smiled" or a fact ("has a"); a coordinated second name before a parenthetical
    "induction:of N ___ at the": dict(left="of", right="place"),
    "induction:with N ___ , i": dict(left="with", right="aside", aside="i think"),
    "induction:, N ___ smiled .": dict(left="comma", right="smiled"),
    "induction:and N ___ , we": dict(left="coord", right="paren", aside="we know"),
    "induction:, N ___ has a": dict(left="comma", right="has"),
    # a parenthetical before "very"; coordinated names before a place; "one key" before a city; an inverted
    # "here ___ two keys"; a nested relative clause ("that the students that we saw left") before a city
    "agreement:think , ___ very ADJ": dict(
        inverted=False, mods=("pp", "paren"), aside="i think", tail="very"
    ),
    "agreement:and N ___ at the": dict(inverted=False, subject="name", plural=True, n_mods=0, tail="at"),
    "agreement:one n ___ in C": dict(
        inverted=False, subject="quant", plural=False, quant=0, n_mods=0, tail="in"
    ),
    "agreement:. here ___ two n": dict(
        inverted=True, subject="quant", plural=True, quant=0, where="here", n_mods=0
    ),
    "agreement:saw left ___ in C": dict(
        inverted=False, subject="np", mods=("rc2",), rcv="left", inner="saw", tail="in"
    ),
    # an adjective and a coordinated first verb before the sound; the cue before the slot and an aside after
    # it; ", we know ," after the animal; "at night/noon" after a seen animal; "a ADJ ___ ran to"
    "right_cloze:the ADJ ___ sat down": dict(frame="coord", det="the", adj=True, mids=(), verb="sat"),
    "right_cloze:was a ___ , i": dict(frame="left", adj=False, tail="i"),
    "right_cloze:. the ___ , we": dict(frame="mid", lead="", det="the", adj=False, mids=("we",)),
    "right_cloze:saw a ___ at TIME": dict(frame="next", seen="saw", det="a", adj=False, after="night"),
    "right_cloze:a ADJ ___ ran to": dict(frame="coord", det="a", adj=True, mids=(), verb="ran"),
}
HELD_OUT = frozenset(HELD_SPEC)


@dataclass(frozen=True)
class Probe(corpus.Probe):
    """A v3 evaluation item (fields of :class:`interp.zoo.corpus.Probe`, and): ``band``, the position band of
    the slot (:data:`BANDS`); ``environment``, what surrounds the slot beyond its window ("fact=cleft;query=rc;
    ...", "subject=coord;...", "frame=left;..."); ``sees_left``, whether the words before the slot alone fix the
    answer (False for an inverted subject or a cue after the slot: a causal model cannot see it)."""

    band: str = ""
    environment: str = ""
    sees_left: bool = True


# ---- passages --------------------------------------------------------------------------------------------------

BUILDERS = {
    "left_recall": c3.left_recall,
    "induction": copying_v3.induction,
    "repeat": copying_v3.repeat,
    "agreement": cues_v3.agreement,
    "right_cloze": cues_v3.right_cloze,
}
MIX = {
    "left_recall": 0.3,
    "induction": 0.22,
    "repeat": 0.04,
    "agreement": 0.18,
    "right_cloze": 0.16,
    "filler": 0.10,
}
"""Default share of each kind of piece in a passage (training may pass its own mix)."""


def _holds_held_out(words: list[str]) -> bool:
    return any(construction(words, i) in HELD_OUT for i, w in enumerate(words) if w in CENTERS)


def _piece(kind: str | None, rng: random.Random, world: World) -> Piece | None:
    """One training piece of ``kind`` (None: filler), or None where its draw failed a constraint."""
    try:
        piece = BUILDERS[kind](rng, world) if kind else Piece(c3.filler(rng, world), [], [])
    except Retry:
        return None
    return None if _holds_held_out(piece.words) or degenerate(" ".join(piece.words)) else piece


def passage(
    rng: random.Random,
    max_words: int = 200,
    mix: dict[str, float] | None = None,
    constructions: list | None = None,
    world: World | None = None,
) -> tuple[list[str], list[int]]:
    """One training passage of at most ``max_words`` words: (words, indices of probe-like slots).

    ``constructions``, a list, receives each slot's construction. No sentence is said twice (a list said twice
    excepted) and no held-out construction occurs anywhere."""
    mix = MIX if mix is None else mix
    if set(mix) - set(BUILDERS) - {"filler"}:
        raise ValueError(f"unknown sentence kinds {sorted(set(mix) - set(BUILDERS) - {'filler'})} in the mix")
    edges = list(itertools.accumulate(mix.get(kind, 0.0) for kind in BUILDERS))
    world = world or World(rng)
    words: list[str] = []
    slots: list[int] = []
    said: set[str] = set()
    for _ in range(400):
        r = rng.random()
        kind = next((k for k, edge in zip(BUILDERS, edges) if r < edge), None)
        piece = _piece(kind, rng, world)
        if piece is None:
            continue
        new = sentences(piece.words)
        if said & set(new) or (kind != "repeat" and len(set(new)) < len(new)):
            continue  # a sentence said twice: draw another piece
        if len(words) + len(piece.words) > max_words:
            if words:
                break
            continue  # a short budget can be smaller than the piece drawn: draw again
        slots += [len(words) + i for i in piece.slots]
        if constructions is not None:
            constructions += [c for i in piece.slots if (c := construction(piece.words, i))]
        said |= set(new)
        words += piece.words
    return words, slots


def generate(n: int, seed: int = 0, max_words: int = 200) -> list[str]:
    """``n`` training passages as strings; the same seed gives the same text."""
    rng = random.Random(seed)
    return [" ".join(passage(rng, max_words)[0]) for _ in range(n)]


# ---- evaluation ------------------------------------------------------------------------------------------------


def _filler(rng: random.Random, world: World) -> list[str]:
    """A filler sentence the strict judge accepts ("one morning gus ran to the market in the morning" is not)."""
    while degenerate(" ".join(words := c3.filler(rng, world))):
        pass
    return words


def _place(rng: random.Random, piece: Piece, band: str) -> tuple[list[str], int] | None:
    """The piece inside unrelated text (people other than the piece's) so that its probe slot's word index
    falls in ``band``; None where the piece is too long for the band."""
    lo, hi = BANDS[band]
    slot = piece.slots[piece.probe]
    if slot >= hi:
        return None
    own = set(piece.words)
    world = World(rng, avoid=own & set(NAMES))
    need = rng.randrange(max(0, lo - slot), hi - slot)
    prefix = passage(rng, max_words=need, world=world)[0] if need else []
    while len(prefix) + slot < lo:
        prefix += _filler(rng, world)
    if len(prefix) + slot >= hi or set(sentences(prefix)) & set(sentences(piece.words)):
        return None
    suffix: list[str] = []
    if rng.random() < 0.5 and len(prefix) + len(piece.words) < 190:
        suffix = _filler(rng, world)
    words = prefix + piece.words + suffix
    if len(set(sentences(words))) < len(sentences(words)):
        return None
    return words, len(prefix) + slot


def _eval_probe(rng, phenomenon: str, target: str, band: str, lead: str, gap: str) -> Probe:
    want = dict(HELD_SPEC[target])
    if phenomenon == "left_recall":
        want["lead"] = lead
    if phenomenon == "induction":
        want["gap"] = gap
    for _ in range(500):
        try:
            piece = BUILDERS[phenomenon](rng, World(rng, distinct=True), "eval", want)
        except Retry:
            continue
        slot = piece.slots[piece.probe]
        if construction(piece.words, slot) != target or degenerate(" ".join(piece.words)):
            continue
        try:
            placed = _place(rng, piece, band)
        except Retry:
            continue
        if placed is None:
            continue
        words, at = placed
        answer, words[at] = words[at], SLOT
        variant = ""
        if phenomenon == "left_recall" and lead != "random":
            variant = f"lead {lead}"
        if phenomenon == "induction" and gap != "random":
            variant = f"gap {gap}"
        return Probe(
            " ".join(words),
            answer,
            phenomenon,
            target,
            variant,
            band,
            piece.envs[piece.probe],
            piece.sees_left,
        )
    raise RuntimeError(f"no {target!r} probe in band {band} after 500 draws")


def probes(
    seed: int = 1234,
    n_per_kind: int = 50,
    phenomena: tuple[str, ...] = PHENOMENA,
    *,
    lead: str = "random",
    band: str | None = None,
    gap: str = "random",
) -> list[Probe]:
    """Held-out probes, ``n_per_kind`` of each phenomenon, each in a construction of :data:`HELD_OUT` (in turn).

    ``band``: the slot's position band (a key of :data:`BANDS`), or None: the bands in turn. ``lead`` (left
    recall, as in v2): "random", "none" (no lead word before the query) or "filler" (a plain sentence in its
    place). ``gap`` (induction): "random" (0-3 sentences between first mention and repeat), "none", or
    "unrelated" (exactly one fact about someone else, e.g. "omar lives in rome ."). A variant is recorded in
    ``Probe.variant``. The same arguments give the same probes.
    """
    if lead not in ("random", "none", "filler"):
        raise ValueError(f"lead must be 'random', 'none' or 'filler', not {lead!r}")
    if gap not in ("random", "none", "unrelated"):
        raise ValueError(f"gap must be 'random', 'none' or 'unrelated', not {gap!r}")
    if band is not None and band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)} or None, not {band!r}")
    unknown = set(phenomena) - set(PHENOMENA)
    if unknown:
        raise ValueError(f"unknown phenomena {sorted(unknown)}; known: {', '.join(PHENOMENA)}")
    out = []
    for ph in phenomena:
        rng = random.Random(f"probes-v3-{seed}-{ph}-{band}-{lead}-{gap}")
        held = sorted(c for c in HELD_OUT if c.startswith(ph + ":"))
        for i in range(n_per_kind):
            b = band or list(BANDS)[i % len(BANDS)]
            out.append(_eval_probe(rng, ph, held[i % len(held)], b, lead, gap))
    return out


def well_formed(text: str) -> bool:
    """The strict judge (:func:`interp.zoo.judge_v3.well_formed`): every sentence a v3 production with its
    agreement and cues right, and nothing degenerate (a name coordinated with itself, an item listed twice, a
    sentence said twice)."""
    from interp.zoo.judge_v3 import well_formed

    return well_formed(text)


@functools.cache
def vocabulary() -> frozenset[str]:
    """Every word v3 text may use: the shipped models' word-level vocabulary (grammar v2's words) and
    :data:`NEW_WORDS` (the tokenizer is retrained from v3 text when training switches to it)."""
    from interp.zoo import ZOO_DIR

    vocab = json.loads((ZOO_DIR / "tiny-causal" / "tokenizer.json").read_text())["model"]["vocab"]
    return frozenset(w for w in vocab if not w.startswith("[")) | frozenset(NEW_WORDS)
