"""``interp.load`` and ``interp.wrap``: from a zoo name, a folder, a hub id or a live HF model to a Model.

A folder (or hub repo) is vetted before transformers reads anything (:mod:`interp.models.vetting`); then every
load passes ``trust_remote_code=False`` and reads weights from safetensors only.
"""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from interp import checks
from interp.errors import (
    InputError,
    InterpError,
    InterpWarning,
    ModelLoadError,
    TokenizerError,
    UnsafeModelError,
    UnsupportedArchitectureError,
    echo,
)
from interp.models import booting as _booting
from interp.models import checkpoint as _checkpoint
from interp.models import encoder as _encoder
from interp.models import hub_cache, sources
from interp.models import placement as _placement
from interp.models import repair as _repair
from interp.models.families import is_lm_class
from interp.models.handle import Model
from interp.models.vetting import (
    SUPPORTED,
    default_device,
    resolve_device,
    resolve_dtype,
    unsupported,
    vet_folder,
    vet_hub,
)

__all__ = ["SUPPORTED", "load", "wrap"]


def detect_kind(config: Any, model: Any | None = None) -> str:
    """``"causal"`` or ``"bidirectional"`` from the model class or the config's architectures and type."""
    model_type = getattr(config, "model_type", None)
    if not isinstance(model_type, str) or model_type not in SUPPORTED:
        raise unsupported(model_type)
    names = (
        [type(model).__name__] if model is not None else list(getattr(config, "architectures", None) or [])
    )
    for arch in names:
        if not isinstance(arch, str):
            continue
        if arch.endswith("ForMaskedLM"):
            return "bidirectional"
        if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel") or is_lm_class(model_type, arch):
            return "causal"
    if model is not None:
        if _encoder.encoder_of(model) is not None:
            return "bidirectional"  # an encoder without a head: loaded encoder-only
        raise UnsupportedArchitectureError(
            f"{type(model).__name__} has no language-model head: wrap a *ForCausalLM, *LMHeadModel or "
            f"*ForMaskedLM model, or an encoder of {', '.join(_encoder.MASKED_LM)} (e.g. BertModel), which "
            "loads encoder-only"
        )
    return SUPPORTED[model_type]


# ---- sources -----------------------------------------------------------------------------------------------


def _source(
    name_or_path: str | os.PathLike, revision: str | None = None
) -> tuple[str, str, str | None, tuple[Path, ...], Path | None]:
    """(display name, where to load from, revision if known, where else its files may resolve, the folder its
    sentence-transformers modules are in) for a source's model name (the zoo's), a folder or a hub id (with the
    hub off: its snapshot in the local Hugging Face cache; ``revision`` picks another). Where else files may
    resolve: the sentence-transformers folder around its Transformer module, or the cache's blobs of a
    snapshot."""
    name = str(name_or_path)
    found = sources.find(name)
    if revision is not None and (found is not None or Path(name).expanduser().exists()):
        raise InputError(
            f"revision= picks a revision of a hub id; {echo(name)} is a "
            f"{'zoo model' if found is not None else 'local folder'}, which has one: drop revision"
        )
    if found is not None:
        source, folder = found
        if not (folder / "config.json").exists():
            raise ModelLoadError(
                f"the {source.name} model {name!r} is missing from {folder}. {source.missing}"
            )
        return name, str(folder), None, (), folder
    path = Path(name).expanduser()
    if not path.exists() and os.path.lexists(
        path
    ):  # exists() follows links: a loop or a dangling one is False
        raise ModelLoadError(
            f"{echo(name)} is a symbolic link that leads to no folder (its target is missing, or the links form "
            "a loop): point it at a model folder, or load the folder itself"
        )
    if path.exists():
        top = path
        if path.is_dir():
            path = _encoder.transformer_folder(path)  # a sentence-transformers folder: its Transformer module
        if not path.is_dir() or not os.path.lexists(path / "config.json"):
            raise ModelLoadError(
                f"{echo(name)} is not a model folder: it needs a config.json, weights and a tokenizer, as written "
                "by model.save_pretrained(folder) and tokenizer.save_pretrained(folder)"
            )
        roots = ((top,) if path != top else ()) + hub_cache.blobs_of(path)  # a snapshot folder links to blobs
        return Path(name).expanduser().name, str(path), None, roots, top
    if hub_cache.offline() and hub_cache.is_hub_id(name):
        snapshot = hub_cache.find(name, revision)
        if snapshot is None:
            raise hub_cache.not_cached(name, sources.names())
        return name, str(snapshot.folder), snapshot.revision, snapshot.roots, snapshot.folder
    return name, name, None, (), None


