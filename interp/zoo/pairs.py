"""Minimal pairs from the zoo's grammar (version 2, the one the shipped models learned).

Each pair is a held-out evaluation probe (:func:`interp.zoo.corpus.probes`, a construction training never
produced) filled twice: with its right answer (the good sentence) and with a wrong word of the same class (the
bad one). The two differ in that one word:

- ``agreement``: the verb after a subject and attractors of the other number (``is`` for ``are``);
- ``left_recall``: a fact asked again with another city or colour than the one stated;
- ``induction``: a full name repeated with another surname than the one it was introduced with;
- ``right_cloze``: an animal before a sound only another animal makes.

The grammar has one determiner for both numbers ("the"), so it has no determiner-noun number pairs. The bad
word never occurs elsewhere in the passage (no word copied from the context can make it right). The same seed
gives the same pairs. :data:`EXAMPLE_FILE` holds a few of them in BLiMP's JSONL format.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

EXAMPLE_FILE = Path(__file__).with_name("minimal_pairs.jsonl")
"""A BLiMP-format JSONL file of zoo minimal pairs (``write_example`` made it: seed 0, 5 per phenomenon)."""
TERMS = {
    "agreement": "subject-verb agreement across attractors",
    "left_recall": "recall of a stated fact",
    "induction": "repetition of a full name",
    "right_cloze": "animal named by the sound after it",
}
"""Each phenomenon's ``linguistics_term`` in a BLiMP record."""


@dataclass(frozen=True)
class MinimalPair:
    """Two sentences that differ in one word: the grammar's (``good``) and a wrong word's (``bad``)."""

    good: str
    bad: str
    phenomenon: str
    construction: str


def minimal_pairs(seed: int = 0, n_per_kind: int = 20) -> list[MinimalPair]:
    """``n_per_kind`` minimal pairs of each phenomenon (see the module docstring), on held-out constructions."""
    from interp.zoo import corpus

    classes = {
        "agreement": ("is", "are"),
        "left_recall": (*corpus.CITIES, *corpus.COLORS),
        "induction": tuple(corpus.SURNAMES),
        "right_cloze": corpus.ANIMALS,
    }
    out = []
    for probe in corpus.probes(seed=seed, n_per_kind=n_per_kind):
        rng = random.Random(f"pairs-{seed}-{probe.text}")
        words = probe.text.split()
        pool = [w for w in _same_class(probe.answer, classes[probe.phenomenon], corpus) if w not in words]
        pool = [w for w in pool if w != probe.answer]
        bad = rng.choice(pool)
        out.append(
            MinimalPair(
                probe.text.replace(corpus.SLOT, probe.answer),
                probe.text.replace(corpus.SLOT, bad),
                probe.phenomenon,
                probe.construction,
            )
        )
    return out


def _same_class(answer: str, words: tuple[str, ...], corpus) -> list[str]:
    """The words that may stand where ``answer`` stands: a city for a city, a colour for a colour."""
    for group in (corpus.CITIES, corpus.COLORS):
        if answer in group:
            return list(group)
    return list(words)


def records(pairs: list[MinimalPair]) -> list[dict]:
    """The pairs as BLiMP records (``UID``: the phenomenon; ``field``: ``"zoo"``)."""
    return [
        {
            "sentence_good": p.good,
            "sentence_bad": p.bad,
            "UID": p.phenomenon,
            "field": "zoo",
            "linguistics_term": TERMS[p.phenomenon],
            "pair_id": i,
            "construction": p.construction,
        }
        for i, p in enumerate(pairs)
    ]


def write_example(path: Path = EXAMPLE_FILE, seed: int = 0, n_per_kind: int = 5) -> Path:
    """Write the example file (one JSON record per line)."""
    lines = [json.dumps(r, separators=(", ", ": ")) for r in records(minimal_pairs(seed, n_per_kind))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


__all__ = ["EXAMPLE_FILE", "MinimalPair", "minimal_pairs", "records", "write_example"]
