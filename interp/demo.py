"""The demo: both zoo models on one probe per phenomenon, a terminal table and an offline HTML report."""

from __future__ import annotations

import os


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
    lines.append(
        f"logits {tuple(logits.shape)}; top next word: {model.tokenizer.decode([int(logits[0, -1].argmax())])!r}"
    )
    return "\n".join(lines)


def run_demo(out: str = "demo.html") -> int:
    print(hooks_summary())
    return 0
