"""One meaning for the sublayer hook names on every family.

``blocks.{i}.hook_attn_out`` is the attention sublayer's own output: what it adds to the residual stream. In
most families that is the output projection's result. Where a norm is applied to the attention's output before
it is added (Gemma 2 and 3, OLMo 2: the engine's ``ln1_post``) it is that norm's output, where the engine
already points it (as it points ``hook_mlp_out`` after ``ln2_post``). ``blocks.{i}.hook_resid_mid`` is the
residual stream between the attention and MLP sublayers.

In post-LN families (BERT, RoBERTa, DistilBERT, ELECTRA) a block is ``h = LN1(x + attn(x))``,
``x' = LN2(h + mlp(h))``. There the engine's attention module may end with LN1 (BERT's layout), so its output
is the residual stream rather than the attention's contribution, and ``hook_resid_mid`` points at LN2's input,
the residual plus the MLP's output. Both are re-pointed here: ``hook_attn_out`` to the output projection,
``hook_resid_mid`` to LN1's output (tests/test_parity.py checks every family against the Hugging Face modules).
"""

from __future__ import annotations

from typing import Any

from interp.models.families import FAMILIES

POST_LN = frozenset(f.model_type for f in FAMILIES if f.post_ln)
"""Model types whose blocks apply LayerNorm after each residual addition."""


def point_sublayer_hooks(bridge: Any) -> None:
    """Re-point ``hook_attn_out`` (every family without a post-sublayer norm) and ``hook_resid_mid``
    (post-LN families) on each block."""
    model_type = getattr(getattr(bridge.original_model, "config", None), "model_type", None)
    for block in getattr(bridge, "blocks", []):
        attn = getattr(block, "attn", None)
        proj = getattr(attn, "o", None)
        if proj is None or not hasattr(proj, "hook_out"):
            continue
        aliases = dict(block.hook_aliases)
        if not hasattr(block, "ln1_post"):  # else the engine's choice stands: the post-norm's output
            aliases["hook_attn_out"] = "attn.o.hook_out"
        if model_type in POST_LN:
            aliases["hook_resid_mid"] = "ln1.hook_out"
        block.hook_aliases = aliases  # the engine re-resolves aliases when a block's table changes
        if not hasattr(block, "ln1_post"):
            object.__setattr__(block, "hook_attn_out", proj.hook_out)
        if model_type in POST_LN:
            object.__setattr__(block, "hook_resid_mid", block.ln1.hook_out)
