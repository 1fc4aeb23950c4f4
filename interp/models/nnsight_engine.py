"""The nnsight engine: the same :class:`~interp.Model` handle and hook names, with every forward pass run through
nnsight's tracing, so that with ``remote=True`` it runs on NDIF's hosted models (or a user's own nnsight
server), and locally on any Hugging Face model of the families below.

``interp.load(name, engine="nnsight")`` wraps the model with ``nnsight.NNsight`` (local) or
``nnsight.LanguageModel(repo_id)`` (``remote=True``: no weights are downloaded). Hook names map onto the Hugging
Face modules of each family (:data:`SITES`); reading one is saving that module's input or output inside a trace,
a hook function replaces it there. :class:`NNsightEngine` implements :class:`interp.models.engine.Engine`, and
:class:`~interp.Model` holds it as any engine: hooks, caches, stops and the unembedding everywhere, gradients
and weights only locally (:data:`LOCAL_CAPABILITIES`, :data:`REMOTE_CAPABILITIES`); an analysis that needs
another capability is an :class:`~interp.errors.EngineError` naming the engine, before any work.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import torch

from interp.errors import EngineError, HookError, HookNameError, InputError, echo
from interp.models import engine as _engine
from interp.models.handle import Model
from interp.models.nnsight_sites import POINTS, SITES

REMOTE_CAPABILITIES = frozenset({_engine.HOOKS, _engine.CACHE, _engine.STOP_AFTER, _engine.UNEMBED})
"""What the engine offers when the model runs on a server: what comes back is saved values."""
LOCAL_CAPABILITIES = REMOTE_CAPABILITIES | {_engine.GRADIENTS, _engine.WEIGHTS}
"""What it offers when the model runs here. Neither has padded batches checked against the bridge (compare) nor
the tuned lens. Which analyses each runs follows from their declared needs
(``interp.analysis.registry.runs_with``; the table in docs/parameters.md)."""
LACKS = {
    _engine.GRADIENTS: "a remote run sends back saved values, not gradients",
    _engine.WEIGHTS: "the weights stay on the server",
    _engine.TUNED_LENS: "its translators are trained and found through the bridge engine's weights",
}
"""Why the engine lacks a capability (gradients and weights: only when it runs remotely)."""


class EngineShim:
    """Stands where the bridge engine's TransformerBridge stands: its config and the Hugging Face model; any
    other engine internal is an :class:`~interp.errors.EngineError` naming the engine."""

    def __init__(self, cfg: Any, hf_model: Any):
        self.cfg = cfg
        self.original_model = hf_model

    def parameters(self):
        return self.original_model.parameters()

    def __getattr__(self, name: str) -> Any:
        raise EngineError(
            f"the nnsight engine has no {name!r} (a TransformerBridge component): load the model with "
            "engine='bridge' for this"
        )


class NNsightEngine:
    """nnsight's tracing as an :class:`~interp.models.engine.Engine` (``engine="nnsight"``)."""

    name = "nnsight"

    def __init__(self, traced: Any, hf_model: Any, cfg: Any, *, remote: bool):
        model_type = hf_model.config.model_type
        if model_type not in SITES:
            raise EngineError(
                f"the nnsight engine knows the modules of {', '.join(SITES)}; {echo(model_type)} is not among "
                "them: use engine='bridge'"
            )
        self.traced = traced
        self.native = traced
        self.hf_model = hf_model
        self.cfg = cfg
        self.remote = bool(remote)
        self.family = SITES[model_type]
        self._edits: dict[str, tuple[Any, ...]] = {}  # hook name -> functions, applied in order
        self._model: Any = None

    def bind(self, model: Any) -> None:
        self._model = weakref.ref(model)  # the handle owns the engine, not the other way round

    @property
    def model(self) -> Any:
        return self._model()

    @property
    def where(self) -> str:
        return "remotely" if self.remote else "locally"

    @property
    def capabilities(self) -> frozenset[str]:
        """Hooks, caches, stops and the unembedding everywhere; gradients and weights only locally."""
        return REMOTE_CAPABILITIES if self.remote else LOCAL_CAPABILITIES

    def lacks(self, capability: str) -> str | None:
        return None if capability in self.capabilities else LACKS.get(capability)

    # ---- what it is -----------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        if self.remote:
            return torch.device("cpu")  # inputs are sent from here; results come back here
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.hf_model.dtype

    @property
    def config(self) -> Any:
        return self.hf_model.config

    def parameters(self):
        return self.hf_model.parameters()

    def state_dict(self) -> Mapping[str, torch.Tensor]:
        return self.hf_model.state_dict()

    def decode_state(self) -> Mapping[str, torch.Tensor]:
        return self.state_dict()  # every weight: a key of them is safe whatever the decode reads

    def weight(self, role: str, layer: int | None = None) -> Any:
        """A weight by role, read from the Hugging Face modules (locally: a remote model's stay on the server)."""
        if self.remote:
            raise EngineError(f"{LACKS[_engine.WEIGHTS]}: load the model with engine='bridge' to read {role}")
        hf, H = self.hf_model, self.cfg.n_heads
        if role in ("W_O", "b_O"):
            proj = hf.get_submodule(f"{self.family.layers}.{layer}.{self.family.out_proj}")
            if role == "b_O":
                return proj.bias
            # nn.Linear keeps (out, in); GPT-2's Conv1D keeps (in, out)
            w = proj.weight.T if isinstance(proj, torch.nn.Linear) else proj.weight  # (H * d_head, d_model)
            return w.reshape(H, -1, w.shape[-1])  # (n_heads, d_head, d_model)
        if role == "W_U":
            return hf.get_output_embeddings().weight.T  # (d_model, d_vocab)
        if role == "b_U":
            return getattr(hf.get_output_embeddings(), "bias", None)
        if role == "encoder_norm":
            return None  # the families served here have none
        raise InputError(f"unknown weight role {role!r}: pass one of {', '.join(_engine.WEIGHT_ROLES)}")

    def decompose_reader(self) -> Any:
        from interp.models.nnsight_decompose import NNsightReader

        return NNsightReader(self.model)

    # ---- where things are ---------------------------------------------------------------------------------

    def hook_names(self) -> list[str]:
        names = ["embed.hook_out"]
        for layer in range(self.cfg.n_layers):
            names += [f"blocks.{layer}.{p}" for p in POINTS if self._site_path(p) is not None]
        return names

    def canonical_name(self, name: str) -> str:
        return name

    def _site_path(self, point: str) -> tuple[str, str] | None:
        """(module path inside a block, "input"/"output"/"pattern"/"z") of a per-block hook point."""
        f = self.family
        return {
            "hook_resid_pre": ("", "input"),
            "attn.hook_z": (f.out_proj, "z"),
            "hook_attn_out": (f.out_proj, "output"),
            "attn.hook_pattern": (f.attn, "pattern"),
            "hook_mlp_out": (f.mlp, "output") if f.mlp else None,
            "hook_resid_post": ("", "output"),
        }[point]

    def _order(self, name: str) -> tuple[int, int]:
        if name == "embed.hook_out":
            return (-1, 0)
        _, layer, point = name.split(".", 2)
        order = list(POINTS)
        if self.family.pattern_first:
            order.remove("attn.hook_pattern")
            order.insert(1, "attn.hook_pattern")
        return int(layer), order.index(point)

    def check_names(self, names: Iterable[str]) -> list[str]:
        """``names`` in the order a forward pass reaches them; HookNameError for one this engine does not serve."""
        if isinstance(names, str):
            raise HookNameError(f"pass hook names as a list, not one string: [{echo(names)}]")
        known = set(self.hook_names())
        names = list(dict.fromkeys(names))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise HookNameError(
                f"the nnsight engine has no hook point {echo(unknown[0])}: it serves embed.hook_out and, per block, "
                f"{', '.join(p for p in POINTS if self._site_path(p))}. Load with engine='bridge' for the others"
            )
        return sorted(names, key=self._order)

    # ---- one traced forward pass --------------------------------------------------------------------------

    def _envoy(self, path: str) -> Any:
        """The nnsight envoy of a Hugging Face module path (a submodule named like one of nnsight's own
        attributes, BERT's ``output``, is served with nnsight's prefix)."""
        from nnsight.intervention.envoy import Envoy

        envoy = self.traced
        for part in [p for p in path.split(".") if p]:
            if part.isdigit():
                envoy = envoy[int(part)]
            else:
                envoy = getattr(envoy, Envoy.OVERLOAD_PREFIX + part if hasattr(Envoy, part) else part)
        return envoy

    def _trace(
        self, tokens: torch.Tensor, attention_mask: torch.Tensor | None, reads: list[str], logits: bool
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """One forward pass: the hook points in ``reads`` saved, the attached hook functions applied."""
        from nnsight import save

        points = self.check_names([*reads, *self._edits])
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        saved: dict[str, Any] = {}
        out: dict[str, Any] = {}
        H = self.cfg.n_heads
        with warnings.catch_warnings(), self._remote_errors():
            warnings.simplefilter("ignore")
            with self.traced.trace(tokens, remote=self.remote, **kwargs) as tracer:
                for name in points:
                    value, put = self._site(name, H)
                    for fn in self._edits.get(name, ()):  # outer blocks' functions first, as on the bridge
                        new = _call(name, fn, value)
                        if new is not None:
                            put(new)
                            value = new
                    if name in reads:
                        saved[name] = save(value)
                if logits:
                    out["logits"] = save(self.traced.output.logits)
                else:  # nothing read past the last hook point: the unembedding never runs
                    tracer.stop()
        # with gradients on (attribution, locally), the saved values keep their graph back to the inputs
        keep = torch.is_grad_enabled() and not self.remote
        cache = {name: value if keep else value.detach() for name, value in saved.items()}
        return out.get("logits"), cache

    def _site(self, name: str, H: int):
        """(the activation at ``name`` inside a trace, a function that replaces it)."""
        if name == "embed.hook_out":
            return self._io(self._embedding_envoy(), "output")
        _, layer, point = name.split(".", 2)
        path, kind = self._site_path(point)
        block = self._envoy(f"{self.family.layers}.{layer}")
        envoy = self._envoy(f"{self.family.layers}.{layer}.{path}") if path else block
        if kind == "pattern":
            return envoy.output[1], None
        if kind == "z":
            flat, put = self._io(envoy, "input")
            shape = (*flat.shape[:-1], H, flat.shape[-1] // H)  # (batch, pos, heads, d_head)
            return flat.reshape(shape), lambda z: put(z.reshape(flat.shape))
        return self._io(envoy, kind)

    @contextmanager
    def _remote_errors(self):
        """A remote run's failure (no key, a model the server does not host, no network) as an InterpError."""
        if not self.remote:
            yield
            return
        from interp.errors import InterpError

        try:
            yield
        except InterpError:
            raise
        except Exception as err:  # noqa: BLE001  (nnsight's and the network's errors are many)
            raise EngineError(
                f"the remote run of {self.model.name} failed ({type(err).__name__}: {echo(str(err))[1:-1]}): check "
                "NDIF_API_KEY (or nnsight.CONFIG), the model id, and that the server hosts this model"
            ) from err

    def _embedding_envoy(self) -> Any:
        hf = self.hf_model
        for name, module in hf.named_modules():
            if module is hf.get_input_embeddings():
                return self._envoy(name)
        raise EngineError("the nnsight engine found no input embeddings")

    @staticmethod
    def _io(envoy: Any, kind: str):
        value = envoy.input if kind == "input" else envoy.output
        tupled = isinstance(value, tuple)
        first = value[0] if tupled else value

        def put(new: torch.Tensor) -> None:
            replaced = (new, *value[1:]) if tupled else new
            if kind == "input":
                envoy.input = replaced
            else:
                envoy.output = replaced

        return first, put

    # ---- the handle's forward passes ----------------------------------------------------------------------

    def attach(self, fns: Mapping[str, Any]):
        """Attach ``{hook_name: fn}`` for a ``with`` block: each forward pass inside it applies them."""
        if not isinstance(fns, Mapping):
            raise HookError(f"model.hooks() takes a dict {{hook_name: fn}}, got {type(fns).__name__}")
        self.check_names(fns)
        return self._attached(dict(fns))

    @contextmanager
    def _attached(self, fns: dict[str, Any]):
        before = self._edits
        self._edits = {
            **before,
            **{n: before.get(n, ()) + (fn,) for n, fn in fns.items()},
        }  # nested blocks stack
        try:
            yield self.model
        finally:
            self._edits = before

    def tidy(self) -> None:
        """Nothing to sweep: hook functions live only in the traces that apply them."""

    def hooks_attached(self) -> bool:
        return bool(self._edits)

    def reset(self) -> int:
        removed = len(self._edits)
        self._edits = {}
        return removed

    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return self._trace(tokens, attention_mask, [], logits=True)[0]

    def run(self, tokens, attention_mask, names, stop_after):
        with torch.no_grad():
            return self._trace(tokens, attention_mask, names, logits=stop_after is None)

    def final_resid(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        from interp.models import hooks as _hooks

        name = _hooks.final_resid_name(self.model)
        return self._trace(tokens, attention_mask, [name], logits=False)[1][name]

    def decode(self, resid: torch.Tensor) -> torch.Tensor:
        hf = self.hf_model
        f = self.family
        if self.remote:  # the weights are on the server: the head runs there, in a trace of one token
            from nnsight import save

            with self._remote_errors(), self.traced.trace(torch.zeros(1, 1, dtype=torch.long), remote=True):
                x = resid if f.final_norm is None else self._envoy(f.final_norm)(resid)
                logits = save(self._envoy(f.unembed)(x))
            return logits
        if f.final_norm is None:
            return hf.get_submodule(f.unembed)(resid)
        return hf.get_submodule(f.unembed)(hf.get_submodule(f.final_norm)(resid))

    def nonfinite(self, what: str, rerun: Any) -> None:
        from interp.errors import NonFiniteError

        raise NonFiniteError(
            f"{what} of {self.model.name} are NaN or infinite (nnsight engine): load with dtype='float32', or "
            "with engine='bridge' to find the first hook point where they appear"
        )


def _call(name: str, fn: Any, value: torch.Tensor) -> torch.Tensor | None:
    """A hook function's replacement for ``value`` (None: keep it), checked as the bridge engine checks it."""
    try:
        result = fn(value, SimpleNamespace(name=name))  # TransformerLens's hook functions read hook.name
    except Exception as err:  # noqa: BLE001  (the user's function: reported with the hook point)
        raise HookError(
            f"the hook function on {name!r} raised {type(err).__name__}: {echo(str(err))[1:-1]}"
        ) from err
    if result is not None and (
        not isinstance(result, torch.Tensor) or result.shape != value.shape or result.dtype != value.dtype
    ):
        raise HookError(
            f"the hook function on {name!r} must return None or a tensor of shape {tuple(value.shape)} and dtype "
            f"{value.dtype}"
        )
    return result


# ---- loading ----------------------------------------------------------------------------------------------------


def engine_config(hf_config: Any, name: str, dtype: Any) -> Any:
    """The engine's config for ``hf_config`` (layers, heads, widths, context, whether BOS is prepended), built
    from the config alone, as the bridge engine builds it: both engines tokenize alike."""
    from transformer_lens.factories.architecture_adapter_factory import ArchitectureAdapterFactory
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_config_from_hf
    from transformer_lens.model_bridge.sources._hf_format import determine_architecture_from_hf_config

    architecture = determine_architecture_from_hf_config(hf_config)
    cfg = build_bridge_config_from_hf(hf_config, architecture, name, dtype)
    return ArchitectureAdapterFactory.select_architecture_adapter(cfg).cfg


def wrap(hf_model: Any, tokenizer: Any, *, name: str, kind: str, revision: str | None) -> Model:
    """A loaded Hugging Face model behind the nnsight engine (local)."""
    from nnsight import NNsight

    if hasattr(hf_model, "set_attn_implementation"):
        hf_model.set_attn_implementation("eager")  # patterns are returned only by eager attention
    hf_model.eval()
    for p in hf_model.parameters():
        p.requires_grad_(False)
    cfg = engine_config(hf_model.config, name, hf_model.dtype)
    with warnings.catch_warnings():  # nnsight renames BERT's `output` submodules and says so: we know
        warnings.simplefilter("ignore", UserWarning)
        traced = NNsight(hf_model)
    engine = NNsightEngine(traced, hf_model, cfg, remote=False)
    return Model(engine, tokenizer, name=name, kind=kind, revision=revision)


def load_remote(repo_id: str, kind: str, revision: str | None = None) -> Model:
    """A hub model run remotely by nnsight (NDIF, or the server ``nnsight.CONFIG`` names): only its config and
    tokenizer are read here. Needs an NDIF API key: ``nnsight.CONFIG.set_default_api_key(...)`` (docs/howto.md)."""
    from nnsight import LanguageModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(repo_id, trust_remote_code=False, revision=revision)
    traced = LanguageModel(
        repo_id, tokenizer=tokenizer, dispatch=False, attn_implementation="eager", revision=revision
    )
    hf_model = traced._module  # the Hugging Face model, on the meta device (no weights here)
    cfg = engine_config(hf_model.config, repo_id, hf_model.dtype)
    engine = NNsightEngine(traced, hf_model, cfg, remote=True)
    return Model(engine, tokenizer, name=repo_id, kind=kind, revision=revision)


__all__ = [
    "LOCAL_CAPABILITIES",
    "NNsightEngine",
    "REMOTE_CAPABILITIES",
    "SITES",
    "load_remote",
    "wrap",
]
