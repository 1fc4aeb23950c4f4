"""The engine reproduces Hugging Face exactly for every supported architecture (random tiny models, offline)."""

import pytest
import torch
from conftest import ARCHS

TEXT = "anna lives in oslo . ben lives in rome . anna lives in"


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_resid_and_patterns_match_hf(arch, tiny_model, tiny_folder):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    m = tiny_model(arch)
    assert m.kind == ("bidirectional" if arch in ("bert", "roberta") else "causal")
    tokens = m.to_tokens(TEXT)
    # An independent copy of the same weights, loaded by transformers alone.
    auto = AutoModelForCausalLM if m.kind == "causal" else AutoModelForMaskedLM
    hf = auto.from_pretrained(tiny_folder(arch), attn_implementation="eager").eval()
    with torch.no_grad():
        ref = hf(tokens, output_hidden_states=True, output_attentions=True)
    names = [f"blocks.{i}.hook_resid_post" for i in range(m.n_layers)]
    names += [f"blocks.{i}.attn.hook_pattern" for i in range(m.n_layers)]
    logits, cache = m.run_with_cache(tokens, names=names)
    assert logits.shape == (1, tokens.shape[1], m.d_vocab)
    assert (logits - ref.logits).abs().max() <= 1e-4
    for i in range(m.n_layers):
        resid = cache[f"blocks.{i}.hook_resid_post"]
        expected = ref.hidden_states[i + 1]
        if m.kind == "causal" and i == m.n_layers - 1:
            # Pre-LN models report the last hidden state after the final norm.
            resid = m.bridge.ln_final(resid)
        assert (resid - expected).abs().max() <= 1e-4, f"resid_post {i}"
        assert (cache[f"blocks.{i}.attn.hook_pattern"] - ref.attentions[i]).abs().max() <= 1e-5, (
            f"pattern {i}"
        )


@pytest.mark.parametrize("arch", ARCHS)
def test_patterns_are_distributions_and_causal_ones_masked(arch, tiny_model):
    m = tiny_model(arch)
    _, cache = m.run_with_cache(TEXT, names=[f"blocks.{i}.attn.hook_pattern" for i in range(m.n_layers)])
    for i in range(m.n_layers):
        p = cache[f"blocks.{i}.attn.hook_pattern"][0]  # (heads, T, T)
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5, rtol=0)
        upper = torch.triu(torch.ones_like(p[0], dtype=torch.bool), diagonal=1)
        if m.kind == "causal":
            assert p[:, upper].abs().max() == 0
        else:
            assert p[:, upper].sum() > 0
