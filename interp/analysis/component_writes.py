"""The writes :func:`interp.decompose` splits an answer's logit into: each component's write into the residual
stream at the read position, carried through the normalisations with their scales frozen at this run's values
(see :mod:`interp.analysis.decomposition` for the reading they feed)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.errors import InterpError
from interp.models import hooks as _hooks
from interp.models.handle import Model


@dataclass
class Norm:
    """A normalisation with its scale frozen: an affine map ``x -> w ⊙ P(x) / s + b``."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    centred: bool
    scale: float

    def apply(self, rows: torch.Tensor) -> torch.Tensor:
        """The linear part applied to each row ``(n, d)``."""
        if self.centred:
            rows = rows - rows.mean(-1, keepdim=True)
        return rows * self.weight / self.scale

    def read(self, u: torch.Tensor) -> torch.Tensor:
        """The direction ``v`` with ``v · x == u · apply(x)`` (the linear part's transpose; ``P`` is symmetric)."""
        v = u * self.weight / self.scale
        return v - v.mean() if self.centred else v


def norm(reader, name: str, cache: dict[str, torch.Tensor], r: int) -> Norm:
    weight, bias, rms = reader.norm(name)
    scale = float(cache[f"{name}.hook_scale"].reshape(-1)[r])  # (1, T, 1) or (T, 1): one scale per position
    return Norm(weight=weight, bias=bias, centred=not rms, scale=scale)


class Writes:
    """Each component's write into the residual stream at the read position: rows of ``(n, d_model)``."""

    def __init__(self, width: int):
        self.rows = torch.zeros(0, width, dtype=torch.float64)
        self.labels: list[str] = []
        self.kinds: list[str] = []
        self.layers: list[int] = []
        self.heads: list[int] = []

    def note(self, label: str, kind: str, layer: int = -1, head: int = -1) -> None:
        self.labels.append(label)
        self.kinds.append(kind)
        self.layers.append(layer)
        self.heads.append(head)

    def add(self, label: str, kind: str, row: torch.Tensor, layer: int = -1) -> None:
        self.note(label, kind, layer)
        self.rows = torch.cat([self.rows, row.detach().double().cpu().reshape(1, -1)])

    def attention(
        self, reader, cache: dict[str, torch.Tensor], r: int, layer: int, out_norm: Norm | None = None
    ) -> None:
        """Every head's write (its ``hook_z`` slice times its ``W_O``) and the output bias, each carried through
        ``out_norm`` (a norm on the attention's output, its scale frozen) where the block has one."""
        z = cache[_hooks.name(_hooks.Z, layer)][0, r].double().cpu()  # (n_heads, d_head)
        rows, b_O = reader.heads(layer, z)  # (n_heads, d_model)
        labels = [(f"L{layer}H{head}", "head", head) for head in range(rows.shape[0])]
        if b_O is not None:
            rows = torch.cat([rows, b_O.reshape(1, -1)])
            labels.append((f"L{layer} attention bias", "attention_bias", -1))
        if out_norm is not None:
            rows = out_norm.apply(rows)  # the norm's own bias, if any, is not part of the attention's output
            if out_norm.bias is not None:
                rows = torch.cat([rows, out_norm.bias.reshape(1, -1)])
                labels.append((f"L{layer} attention norm bias", "bias", -1))
        for label, kind, head in labels:
            self.note(label, kind, layer, head)
        self.rows = torch.cat([self.rows, rows])

    def project(self, weight: torch.Tensor, bias: torch.Tensor | None, bias_label: str) -> None:
        """Carry every write so far through a linear map (ELECTRA's embedding projection); its bias becomes a
        component."""
        self.rows = self.rows @ weight.T
        if bias is not None:
            self.add(bias_label, "embedding", bias)

    def through(self, norm: Norm, bias_label: str, kind: str = "bias", layer: int = -1) -> None:
        """Carry every write so far through ``norm`` (its scale frozen); its bias becomes a component."""
        self.rows = norm.apply(self.rows)
        if norm.bias is not None:
            self.add(bias_label, kind, norm.bias, layer)


def pre_norm_writes(reader, cache, r: int, writes: Writes, parts: frozenset[str]) -> None:
    """Pre-norm blocks: ``x + attn(LN1(x))``, then ``+ mlp(LN2(.))``; with ``sublayer_norm`` (Gemma 2/3,
    OLMo 2) each sublayer's output is normalised before it is added (``hook_mlp_out`` is after that norm)."""
    # The token embedding as it enters the first block: Gemma's sqrt(d_model) scale, an embedding norm
    # (ModernBERT) or a projection (OPT) included.
    embedding = cache[_hooks.name(_hooks.RESID_PRE, 0)][0, r]
    if "pos_embed" in parts:
        embedding = embedding - cache["pos_embed.hook_out"][0, r]
    writes.add("token embedding", "embedding", embedding)
    if "pos_embed" in parts:
        writes.add("position embedding", "embedding", cache["pos_embed.hook_out"][0, r])
    for layer in range(reader.model.n_layers):
        out_norm = norm(reader, f"blocks.{layer}.ln1_post", cache, r) if "sublayer_norm" in parts else None
        writes.attention(reader, cache, r, layer, out_norm)
        writes.add(f"L{layer} MLP", "mlp", cache[_hooks.name(_hooks.MLP_OUT, layer)][0, r], layer)


def post_norm_writes(reader, cache, r: int, writes: Writes, parts: frozenset[str]) -> None:
    """BERT-like blocks: ``h = LN1(x + attn(x))``, ``x' = LN2(h + mlp(h))``, after ``LN(embeddings)``."""
    writes.add("token embedding", "embedding", cache["embed.hook_out"][0, r])
    for part, label in (("pos_embed", "position embedding"), ("token_type_embed", "token-type embedding")):
        if part in parts:
            writes.add(label, "embedding", cache[f"{part}.hook_out"][0, r])
    writes.through(norm(reader, "embed_ln", cache, r), "embedding norm bias", kind="embedding")
    if "embed_proj" in parts:
        writes.project(*reader.linear("embed_proj"), "embedding projection bias")
    for layer in range(reader.model.n_layers):
        writes.attention(reader, cache, r, layer)
        writes.through(norm(reader, f"blocks.{layer}.ln1", cache, r), f"L{layer} norm 1 bias", layer=layer)
        writes.add(f"L{layer} MLP", "mlp", cache[_hooks.name(_hooks.MLP_OUT, layer)][0, r], layer)
        writes.through(norm(reader, f"blocks.{layer}.ln2", cache, r), f"L{layer} norm 2 bias", layer=layer)


def check_rebuilt(model: Model, rebuilt: torch.Tensor, resid: torch.Tensor, dtype: torch.dtype) -> None:
    """The writes must add up to the residual stream the readout sees (else the family's structure is not the
    one assumed here, and the shares would be wrong)."""
    gap = float((rebuilt - resid.cpu()).abs().max())
    # Each write is rounded to the model's dtype: float32 rebuilds to ~1e-6, bfloat16 and float16 to a few eps.
    eps = torch.finfo(dtype).eps
    if gap > max(1e-4, 4 * eps) * (1 + float(resid.abs().max())):
        raise InterpError(
            f"decompose cannot rebuild {model.name}'s residual stream from its components (off by {gap:.3g}): "
            "this architecture's blocks are not the pre-norm or BERT-like post-norm ones it splits. Use the "
            "logit lens, patching or attribution for this model"
        )


__all__: list[str] = []  # decompose's helpers, not public names
