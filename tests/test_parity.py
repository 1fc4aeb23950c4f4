"""The engine reproduces Hugging Face exactly for every supported architecture (random tiny models, offline)."""

import numpy as np
import pytest
import torch
from conftest import ARCHS, tiny_config

from interp.models.families import BY_TYPE, FAMILIES

TEXT = "anna lives in oslo . ben lives in rome . anna lives in"


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_resid_and_patterns_match_hf(arch, tiny_model, tiny_folder):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    m = tiny_model(arch)
    assert m.kind == BY_TYPE[arch].kind
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
        if arch == "modernbert" and i == m.n_layers - 1:
            resid = m.bridge.final_norm(resid)  # likewise the pre-LN encoder, after its own final norm
        assert (resid - expected).abs().max() <= 1e-4, f"resid_post {i}"
        assert (cache[f"blocks.{i}.attn.hook_pattern"] - ref.attentions[i]).abs().max() <= 1e-5, (
            f"pattern {i}"
        )
    # the lens's readout of the last residual stream is the model's own logits
    final = cache[f"blocks.{m.n_layers - 1}.hook_resid_post"]
    assert (m.decode_resid(final) - ref.logits).abs().max() <= 1e-4


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


# The attention sublayer's own output in each family's Hugging Face module tree (what it adds to the residual
# stream, before any LayerNorm), and the module whose output is the residual between the two sublayers.
ATTENTION_OUTPUT = {
    "gpt2": lambda hf, i: hf.transformer.h[i].attn,
    "gpt_neox": lambda hf, i: hf.gpt_neox.layers[i].attention,
    "llama": lambda hf, i: hf.model.layers[i].self_attn,
    "qwen2": lambda hf, i: hf.model.layers[i].self_attn,
    "opt": lambda hf, i: hf.model.decoder.layers[i].self_attn,
    "bert": lambda hf, i: hf.bert.encoder.layer[i].attention.output.dense,
    "roberta": lambda hf, i: hf.roberta.encoder.layer[i].attention.output.dense,
    "mistral": lambda hf, i: hf.model.layers[i].self_attn,
    "gemma": lambda hf, i: hf.model.layers[i].self_attn,
    "phi3": lambda hf, i: hf.model.layers[i].self_attn,
    # a norm on the attention's output before the residual addition: what is added is that norm's output
    "gemma2": lambda hf, i: hf.model.layers[i].post_attention_layernorm,
    "gemma3_text": lambda hf, i: hf.model.layers[i].post_attention_layernorm,
    "gemma3": lambda hf, i: hf.model.language_model.layers[i].post_attention_layernorm,
    "olmo2": lambda hf, i: hf.model.layers[i].post_attention_layernorm,
    "distilbert": lambda hf, i: hf.distilbert.transformer.layer[i].attention,
    "electra": lambda hf, i: hf.electra.encoder.layer[i].attention.output.dense,
    "modernbert": lambda hf, i: hf.model.layers[i].attn,
}
POST_LN_MID = {  # post-LN: LayerNorm(residual + attention) is the residual stream between the sublayers
    "bert": lambda hf, i: hf.bert.encoder.layer[i].attention,
    "roberta": lambda hf, i: hf.roberta.encoder.layer[i].attention,
    "distilbert": lambda hf, i: hf.distilbert.transformer.layer[i].sa_layer_norm,
    "electra": lambda hf, i: hf.electra.encoder.layer[i].attention,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_attn_out_is_the_attention_sublayers_own_output(arch, tiny_model):
    import interp

    m = tiny_model(arch)
    hf = m.bridge.original_model
    seen: dict[str, torch.Tensor] = {}

    def keep(key):
        return lambda mod, args, out: seen.__setitem__(
            key, (out[0] if isinstance(out, tuple) else out).detach()
        )

    handles = []
    for i in range(m.n_layers):
        handles.append(ATTENTION_OUTPUT[arch](hf, i).register_forward_hook(keep(f"attn{i}")))
        if arch in POST_LN_MID:
            handles.append(POST_LN_MID[arch](hf, i).register_forward_hook(keep(f"mid{i}")))
    names = [f"blocks.{i}.hook_attn_out" for i in range(m.n_layers)]
    names += [
        f"blocks.{i}.hook_resid_mid"
        for i in range(m.n_layers)
        if f"blocks.{i}.hook_resid_mid" in m.hook_names()
    ]
    try:
        _, cache = m.run_with_cache(TEXT, names=names)
    finally:
        for h in handles:
            h.remove()
    for i in range(m.n_layers):
        torch.testing.assert_close(cache[f"blocks.{i}.hook_attn_out"], seen[f"attn{i}"], atol=1e-6, rtol=0)
        assert not torch.allclose(
            cache[f"blocks.{i}.hook_attn_out"], cache.get(f"blocks.{i}.hook_resid_mid", seen[f"attn{i}"] + 1)
        )
        if arch in POST_LN_MID:
            torch.testing.assert_close(
                cache[f"blocks.{i}.hook_resid_mid"], seen[f"mid{i}"], atol=1e-6, rtol=0
            )
    # patching attn_out now moves the answer through the attention's own contribution, not the residual
    if m.kind == "bidirectional":
        r = interp.patch(
            m, "anna lives in [MASK] .", "ben lives in [MASK] .", hook="attn_out", progress=False
        )
        s = interp.patch(
            m, "anna lives in [MASK] .", "ben lives in [MASK] .", hook="resid_mid", progress=False
        )
        assert not np.allclose(r.restored, s.restored)


def test_every_family_has_a_tiny_model_and_its_tables():
    """A family added to FAMILIES alone fails here: the parity tests are parametrised from FAMILIES, and each
    needs a tiny config of that model_type and its sublayer tables."""
    assert ARCHS == [f.model_type for f in FAMILIES]
    for family in FAMILIES:
        config, cls = tiny_config(family.model_type, 64)
        assert config.model_type == family.model_type, family.model_type
        assert cls.__name__.endswith("ForMaskedLM") == (family.kind == "bidirectional"), cls.__name__
    assert set(ATTENTION_OUTPUT) == set(ARCHS)
    assert set(POST_LN_MID) == {f.model_type for f in FAMILIES if f.post_ln}


@pytest.mark.parametrize("arch", [a for a in ARCHS if not BY_TYPE[a].post_ln])
def test_sublayer_outputs_add_up_to_the_residual_stream(arch, tiny_model):
    """Pre-LN families (norms on sublayer outputs included): resid_mid = resid_pre + attn_out and resid_post =
    resid_mid + mlp_out (both sublayers added at once in parallel blocks, GPT-NeoX), so patching or decomposing
    a sublayer's output means what it adds."""
    m = tiny_model(arch)
    kinds = ["resid_pre", "attn_out", "mlp_out", "resid_post"]
    parallel = "blocks.0.hook_resid_mid" not in m.hook_names()
    kinds += [] if parallel else ["resid_mid"]
    names = [f"blocks.{i}.hook_{k}" for i in range(m.n_layers) for k in kinds]
    _, cache = m.run_with_cache(TEXT if m.kind == "causal" else "anna lives in [MASK] .", names=names)
    for i in range(m.n_layers):
        c = {k: cache[f"blocks.{i}.hook_{k}"] for k in kinds}
        mid = c["resid_pre"] + c["attn_out"]
        if not parallel:
            torch.testing.assert_close(mid, c["resid_mid"], atol=1e-5, rtol=0)
        torch.testing.assert_close(mid + c["mlp_out"], c["resid_post"], atol=1e-5, rtol=0)


def test_the_readout_soft_caps_like_the_model(tiny_model, monkeypatch):
    """Gemma 2 caps its logits (cap * tanh(logit / cap)); the lens's readout of the residual stream does too."""
    m = tiny_model("gemma2")
    # A cap of 0.1 (30 in the config), so that it bends the tiny model's small logits visibly.
    monkeypatch.setattr(m.bridge.original_model.config, "final_logit_softcapping", 0.1)
    logits, cache = m.run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
    assert logits.abs().max() <= 0.1
    torch.testing.assert_close(m.decode_resid(cache["blocks.1.hook_resid_post"]), logits, atol=1e-6, rtol=0)
