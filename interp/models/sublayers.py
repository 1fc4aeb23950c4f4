"""One meaning for the sublayer hook names on every family.

``blocks.{i}.hook_attn_out`` is the attention sublayer's own output: what it adds to the residual stream,
before any LayerNorm (the output projection's result). ``blocks.{i}.hook_resid_mid`` is the residual stream
between the attention and MLP sublayers. Pre-LN families (GPT-2, GPT-NeoX, Llama, Qwen2, OPT) already read
so. In post-LN families (BERT, RoBERTa) the engine's attention module ends with LayerNorm(residual +
attention), so its output is the residual stream, not the attention's contribution; and the input of the
block's second LayerNorm, where ``hook_resid_mid`` points, is the residual plus the MLP's output. Both are
re-pointed here (tests/test_parity.py checks every family against the Hugging Face modules).
"""

from __future__ import annotations

from typing import Any

POST_LN = frozenset({"bert", "roberta"})
"""Model types whose blocks apply LayerNorm after each residual addition."""


def point_sublayer_hooks(bridge: Any) -> None:
    """Re-point ``hook_attn_out`` (every family) and ``hook_resid_mid`` (post-LN families) on each block."""
    model_type = getattr(getattr(bridge.original_model, "config", None), "model_type", None)
    for block in getattr(bridge, "blocks", []):
        attn = getattr(block, "attn", None)
        proj = getattr(attn, "o", None)
        if proj is None or not hasattr(proj, "hook_out"):
            continue
        aliases = {**block.hook_aliases, "hook_attn_out": "attn.o.hook_out"}
        if model_type in POST_LN:
            aliases["hook_resid_mid"] = "attn.hook_out"
        block.hook_aliases = aliases  # the engine re-resolves aliases when a block's table changes
        object.__setattr__(block, "hook_attn_out", proj.hook_out)
        if model_type in POST_LN:
            object.__setattr__(block, "hook_resid_mid", attn.hook_out)
