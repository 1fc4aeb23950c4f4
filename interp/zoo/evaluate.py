"""Held-out accuracy of the zoo models per phenomenon: ``python -m interp.zoo.evaluate``.

Causal models are scored on the word predicted after the prefix that ends before the slot (they never see
what follows); bidirectional models on the word predicted at the [MASK] that replaces the slot.
"""

from __future__ import annotations

import collections

import torch

from interp.zoo import corpus

# The accuracy each zoo model must reach per phenomenon (the causal model's right cloze has no bar: it cannot
# see the words that fix the answer).
BARS = {
    "causal": {"left_recall": 0.9, "induction": 0.9, "agreement": 0.9},
    "bidirectional": {"left_recall": 0.9, "induction": 0.9, "agreement": 0.9, "right_cloze": 0.9},
}


def margin(kind: str, acc: dict[str, float]) -> float:
    """How far the weakest phenomenon stands above its bar (negative: a bar is missed)."""
    return min(acc[ph] - bar for ph, bar in BARS[kind].items())


def accuracy(
    model, tokenizer, kind: str, probes, batch_size: int = 64, by: str = "phenomenon", choice: bool = False
) -> dict[str, float]:
    """Fraction of probes whose top-1 prediction at the slot is the answer, per phenomenon (or per ``by``:
    any field of the probes, e.g. "construction"). ``choice``: an agreement probe counts when its answer
    outranks the other number's verb form (:func:`prefers`), as the zoo v3 bars read agreement."""
    hits: dict[str, list[bool]] = collections.defaultdict(list)
    for p, row in zip(probes, slot_logits(model, tokenizer, kind, probes, batch_size)):
        chosen = prefers(tokenizer, p, row) if choice else None
        hits[getattr(p, by)].append(top1(tokenizer, p, row) if chosen is None else chosen)
    return {ph: sum(v) / len(v) for ph, v in hits.items()}


@torch.no_grad()
def slot_logits(model, tokenizer, kind: str, probes, batch_size: int = 64):
    """Per probe, the logits at its slot (d_vocab,), in order, read in batches."""
    model.eval()
    for start in range(0, len(probes), batch_size):
        chunk = probes[start : start + batch_size]
        if kind == "causal":
            texts = [p.text.split(corpus.SLOT)[0].strip() for p in chunk]
        else:
            texts = [p.text.replace(corpus.SLOT, tokenizer.mask_token) for p in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
        logits = model(**{k: v for k, v in enc.items() if k != "token_type_ids"}).logits  # (B, T, V)
        for row in range(len(chunk)):
            ids = enc["input_ids"][row]
            if kind == "causal":
                pos = int(enc["attention_mask"][row].sum()) - 1  # right padding: last real token
            else:
                pos = int((ids == tokenizer.mask_token_id).nonzero()[0, 0])
            yield logits[row, pos]


def correct(model, tokenizer, kind: str, probes, batch_size: int = 64) -> list[bool]:
    """Per probe: whether the top-1 prediction at the slot is the answer."""
    return [
        top1(tokenizer, p, row)
        for p, row in zip(probes, slot_logits(model, tokenizer, kind, probes, batch_size))
    ]


def top1(tokenizer, probe, row: torch.Tensor) -> bool:
    """Whether the slot's logits ``row`` rank the probe's answer first."""
    return int(row.argmax()) == tokenizer.convert_tokens_to_ids(probe.answer)


OTHER_FORM = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "have": "has"}
"""The verb form of the other number: an agreement probe's wrong answer."""


def prefers(tokenizer, probe, row: torch.Tensor) -> bool | None:
    """Whether the slot's logits ``row`` rank an agreement probe's answer above its other number's form (the
    choice between the two verb forms of Linzen et al. 2016 and Goldberg 2019), or None for a probe that is no
    agreement probe. Top-1 asks more: another word than either form (a verb, "talked") can fit a slot too."""
    other = OTHER_FORM.get(probe.answer) if probe.phenomenon == "agreement" else None
    if other is None:
        return None
    answer, wrong = tokenizer.convert_tokens_to_ids([probe.answer, other])
    return bool(row[answer] > row[wrong])


def table(results: dict[str, dict[str, float]], label: str = "phenomenon") -> str:
    """A plain-text table: one row per phenomenon (or construction), one column per model."""
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(len(label), *map(len, rows)) + 2
    lines = [f"{label:<{width}}" + "".join(f"{n:>20}" for n in names)]
    for row in rows:
        lines.append(f"{row:<{width}}" + "".join(f"{results[n][row]:>20.1%}" for n in names))
    return "\n".join(lines)


def zoo_models():
    """(name, kind, Hugging Face model, tokenizer) of each shipped zoo model (kind: how its probes are read)."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo import ZOO_DIR

    for name, kind, auto in (
        ("tiny-causal", "causal", AutoModelForCausalLM),
        ("tiny-bidirectional", "bidirectional", AutoModelForMaskedLM),
        ("tiny-diffusion", "bidirectional", AutoModelForMaskedLM),  # read as a masked LM, one slot at a time
    ):
        folder = ZOO_DIR / name
        yield name, kind, auto.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def main(n_per_kind: int = 200, seed: int = 1234, verbose: bool = True) -> dict[str, dict[str, float]]:
    """Held-out accuracy of both zoo models: per phenomenon, per construction (printed), left recall with the
    lead word removed or a filler sentence in its place, and on the hand-written probes in new frames.

    Returns ``{model: {phenomenon or variant: accuracy}}``."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    probes = corpus.probes(seed=seed, n_per_kind=n_per_kind)
    variants = {
        lead: corpus.probes(seed=seed, n_per_kind=n_per_kind, phenomena=("left_recall",), lead=lead)
        for lead in ("none", "filler")
    }
    from interp.zoo import handwritten

    results, constructions, leads, new_frames = {}, {}, {}, {}
    for name, kind, model, tok in zoo_models():
        results[name] = accuracy(model, tok, kind, probes)
        new_frames[name] = accuracy(model, tok, kind, handwritten.probes())
        constructions[name] = dict(sorted(accuracy(model, tok, kind, probes, by="construction").items()))
        leads[name] = {
            f"left_recall, lead {v}": accuracy(model, tok, kind, p)["left_recall"]
            for v, p in variants.items()
        }
    if verbose:
        print(f"held-out accuracy ({n_per_kind} probes per phenomenon, seed {seed}, held-out constructions)")
        print(table(results))
        print()
        print(table(constructions, "construction"))
        print()
        print(table(leads, "variant"))
        print()
        print("hand-written probes in new frames (interp.zoo.handwritten, 20 per phenomenon)")
        print(table(new_frames))
    return {
        name: {
            **results[name],
            **leads[name],
            **{f"{k}, hand-written": v for k, v in new_frames[name].items()},
        }
        for name in results
    }


if __name__ == "__main__":
    main()
