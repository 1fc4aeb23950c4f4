"""One meaning for the sublayer hook names on every family.

``blocks.{i}.hook_attn_out`` is the attention sublayer's own output: what it adds to the residual stream. In
most families that is the output projection's result. Where a norm is applied to the attention's output before
it is added (Gemma 2 and 3, OLMo 2: the engine's ``ln1_post``) it is that norm's output, and likewise
``hook_mlp_out`` is the output of the MLP's norm (``ln2_post``). ``blocks.{i}.hook_resid_mid`` is the residual
stream between the attention and MLP sublayers (OLMo 2, with no norm before its MLP: the MLP's input).

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


def sublayer_targets(block: Any, model_type: str | None) -> dict[str, str]:
    """Hook name -> the hook point it names on ``block``, wherever the engine's default is not that."""
    targets = {"hook_attn_out": "ln1_post.hook_out" if hasattr(block, "ln1_post") else "attn.o.hook_out"}
    if hasattr(block, "ln2_post"):
        targets["hook_mlp_out"] = "ln2_post.hook_out"
        if not hasattr(block, "ln2"):  # OLMo 2: the MLP reads the residual stream itself, unnormalised
            targets["hook_resid_mid"] = "mlp.hook_in"
    if model_type in POST_LN:
        targets["hook_resid_mid"] = "ln1.hook_out"
    return targets


def point_sublayer_hooks(bridge: Any) -> None:
    """Point ``hook_attn_out``, ``hook_resid_mid`` (and ``hook_mlp_out`` after an output norm) of each block
    at the sublayers they name, whatever the engine's tables hold now (it may have rebuilt them)."""
    model_type = getattr(getattr(bridge.original_model, "config", None), "model_type", None)
    for block in getattr(bridge, "blocks", []):
        proj = getattr(getattr(block, "attn", None), "o", None)
        if proj is None or not hasattr(proj, "hook_out"):
            continue
        targets = sublayer_targets(block, model_type)
        block.hook_aliases = {**block.hook_aliases, **targets}  # the engine re-resolves aliases on assignment
        for name, path in targets.items():
            object.__setattr__(block, name, block.get_submodule(path))
