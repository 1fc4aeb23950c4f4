"""decompose (every head, MLP, embedding and bias, answer minus contrast) vs one plain forward pass, on a
gpt2-small-shaped random model (median of alternating runs, one thread)."""

from __future__ import annotations

import torch

from benchmarks.common import alternating_medians, gpt2_small_folder, words


def run(T: int = 512, repeats: int = 7) -> list[dict]:
    from transformers import AutoModelForCausalLM

    import interp

    folder = gpt2_small_folder()
    model = interp.load(folder)
    plain = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    tokens = model.to_tokens(words(T - 1))
    with torch.no_grad():
        top2 = plain(tokens).logits[0, -1].topk(2).indices.tolist()

    def hf() -> None:
        with torch.no_grad():
            plain(tokens)

    def ours() -> None:
        interp.decompose(model, tokens, answer=top2[0], contrast=top2[1])

    t = alternating_medians({"hf": hf, "decompose": ours}, repeats=repeats)
    r = interp.decompose(model, tokens, answer=top2[0], contrast=top2[1])
    assert len(r.labels) > model.n_layers * model.n_heads and abs(r.approximation_error) < 1e-3
    ratio = t["decompose"] / t["hf"]
    return [
        {
            "benchmark": f"decompose, {len(r.labels)} components (gpt2-small shape, T={T}) vs one plain HF forward",
            "measured": f"{t['decompose'] * 1e3:.0f} ms vs {t['hf'] * 1e3:.0f} ms (sum-rule error "
            f"{abs(r.approximation_error):.1e})",
            "ratio": ratio,
            "goal": "<= 1.5x",
            "met": ratio <= 1.5,
        }
    ]
