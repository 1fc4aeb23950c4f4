"""decompose on the bridge engine: the activations and weights it splits the answer's logit into, read from the
TransformerBridge's components (every position kept; weights in float64 on the CPU)."""

from __future__ import annotations

from typing import Any

import torch

from interp.errors import InterpError
from interp.models import hooks as _hooks
from interp.models import placement as _placement
from interp.models.sublayers import POST_LN

FINAL_NORM = "ln_final"
"""The bridge's final normalisation: before the unembedding (causal), inside the masked-LM head (masked)."""
ENCODER_NORM = "final_norm"
"""A pre-norm encoder's norm after its last block, before the masked-LM head (ModernBERT)."""


class BridgeReader:
    """decompose's view of a bridge-engine model: the pieces it has, one forward pass, and its weights (float64,
    on the CPU). Another engine offers the same methods (:class:`interp.models.nnsight_decompose.NNsightReader`),
    from its ``decompose_reader()``."""

    def __init__(self, model: Any):
        self.model = model

    def parts(self) -> frozenset[str]:
        """The optional pieces of this model: embeddings, post-norm stack, sublayer norms, masked-LM head."""
        model = self.model
        children = {name for name, _ in model.bridge.named_children()}
        parts = children & {"pos_embed", "token_type_embed", "embed_ln", "embed_proj", "mlm_head", FINAL_NORM}
        parts |= children & {ENCODER_NORM}
        model_type = getattr(getattr(model.bridge.original_model, "config", None), "model_type", None)
        if model_type in POST_LN:
            parts |= {"post_norm"}
        if model.n_layers and hasattr(model.bridge.blocks[0], "ln1_post"):
            parts |= {
                "sublayer_norm"
            }  # Gemma 2/3, OLMo 2: a norm on the attention's output before it is added
        return frozenset(parts)

    def run(
        self,
        tokens: torch.Tensor,
        parts: frozenset[str],
        r: int,
        answer: int | None = None,
        contrast=None,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], int]:
        """One forward pass, stopped after the final norm (no vocabulary-sized output), keeping what the
        decomposition reads (the answer and contrast are read later, from the weights), and where ``r`` is in
        it (every position is kept). ``attention_mask``: a right-padded batch's (an engine with
        ``padded_batches``), every row's activations kept."""
        _, cache = self.model.run_with_cache(
            tokens,
            names=cache_names(self.model, parts),
            attention_mask=attention_mask,
            stop_after="ln_final.hook_out",
        )
        return cache, r

    def logits(self, cache: dict[str, torch.Tensor], r: int) -> torch.Tensor:
        """The model's own logits ``(d_vocab,)`` at ``r`` (before any soft cap)."""
        return self.model.bridge.unembed(cache["ln_final.hook_out"][0, r])

    def norm(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """A normalisation's weight (``1 + weight`` for Gemma's), bias and whether it is an RMSNorm."""
        model = self.model
        bridge = model.bridge.get_submodule(name)
        inner = bridge.original_component
        rms = bool(getattr(bridge, "uses_rms_norm", False))
        with _placement.readable(model, bridge):  # offloaded weights loaded for this read
            weight = getattr(inner, "weight", None)
            weight = torch.ones(model.d_model) if weight is None else weight.detach().double().cpu()
            bias = None if rms or getattr(inner, "bias", None) is None else inner.bias.detach().double().cpu()
        if getattr(bridge, "uses_weight_offset", False):  # Gemma-style norms scale by 1 + weight
            weight = weight + 1
        return weight, bias, rms

    def heads(self, layer: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every head's write ``(n_heads, d_model)`` from its ``z`` ``(n_heads, d_head)``, and the output bias."""
        attn = self.model.bridge.blocks[layer].attn
        with _placement.readable(self.model, attn):  # offloaded weights loaded for this read
            W_O = attn.W_O.detach().double().cpu()
            b_O = None if attn.b_O is None else attn.b_O.detach().double().cpu()
        return torch.einsum("hd,hdm->hm", z, W_O), b_O

    def linear(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A linear map's weight ``(out, in)`` and bias: ``embed_proj`` (ELECTRA) or ``mlm_head`` (its dense)."""
        linear = self.model.bridge.get_submodule(name).original_component
        if not isinstance(linear, torch.nn.Linear):
            raise InterpError(f"decompose reads {name} as a Linear layer; {self.model.name}'s is not")
        with _placement.readable(self.model, linear):
            bias = None if linear.bias is None else linear.bias.detach().double().cpu()
            return linear.weight.detach().double().cpu(), bias

    def unembedding(self, answer: int, contrast: int | None) -> tuple[torch.Tensor, float | None]:
        """The unembedding direction ``u`` (answer's column minus the contrast's) and the bias difference."""
        unembed = self.model.bridge.unembed
        with _placement.readable(self.model, unembed):  # offloaded weights loaded for this read
            W_U = unembed.W_U  # (d_model, d_vocab), a view
            u = W_U[:, answer].detach().double().cpu()
            if contrast is not None:
                u = u - W_U[:, contrast].detach().double().cpu()
            bias = getattr(unembed.original_component, "bias", None)
            if bias is None:
                return u, None
            b = bias.detach().double().cpu()
        return u, float(b[answer] - (0 if contrast is None else b[contrast]))

    def dtype(self) -> torch.dtype:
        return next(self.model.bridge.original_model.parameters()).dtype


def cache_names(model: Any, parts: frozenset[str]) -> list[str]:
    """The hook points the decomposition reads, in the bridge's names."""
    names = ["embed.hook_out"] + [f"{p}.hook_out" for p in ("pos_embed", "token_type_embed") if p in parts]
    names += [_hooks.name(_hooks.RESID_PRE, 0)]
    for layer in range(model.n_layers):
        names += [_hooks.name(_hooks.Z, layer), _hooks.name(_hooks.MLP_OUT, layer)]
        if "post_norm" in parts:
            names += [f"blocks.{layer}.ln1.hook_scale", f"blocks.{layer}.ln2.hook_scale"]
        if "sublayer_norm" in parts:
            names += [f"blocks.{layer}.ln1_post.hook_scale"]
    names += [f"{ENCODER_NORM}.hook_scale"] if ENCODER_NORM in parts else []
    names += ["embed_ln.hook_scale"] if "post_norm" in parts else []
    names += ["mlm_head.hook_out"] if model.reads_mask_token else []
    names += [_hooks.final_resid_name(model), "ln_final.hook_in", "ln_final.hook_scale", "ln_final.hook_out"]
    return names


__all__ = ["ENCODER_NORM", "FINAL_NORM", "BridgeReader", "cache_names"]
