"""The demo: both zoo models on one probe per phenomenon, a terminal table and one offline HTML report."""

from __future__ import annotations

import html
import os
from pathlib import Path


def _threads() -> None:
    import torch

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(min(2, torch.get_num_threads()))


def hooks_summary(name: str = "tiny-causal") -> str:
    """Hook points of a model, grouped, and the shapes of one cached forward pass."""
    import interp

    _threads()
    model = interp.load(name)
    text = "anna lives in oslo . ben lives in rome . anna lives in"
    logits, cache = model.run_with_cache(text)
    lines = [repr(model), f"{len(model.hook_names())} hook points; one forward pass on {text!r}:"]
    for hook_name in model.hook_names():
        if hook_name.startswith("blocks.") and not hook_name.startswith("blocks.0."):
            continue
        shape = tuple(cache[hook_name].shape) if hook_name in cache else "-"
        lines.append(f"  {hook_name:<40} {shape}")
    lines.append(f"  (blocks.1 .. blocks.{model.n_layers - 1} repeat the blocks.0 names)")
    top = model.tokenizer.decode([int(logits[0, -1].argmax())])
    lines.append(f"logits {tuple(logits.shape)}; top next word: {top!r}")
    return "\n".join(lines)


def summary_table(comparisons: list) -> str:
    """The time-view numbers of every comparison, one row per probe, as terminal text."""
    metrics = (
        "answer_prob",
        "top1_correct",
        "decision_depth",
        "attn_past_mass",
        "attn_future_mass",
        "attr_right_mass",
    )
    labels = ("p(answer)", "top-1 right", "decision depth", "attn past", "attn future", "attr right")
    head = f"{'phenomenon':<12} {'answer':<8} " + " ".join(f"{label:^14}" for label in labels)
    sub = f"{'':<12} {'':<8} " + " ".join(f"{'causal':>7}{'bidi':>7}" for _ in metrics)
    lines = [head, sub]
    for phenomenon, cmp in comparisons:
        cells = " ".join(
            f"{cmp.summary[m]['causal']:>7.2f}{cmp.summary[m]['bidirectional']:>7.2f}" for m in metrics
        )
        lines.append(f"{phenomenon:<12} {cmp.answer:<8} {cells}")
    return "\n".join(lines)


def run_demo(out: str = "demo.html") -> int:
    """Compare the two zoo models on two held-out probes per phenomenon; print the table; write the report."""
    import interp
    import widgets
    from interp.zoo import corpus

    _threads()
    causal, bidirectional = interp.load("tiny-causal"), interp.load("tiny-bidirectional")
    print(f"{causal!r}\n{bidirectional!r}\n")
    comparisons = []
    # The right-context cloze first: it is where the two ways of reading part.
    order = ("right_cloze", "agreement", "induction", "left_recall")
    for probe in corpus.probes(n_per_kind=2, phenomena=order):
        cmp = interp.compare(causal, bidirectional, probe.text, answer=probe.answer)
        comparisons.append((probe.phenomenon, cmp))
    print(
        "Time view: the causal model reads the slot from the prefix; the bidirectional one sees both sides."
    )
    print(summary_table(comparisons))
    # The detailed views explain a right-context probe that the bidirectional model answers (the table shows
    # every probe, misses included).
    cloze = [c for ph, c in comparisons if ph == "right_cloze"]
    right = next((c for c in cloze if c.summary["top1_correct"]["bidirectional"] == 1.0), cloze[0])
    items = [(f"{ph}: {c.probe}  (answer: {c.answer})", c) for ph, c in comparisons]
    items.sort(key=lambda item: item[1] is not right)  # the explained probe first, then the table's order
    items.append(("Attention of the causal model on the right-context probe", right.causal.attention))
    items.append(
        ("Attention of the bidirectional model on the right-context probe", right.bidirectional.attention)
    )
    items.append(("Logit lens of the bidirectional model", right.bidirectional.lens))
    items.append(("Attribution of the bidirectional model", right.bidirectional.attribution))
    agreement = next(c for ph, c in comparisons if ph == "agreement")
    clean = agreement.probe
    subject = clean.split()[1] if clean.split()[0] == "the" else None
    if subject is not None:
        swapped = corpus.NOUNS.get(subject) or {v: k for k, v in corpus.NOUNS.items()}[subject]
        corrupt = clean.replace(f"the {subject} ", f"the {swapped} ", 1)
        items.append(
            (
                f"Activation patching, causal model: {clean} vs {corrupt}",
                interp.patch(causal, clean, corrupt, progress=False),
            )
        )
        items.append(
            (
                f"Activation patching, bidirectional model: {clean} vs {corrupt}",
                interp.patch(bidirectional, clean, corrupt, progress=False),
            )
        )
    intro = (
        "<p>Two tiny models trained by interp on one toy world: a causal GPT-2 (reads in time) and a masked BERT "
        "(reads in space), on two held-out probes per phenomenon. Summary table:</p>"
        f'<pre class="interp-summary">{html.escape(summary_table(comparisons))}</pre>'
    )
    path = widgets.save_report(items, out, title="interp demo: causal vs bidirectional", intro=intro)
    print(f"\nwrote {Path(path).resolve()} (self-contained, opens offline)")
    return 0
