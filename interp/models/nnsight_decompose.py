"""decompose on the nnsight engine: the same activations and weights the bridge engine's reader gives
(:class:`interp.models.bridge_decompose.BridgeReader`), taken from the Hugging Face modules inside one nnsight
trace.

Everything decompose needs is read or computed inside that trace, at the read position alone: the activations
it splits, each head's write (its slice of ``z`` times its rows of the output projection, in float64), the
norms' weights, the logits and the answer's unembedding row. With ``remote=True`` the trace runs on the
server, so only these small tensors come back: never a weight matrix of the stack, never the full logits, never
an activation at another position.
Normalisation scales are recomputed from each norm's input as the module computes them (LayerNorm:
``sqrt(var(x) + eps)``; RMSNorm: ``sqrt(mean(x^2) + eps)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from interp.errors import EngineError
from interp.models import hooks as _hooks


@dataclass(frozen=True)
class Paths:
    """Where decompose's pieces are among a family's Hugging Face modules (block paths are inside a block; the
    token embedding and the unembedding are the model's own ``get_input_embeddings``/``get_output_embeddings``)."""

    pos_embed: str | None
    token_type_embed: str | None
    embed_ln: str | None
    """The norm after the embeddings (post-norm masked LMs)."""
    mlp_out: str
    """Inside a block: the module whose output is ``hook_mlp_out``."""
    ln1: str | None
    ln2: str | None
    """Inside a block: the post-norm stack's norms after the attention and after the MLP."""
    final_norm: str
    """Causal: the norm before the unembedding; masked: the head's norm."""
    head_dense: str | None


def _causal(final_norm: str, pos_embed: str | None = None) -> Paths:
    return Paths(pos_embed, None, None, "mlp", None, None, final_norm, None)


def _masked(prefix: str, head: str, dense: str, norm: str) -> Paths:
    e = f"{prefix}.embeddings"
    return Paths(
        f"{e}.position_embeddings",
        f"{e}.token_type_embeddings",
        f"{e}.LayerNorm",
        "output.dense",
        "attention.output.LayerNorm",
        "output.LayerNorm",
        f"{head}.{norm}",
        f"{head}.{dense}",
    )


LLAMA_LIKE = _causal("model.norm")
PATHS: dict[str, Paths] = {
    "gpt2": _causal("transformer.ln_f", pos_embed="transformer.wpe"),
    "llama": LLAMA_LIKE,
    "qwen2": LLAMA_LIKE,
    "mistral": LLAMA_LIKE,
    "gpt_neox": _causal("gpt_neox.final_layer_norm"),
    "bert": _masked("bert", "cls.predictions", "transform.dense", "transform.LayerNorm"),
    "roberta": _masked("roberta", "lm_head", "dense", "layer_norm"),
}


def _scale(x: torch.Tensor, norm: torch.nn.Module) -> torch.Tensor:
    """The norm's scale at every position ``(batch, T)``, as the module computes it (in at least float32)."""
    x = x.float()
    eps = getattr(norm, "eps", None)
    eps = getattr(norm, "variance_epsilon", 1e-6) if eps is None else eps
    if isinstance(norm, torch.nn.LayerNorm):
        return torch.sqrt(x.var(-1, unbiased=False) + eps)
    return torch.sqrt(x.pow(2).mean(-1) + eps)


class NNsightReader:
    """decompose's view of an nnsight-engine model (the methods of the bridge engine's reader)."""

    def __init__(self, model: Any):
        self.model = model
        self.engine = model.engine_impl
        self.hf = self.engine.hf_model  # local: the model; remote: its skeleton on the meta device
        model_type = self.hf.config.model_type
        if model_type not in PATHS:
            raise EngineError(f"decompose on the nnsight engine knows {', '.join(PATHS)}, not {model_type!r}")
        self.paths = PATHS[model_type]
        modules = {id(module): name for name, module in self.hf.named_modules()}
        self.embed = modules[id(self.hf.get_input_embeddings())]
        self.decoder = modules[id(self.hf.get_output_embeddings())]
        self.masked = model.reads_mask_token
        self._got: dict[str, Any] = {}

    def parts(self) -> frozenset[str]:
        p = self.paths
        parts = {"ln_final"} | ({"pos_embed"} if p.pos_embed else set())
        if self.masked:
            parts |= {"token_type_embed", "embed_ln", "mlm_head", "post_norm"}
        return frozenset(parts)

    def _module(self, path: str) -> torch.nn.Module:
        return self.hf.get_submodule(path)

    def _block(self, layer: int, path: str) -> str:
        return f"{self.engine.family.layers}.{layer}.{path}"

    def run(self, tokens: torch.Tensor, parts: frozenset[str], r: int, answer=None, contrast=None):
        """One traced forward pass keeping what decompose reads at the read position ``r`` alone (the bridge's
        hook names, each ``(1, 1, ...)``), plus each head's write, the norms' weights, the logits at ``r`` and
        the unembedding rows of ``answer`` (default: the top-1 there) and ``contrast``, all computed inside the
        trace; and where ``r`` is in what it keeps (0)."""
        from nnsight import save

        m, e, p = self.model, self.engine, self.paths
        if e._edits:
            raise EngineError(
                f"decompose on the nnsight engine does not apply hook functions attached with hooks() "
                f"({', '.join(e._edits)}): run it outside that block, or load with engine='bridge'"
            )
        H, L = m.n_heads, m.n_layers
        envoy = e._envoy
        cache: dict[str, Any] = {}
        got: dict[str, Any] = {}
        norms = [p.final_norm] + ([p.embed_ln] if p.embed_ln else [])
        norms += [self._block(i, q) for i in range(L) for q in (p.ln1, p.ln2) if q]
        modules = {path: self._module(path) for path in norms}

        def at(x: Any) -> Any:  # (batch, T, ...) -> (1, 1, ...): the read position only
            return _first(x)[:1, r : r + 1]

        def scale(path: str) -> Any:
            return save(_scale(at(envoy(path).input), modules[path]))

        with warnings.catch_warnings(), e._remote_errors():
            warnings.simplefilter("ignore")
            with e.traced.trace(tokens, remote=e.remote) as tracer:
                # in the order the forward pass reaches them (nnsight reads them in that order)
                cache["embed.hook_out"] = save(at(envoy(self.embed).output))
                if p.token_type_embed:
                    cache["token_type_embed.hook_out"] = save(at(envoy(p.token_type_embed).output))
                if p.pos_embed:
                    cache["pos_embed.hook_out"] = save(at(envoy(p.pos_embed).output))
                if p.embed_ln:
                    cache["embed_ln.hook_scale"] = scale(p.embed_ln)
                z_at_r = []
                for layer in range(L):
                    block = envoy(f"{e.family.layers}.{layer}")
                    if layer == 0:
                        cache[_hooks.name(_hooks.RESID_PRE, 0)] = save(at(block.input))
                    flat = at(envoy(self._block(layer, e.family.out_proj)).input)  # (1, 1, H * d_head)
                    cache[_hooks.name(_hooks.Z, layer)] = save(flat.reshape(1, 1, H, -1))
                    z_at_r.append(flat[0, 0])
                    if p.ln1:
                        cache[f"blocks.{layer}.ln1.hook_scale"] = scale(self._block(layer, p.ln1))
                    cache[_hooks.name(_hooks.MLP_OUT, layer)] = save(
                        at(envoy(self._block(layer, p.mlp_out)).output)
                    )
                    if p.ln2:
                        cache[f"blocks.{layer}.ln2.hook_scale"] = scale(self._block(layer, p.ln2))
                    if layer == L - 1:
                        cache[_hooks.final_resid_name(m)] = save(at(block.output))
                if p.head_dense:
                    cache["mlm_head.hook_out"] = save(at(envoy(p.head_dense).output))
                final = envoy(p.final_norm)
                cache["ln_final.hook_in"] = save(at(final.input))
                cache["ln_final.hook_scale"] = scale(p.final_norm)
                normed = save(at(final.output))
                cache["ln_final.hook_out"] = normed
                # what decompose reads besides activations, computed here so a remote run sends back only these
                decoder = envoy(self.decoder)
                logits = decoder(normed[0, 0])  # (d_vocab,)
                got["logits"] = save(logits)
                a = logits.argmax() if answer is None else answer
                got["answer"] = save(a) if answer is None else answer
                got["u"] = save(decoder.weight[a] - (0 if contrast is None else decoder.weight[contrast]))
                if getattr(self._module(self.decoder), "bias", None) is not None:
                    got["b"] = save(decoder.bias[a] - (0 if contrast is None else decoder.bias[contrast]))
                for path in [*norms, *([p.head_dense] if p.head_dense else [])]:
                    has_bias = getattr(self._module(path), "bias", None) is not None
                    got[path] = (save(envoy(path).weight), save(envoy(path).bias) if has_bias else None)
                for layer, zr in enumerate(z_at_r):
                    got[f"heads.{layer}"] = self._heads_in_trace(envoy, layer, zr, H, save)
                tracer.stop()  # the unembedding of every position is never needed
        self._got = got
        return {name: value.detach() for name, value in cache.items()}, 0

    def _heads_in_trace(self, envoy, layer: int, zr: torch.Tensor, H: int, save) -> tuple:
        """Each head's write ``(H, d_model)`` from its slice of ``z`` at the read position and the output
        projection's weight, in float64 without the bias (as the bridge engine's reader computes it, so a
        low-precision model's bias does not round the heads' writes), and the bias ``(d_model,)`` or None."""
        path = self._block(layer, self.engine.family.out_proj)
        module, proj = self._module(path), envoy(path)
        weight = proj.weight.double()
        # nn.Linear keeps (out, in); GPT-2's Conv1D keeps (in, out)
        w_in_out = weight.T if isinstance(module, torch.nn.Linear) else weight  # (H * d_head, d_model)
        rows = torch.einsum(
            "hd,hdm->hm", zr.double().reshape(H, -1), w_in_out.reshape(H, -1, w_in_out.shape[-1])
        )
        bias = save(proj.bias.double()) if getattr(module, "bias", None) is not None else None
        return save(rows), bias

    # ---- the reader's methods ----------------------------------------------------------------------------

    def logits(self, cache: dict, r: int) -> torch.Tensor:
        return self._got["logits"].detach()

    def norm(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        path = self._norm_path(name)
        weight, bias = self._got[path]
        rms = not isinstance(self._module(path), torch.nn.LayerNorm)
        return _cpu(weight), None if rms or bias is None else _cpu(bias), rms

    def _norm_path(self, name: str) -> str:
        p = self.paths
        if name == "ln_final":
            return p.final_norm
        if name == "embed_ln":
            return p.embed_ln
        _, layer, which = name.split(".")  # blocks.{layer}.ln1 / ln2
        return self._block(int(layer), p.ln1 if which == "ln1" else p.ln2)

    def heads(self, layer: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows, bias = self._got[f"heads.{layer}"]  # computed in the trace from this z
        return _cpu(rows), None if bias is None else _cpu(bias)

    def linear(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if name != "mlm_head":
            raise EngineError(f"the nnsight engine has no {name!r}: load the model with engine='bridge'")
        weight, bias = self._got[self.paths.head_dense]
        return _cpu(weight), None if bias is None else _cpu(bias)

    def unembedding(self, answer: int, contrast: int | None) -> tuple[torch.Tensor, float | None]:
        if answer != int(self._got["answer"]):
            raise AssertionError("decompose asked for another answer than the trace read")
        b = self._got.get("b")
        return _cpu(self._got["u"]), None if b is None else float(b)

    def dtype(self) -> torch.dtype:
        return self.hf.dtype


def _first(value: Any) -> torch.Tensor:
    return value[0] if isinstance(value, tuple) else value


def _cpu(x: torch.Tensor) -> torch.Tensor:
    return x.detach().double().cpu()


__all__ = ["NNsightReader", "PATHS"]