def _unknown(name: str, err: Exception) -> ModelLoadError:
    known = sources.names()
    close = [c for c in difflib.get_close_matches(name[:200], known, n=2, cutoff=0.6) if c != name]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    offline = " (HF_HUB_OFFLINE=1 is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    return ModelLoadError(
        f"unknown model {echo(name)}.{hint} Embedded models: {', '.join(known)}. A local folder works "
        f"offline; a hub id needs hub access or a local cache{offline}. ({type(err).__name__})"
    )


# ---- load and wrap ----------------------------------------------------------------------------------------


# A keyword of transformers' from_pretrained (torch_dtype=, trust_remote_code=) is named, not a TypeError.
@checks.checked
def load(
    name_or_path: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    dtype: Any = None,
    device_map: str | dict | None = None,
    max_memory: dict | None = None,
    offload_folder: str | os.PathLike | None = None,
    engine: str = "bridge",
    remote: bool = False,
    revision: str | None = None,
) -> Model:
    """Load a zoo model (``"tiny-causal"``, ``"tiny-bidirectional"``, ``"tiny-diffusion"``), a local HF folder or a
    hub id.

    An encoder checkpoint without its language-model head (architectures ``BertModel``, ``RobertaModel``, a
    sentence-transformers folder) loads encoder-only, with ``has_lm_head`` False; any other weight the
    checkpoint lacks is refused rather than initialised at random.

    Attention is always eager, so attention patterns are real. ``device=None`` means CUDA when available;
    ``dtype`` is a floating-point dtype or its name (``"float32"``, the default; ``"float16"``,
    ``"bfloat16"``). The folder's config is vetted first: no code runs from it, weights come from safetensors.

    A hub id (``"gpt2"``, ``"org/name"``) with the hub off (``HF_HUB_OFFLINE=1``) is read from the local Hugging
    Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``): the snapshot
    ``models--org--name/snapshots/<revision>/`` that ``refs/main`` names. ``model.revision`` and every result
    record that revision. ``revision`` picks another: a branch or tag, a commit hash or its first 7 or more
    characters (from the cache when the hub is off; passed to the hub otherwise).

    A model larger than one device: ``device_map`` (``"auto"``, ``"balanced"``, ``"sequential"`` or a dict of
    module name -> device), ``max_memory`` (device -> budget, e.g. ``{0: "20GiB", 1: "20GiB", "cpu": "64GiB"}``)
    and ``offload_folder`` (where blocks that fit nowhere go on disk) are passed to transformers' loader, which
    spreads the blocks over the GPUs, CPU memory and disk; either of the last two alone implies
    ``device_map="auto"``. Not with ``device``. Every analysis runs on such a model (docs/howto.md). The
    environment variable ``INTERP_DEVICE_MAP`` (e.g. ``auto``) is the ``device_map`` of every load that names
    no placement of its own.

    ``engine="nnsight"`` runs every forward pass through nnsight's tracing (the same handle, hook names and
    results, for the analyses whose needs its capabilities meet: docs/parameters.md lists them); with ``remote=True`` a hub id
    runs on NDIF's hosted models (or the nnsight server configured in ``nnsight.CONFIG``): only its config and
    tokenizer are read here (docs/howto.md says how to set up an NDIF key).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ModelLoadError(
            f"load() takes a model name, folder or hub id as a string, got {type(name_or_path).__name__}; "
            "for a model object use interp.wrap(model, tokenizer)"
        )
    if engine == "vllm":
        raise InputError(VLLM)
    engine = checks.choice("engine", engine, ENGINES)
    if checks.flag("remote", remote) and engine != "nnsight":
        raise ModelLoadError("remote=True runs through nnsight: pass engine='nnsight' as well")
    if revision is not None and (
        not isinstance(revision, str) or not revision.strip() or len(revision) > 200
    ):
        raise InputError(
            f"revision must be a branch, tag or commit of a hub id (a short string), got {echo(revision)}"
        )
    if remote:
        return _remote(str(name_or_path), device, device_map, revision)
    if device is None and device_map is max_memory is offload_folder is None:
        # One placement for every load of a session, magics and tutorials included (the GPU workflow's sharded
        # job sets it to "auto"); arguments always win.
        device_map = os.environ.get("INTERP_DEVICE_MAP") or None
    placing = _placement.placement_kwargs(device, device_map, max_memory, offload_folder)
    dev = None if placing else resolve_device(device)
    dtype = resolve_dtype(dtype)
    try:
        name, src, found, roots, top = _source(name_or_path, revision)
    except InputError:
        raise
    except (OSError, ValueError) as err:  # e.g. a name with a NUL byte, or one too long for a path
        raise _unknown(str(name_or_path), err) from None
    local = Path(src).is_dir()
    hub = {} if local else {"revision": revision}  # a cached snapshot is a folder: its revision is found
    if local:
        vet_folder(Path(src), roots)
        # a sentence-transformers folder's pooling, for interp.objectives.similarity
        pooling = _encoder.pooling(top, roots)
    else:
        pooling = None
        vet_hub(src, _unknown, revision)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-tensor loading bar is noise for models this size, and in notebooks
    # transformers' load report is replaced by interp's own reading of the loading info below: weights it
    # would initialise are refused or, for an encoder's missing head, dropped; unused weights are harmless.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(src, trust_remote_code=False, **hub)
            kind = detect_kind(config)
            task = _checkpoint.dropped_head(config)
            # a sequence classifier of a family whose head interp reads keeps its head (objectives.label)
            keep = bool(task and task.endswith("ForSequenceClassification")) and (
                config.model_type in _encoder.CLASSIFIER_FAMILIES
            )
            auto = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
            if keep:
                from transformers import AutoModelForSequenceClassification as auto
            hf_model, info = auto.from_pretrained(
                src,
                trust_remote_code=False,
                use_safetensors=True,
                attn_implementation="eager",
                dtype=dtype,
                output_loading_info=True,
                **placing,
                **hub,
            )
            if kind == "bidirectional" and not keep:
                hf_model, info = _checkpoint.headless(hf_model, info)
            _checkpoint.refuse_new_weights(name, info)
            dropped = None if keep else task
            tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=False, **hub)
    except InterpError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        if not local and "safetensors" in str(err):
            raise UnsafeModelError(
                f"{echo(name)} has no safetensors weights on the hub: interp does not unpickle weights. "
                "Download it, convert pytorch_model.bin to model.safetensors, and load the folder."
            ) from None
        raise ModelLoadError(
            f"could not load the model or tokenizer of {echo(name)}: {type(err).__name__}: {echo(str(err))}"
        ) from err
    except Exception as err:  # safetensors' and tokenizers' own error types (they name no file)
        what = "weights" if type(err).__name__ == "SafetensorError" else "model or tokenizer files"
        raise ModelLoadError(
            f"the {what} of {echo(name)} could not be read ({type(err).__name__}: {echo(str(err))}): a file is "
            "damaged or not what its name says; save the model and tokenizer again with save_pretrained"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    revision = found or getattr(config, "_commit_hash", None)
    if engine == "nnsight":
        from interp.models import nnsight_engine

        if placing:
            raise ModelLoadError(
                "the nnsight engine runs a model on one device here: drop device_map, or run it remotely"
            )
        if _encoder.encoder_of(hf_model) is not None:
            raise ModelLoadError(
                f"{echo(name)} has no language-model head, and the nnsight engine reads through one: load it "
                "with engine='bridge' (encoder-only)"
            )
        hf_model.to(dev)
        model = nnsight_engine.wrap(
            hf_model, tokenizer, name=name, kind=detect_kind(config, hf_model), revision=revision
        )
    else:
        model = wrap(hf_model, tokenizer, name=name, device=dev, revision=revision)
    model.pooling = pooling
    if dropped:
        warnings.warn(
            f"{echo(name)} is a {dropped}: its task head is not loaded (interp reads language models and "
            "encoders). It loads encoder-only: attention, hooks and attribution with objective= work on the "
            "encoder; the classifier's outputs are not part of this model",
            InterpWarning,
            stacklevel=3,  # load <- its argument check <- the caller
        )
    return model


ENGINES = ("bridge", "nnsight")
VLLM = (
    "there is no local vLLM engine: vLLM runs behind nnsight's server on your cluster; point NDIF_HOST (or "
    "nnsight.CONFIG.API.HOST) at that server and load with engine='nnsight', remote=True. nnsight's vLLM "
    "backend cannot share this install: vllm 0.33.0 pins torch==2.14.0 and transformers<5.21, vllm 0.32.0 "
    "transformers<5.20 (interp pins torch 2.13.0 and transformers 5.24.0), and vLLM needs a CUDA GPU"
)
"""Why ``engine="vllm"`` is refused, and what to do instead (docs/howto.md)."""
"""``bridge``: TransformerLens's TransformerBridge (every analysis); ``nnsight``: nnsight's tracing (local or
remote; the analyses whose needs ``nnsight_engine.LOCAL_CAPABILITIES`` or ``REMOTE_CAPABILITIES`` meet)."""


def _remote(name: str, device: Any, device_map: Any, revision: str | None = None) -> Model:
    """A hub model run remotely through nnsight: no weights here, nothing placed here."""
    from interp.models import nnsight_engine

    if device is not None or device_map is not None:
        raise ModelLoadError("a remote model runs where its server puts it: drop device and device_map")
    if sources.find(name) is not None or Path(name).expanduser().exists():
        raise ModelLoadError(
            f"{echo(name)} is a {'zoo model' if sources.find(name) is not None else 'local folder'}, which runs "
            "here, not on a remote server: drop remote=True (engine='nnsight' alone runs it locally through "
            "nnsight), or pass a hub id that the server hosts"
        )
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=False, revision=revision)
    except (OSError, ValueError) as err:
        raise _unknown(name, err) from None
    return nnsight_engine.load_remote(name, detect_kind(config), revision)


@checks.checked
def wrap(
    hf_model: Any,
    tokenizer: Any,
    *,
    name: str | None = None,
    device: str | torch.device | None = None,
    revision: str | None = None,
) -> Model:
    """Wrap an already loaded Hugging Face causal or masked LM and its tokenizer.

    An encoder without a language-model head (``BertModel``, ``RobertaModel``, or the encoder inside a
    classifier) is wrapped encoder-only: ``has_lm_head`` is False (attention, hooks and ``objective=`` work;
    answers and the lens raise :class:`~interp.errors.NoLMHeadError`). The model is switched to eager attention
    and put in eval mode; the TransformerBridge wraps it in place. Wrapping the same model again reuses that
    bridge: no hooks are added and the forward pass is as fast.
    """
    from transformers import PreTrainedTokenizerBase

    config = getattr(hf_model, "config", None)
    if not isinstance(hf_model, torch.nn.Module) or config is None:
        raise ModelLoadError(f"wrap() takes a Hugging Face model; got {type(hf_model).__name__}")
    if tokenizer is None:
        raise ModelLoadError("wrap() needs the model's tokenizer: wrap(hf_model, tokenizer)")
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TokenizerError(
            f"wrap() needs a Hugging Face tokenizer (AutoTokenizer.from_pretrained(...)), got "
            f"{type(tokenizer).__name__}"
        )
    if name is not None and not isinstance(name, str):
        raise ModelLoadError(f"name must be a string, got {type(name).__name__}")
    if revision is not None and not isinstance(revision, str):
        raise ModelLoadError(f"revision must be a string (a commit or tag), got {type(revision).__name__}")
    kind = detect_kind(config, hf_model)
    layers = getattr(config, "num_hidden_layers", None)
    if isinstance(layers, int) and layers < 1:
        raise ModelLoadError(
            f"{type(hf_model).__name__} has {layers} layers (config.num_hidden_layers): interp reads a model "
            "through its layers, so it needs at least one"
        )
    _booting.check_tokenizer(tokenizer, name or type(hf_model).__name__)
    dev = resolve_device(device) if device is not None else None
    name = name or getattr(config, "name_or_path", None) or type(hf_model).__name__
    bridge = vars(hf_model).get("_interp_bridge")
    if bridge is None:
        bridge = _booting.boot(hf_model, tokenizer, name, dev if dev is not None else default_device())
    elif dev is not None and dev != next(hf_model.parameters()).device:
        if _placement.device_map_of(hf_model) is not None:
            raise ModelLoadError(
                f"{echo(name)} is spread over several devices (device_map): wrap it without device="
            )
        hf_model.to(dev)
    encoder = _encoder.encoder_of(hf_model)
    has_lm_head = encoder is None
    head = _encoder.classifier_head(hf_model)
    if encoder is not None and encoder is not hf_model and head is None:
        warnings.warn(
            f"{type(hf_model).__name__} has a task head that interp does not read: it is wrapped encoder-only "
            "(attention, hooks and attribution with objective= work on the encoder; the head's outputs are not "
            "part of this model)",
            InterpWarning,
            stacklevel=3,  # wrap <- its argument check <- the caller
        )
    model = Model(bridge, tokenizer, name=str(name), kind=kind, revision=revision, has_lm_head=has_lm_head)
    # a sequence classifier's head and labels, for interp.objectives.label
    model.classifier_head = head
    model.labels = dict(getattr(config, "id2label", None) or {}) if head is not None else {}
    if _repair.EngineState.recorded(bridge) is None:
        # The bridge and transformers attach lasting hooks on the first forward; do it now, not mid-analysis,
        # then record every module's hooks: the state that Model.reset() restores.
        with torch.no_grad():
            model._forward(model.to_tokens(_booting.warmup_text(tokenizer)), {})
        _repair.EngineState.of(bridge)
    return model
