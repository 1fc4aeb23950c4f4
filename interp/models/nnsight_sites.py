"""Where the nnsight engine finds each hook point among a family's Hugging Face modules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """Where each hook point is among a family's Hugging Face modules."""

    layers: str
    attn: str
    out_proj: str
    mlp: str | None
    final_norm: str | None
    """The final norm before the unembedding (causal families); None: the masked-LM head decodes."""
    unembed: str
    pattern_first: bool = False
    """Whether the attention returns its pattern before the output projection runs (BERT's layout)."""


CAUSAL_LLAMA = Family("model.layers", "self_attn", "self_attn.o_proj", "mlp", "model.norm", "lm_head")
SITES: dict[str, Family] = {
    "gpt2": Family("transformer.h", "attn", "attn.c_proj", "mlp", "transformer.ln_f", "lm_head"),
    "llama": CAUSAL_LLAMA,
    "qwen2": CAUSAL_LLAMA,
    "mistral": CAUSAL_LLAMA,
    "gpt_neox": Family(
        "gpt_neox.layers", "attention", "attention.dense", "mlp", "gpt_neox.final_layer_norm", "lm_head"
    ),
    "bert": Family(
        "bert.encoder.layer",
        "attention.self",
        "attention.output.dense",
        "output.dense",  # the MLP's write before the block's norm (the bridge's hook_mlp_out)
        None,
        "cls",
        pattern_first=True,
    ),
    "roberta": Family(
        "roberta.encoder.layer",
        "attention.self",
        "attention.output.dense",
        "output.dense",  # the MLP's write before the block's norm (the bridge's hook_mlp_out)
        None,
        "lm_head",
        pattern_first=True,
    ),
}

POINTS = (
    "hook_resid_pre",
    "attn.hook_z",
    "hook_attn_out",
    "attn.hook_pattern",
    "hook_mlp_out",
    "hook_resid_post",
)
"""Per-block hook points this engine serves, in the order a forward pass reaches them (nnsight reads them in
that order)."""
