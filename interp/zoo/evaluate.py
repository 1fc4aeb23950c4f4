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
    "bidirectional": {"left_recall": 0.8, "induction": 0.8, "agreement": 0.9, "right_cloze": 0.9},
}


def margin(kind: str, acc: dict[str, float]) -> float:
    """How far the weakest phenomenon stands above its bar (negative: a bar is missed)."""
    return min(acc[ph] - bar for ph, bar in BARS[kind].items())


@torch.no_grad()
def accuracy(model, tokenizer, kind: str, probes, batch_size: int = 64) -> dict[str, float]:
    """Fraction of probes whose top-1 prediction at the slot is the answer, per phenomenon."""
    model.eval()
    hits: dict[str, list[bool]] = collections.defaultdict(list)
    for start in range(0, len(probes), batch_size):
        chunk = probes[start : start + batch_size]
        if kind == "causal":
            texts = [p.text.split(corpus.SLOT)[0].strip() for p in chunk]
        else:
            texts = [p.text.replace(corpus.SLOT, tokenizer.mask_token) for p in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
        logits = model(**{k: v for k, v in enc.items() if k != "token_type_ids"}).logits  # (B, T, V)
        for row, p in enumerate(chunk):
            ids = enc["input_ids"][row]
            if kind == "causal":
                pos = int(enc["attention_mask"][row].sum()) - 1  # right padding: last real token
            else:
                pos = int((ids == tokenizer.mask_token_id).nonzero()[0, 0])
            pred = int(logits[row, pos].argmax())
            hits[p.phenomenon].append(pred == tokenizer.convert_tokens_to_ids(p.answer))
    return {ph: sum(v) / len(v) for ph, v in hits.items()}


def table(results: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per phenomenon, one column per model."""
    names = list(results)
    phenomena = list(next(iter(results.values())))
    lines = [f"{'phenomenon':<14}" + "".join(f"{n:>20}" for n in names)]
    for ph in phenomena:
        lines.append(f"{ph:<14}" + "".join(f"{results[n][ph]:>20.1%}" for n in names))
    return "\n".join(lines)


def main(n_per_kind: int = 200, seed: int = 1234) -> dict[str, dict[str, float]]:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo import ZOO_DIR

    torch.set_num_threads(min(2, torch.get_num_threads()))
    from interp.zoo import handwritten

    probes = corpus.probes(seed=seed, n_per_kind=n_per_kind)
    results, new_frames = {}, {}
    for name, kind, auto in (
        ("tiny-causal", "causal", AutoModelForCausalLM),
        ("tiny-bidirectional", "bidirectional", AutoModelForMaskedLM),
    ):
        folder = ZOO_DIR / name
        model = auto.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        results[name] = accuracy(model, tok, kind, probes)
        new_frames[name] = accuracy(model, tok, kind, handwritten.probes())
    print(f"held-out accuracy ({n_per_kind} probes per phenomenon, seed {seed})")
    print(table(results))
    print("\nhand-written probes in new frames (interp.zoo.handwritten, 20 per phenomenon)")
    print(table(new_frames))
    return results


if __name__ == "__main__":
    main()
