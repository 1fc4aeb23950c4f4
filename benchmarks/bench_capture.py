"""Capture of every attention pattern and residual stream vs a plain HF forward and TransformerLens's own
run_with_cache, on a gpt2-small-shaped random model (median of alternating runs, one thread)."""

from __future__ import annotations

import torch

from benchmarks.common import alternating_medians, gpt2_small_folder, words


def run(T: int = 128, repeats: int = 11) -> list[dict]:
    from transformers import AutoModelForCausalLM

    import interp

    folder = gpt2_small_folder()
    model = interp.load(folder)
    plain = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    tokens = model.to_tokens(words(T - 1))
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(model.n_layers)]
    names += [f"blocks.{i}.hook_resid_post" for i in range(model.n_layers)]

    def hf() -> None:
        with torch.no_grad():
            plain(tokens)

    def ours() -> None:
        model.run_with_cache(tokens, names=names)

    def tl() -> None:
        with torch.no_grad():
            model.bridge.run_with_cache(tokens, names_filter=names)

    t = alternating_medians({"hf": hf, "interp": ours, "tl": tl}, repeats=repeats)
    _, cache = model.run_with_cache(tokens, names=names)
    assert len(cache) == len(names)
    return [
        {
            "benchmark": f"capture patterns + resid (gpt2-small shape, T={T}) vs plain HF forward",
            "measured": f"{t['interp'] * 1e3:.0f} ms vs {t['hf'] * 1e3:.0f} ms",
            "ratio": t["interp"] / t["hf"],
            "goal": "<= 1.10x",
            "met": t["interp"] / t["hf"] <= 1.10,
        },
        {
            "benchmark": "same capture vs TransformerLens bridge.run_with_cache",
            "measured": f"{t['interp'] * 1e3:.0f} ms vs {t['tl'] * 1e3:.0f} ms",
            "ratio": t["interp"] / t["tl"],
            "goal": "(peer)",
            "met": None,
        },
    ]
