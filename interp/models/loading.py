"""``interp.load`` and ``interp.wrap``: from a zoo name, a folder, a hub id or a live HF model to a Model."""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from interp.errors import ModelLoadError, UnsupportedArchitectureError
from interp.models import sources
from interp.models.handle import Model

# model_type -> architectures whose parity with Hugging Face is tested (tests/test_parity.py).
SUPPORTED = {
    "gpt2": "causal",
    "gpt_neox": "causal",
    "llama": "causal",
    "qwen2": "causal",
    "opt": "causal",
    "bert": "bidirectional",
    "roberta": "bidirectional",
}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def detect_kind(config: Any, model: Any | None = None) -> str:
    """``"causal"`` or ``"bidirectional"`` from the model class or the config's architectures and type."""
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED:
        raise UnsupportedArchitectureError(
            f"architecture {model_type!r} is not supported. Supported model types: "
            f"{', '.join(SUPPORTED)} (causal: GPT-2, GPT-NeoX/Pythia, Llama, Qwen2, OPT; bidirectional: BERT, "
            "RoBERTa). Convert or pick a model of one of these types."
        )
    names = (
        [type(model).__name__] if model is not None else list(getattr(config, "architectures", None) or [])
    )
    for arch in names:
        if arch.endswith("ForMaskedLM"):
            return "bidirectional"
        if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
            return "causal"
    if model is not None:
        raise UnsupportedArchitectureError(
            f"{type(model).__name__} has no language-model head: wrap a *ForCausalLM, *LMHeadModel or "
            "*ForMaskedLM model"
        )
    return SUPPORTED[model_type]


def _source(name_or_path: str | os.PathLike) -> tuple[str, str]:
    """(display name, where to load from) for a source's model name (the zoo's), a folder or a hub id."""
    name = str(name_or_path)
    found = sources.find(name)
    if found is not None:
        source, folder = found
        if not (folder / "config.json").exists():
            raise ModelLoadError(
                f"the {source.name} model {name!r} is missing from {folder}. {source.missing}"
            )
        return name, str(folder)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelLoadError(
                f"{name} is not a model folder: it needs a config.json, weights and a tokenizer, as written by "
                "model.save_pretrained(folder) and tokenizer.save_pretrained(folder)"
            )
        return path.name, str(path)
    return name, name


def _unknown(name: str, err: Exception) -> ModelLoadError:
    known = sources.names()
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    offline = " (HF_HUB_OFFLINE=1 is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    return ModelLoadError(
        f"unknown model {name!r}.{hint} Embedded models: {', '.join(known)}. A local folder works "
        f"offline; a hub id needs hub access or a local cache{offline}. ({type(err).__name__})"
    )


def load(
    name_or_path: str | os.PathLike, *, device: str | torch.device | None = None, dtype: Any = None
) -> Model:
    """Load a zoo model (``"tiny-causal"``, ``"tiny-bidirectional"``), a local HF folder or a hub id.

    Attention is always eager, so attention patterns are real. ``device=None`` means CUDA when available.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    name, src = _source(name_or_path)
    try:
        config = AutoConfig.from_pretrained(src)
    except (OSError, ValueError) as err:
        if Path(src).exists():
            raise ModelLoadError(f"{src} holds no readable model config: {err}") from err
        raise _unknown(name, err) from err
    kind = detect_kind(config)
    auto = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
    dtype = _dtype(dtype)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-tensor loading bar is noise for models this size, and in notebooks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf_model = auto.from_pretrained(src, attn_implementation="eager", dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(src)
    except OSError as err:
        raise ModelLoadError(f"could not load the weights or tokenizer of {name}: {err}") from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return wrap(hf_model, tokenizer, name=name, device=device, revision=getattr(config, "_commit_hash", None))


def _dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        try:
            return getattr(torch, dtype.replace("torch.", ""))
        except AttributeError:
            raise ModelLoadError(f"unknown dtype {dtype!r}: use 'float32', 'float16' or 'bfloat16'") from None
    return dtype


def wrap(
    hf_model: Any,
    tokenizer: Any,
    *,
    name: str | None = None,
    device: str | torch.device | None = None,
    revision: str | None = None,
) -> Model:
    """Wrap an already loaded Hugging Face causal or masked LM and its tokenizer.

    The model is switched to eager attention and put in eval mode; the TransformerBridge wraps it in place.
    """
    from transformer_lens.model_bridge import TransformerBridge

    if tokenizer is None:
        raise ModelLoadError("wrap() needs the model's tokenizer: wrap(hf_model, tokenizer)")
    config = getattr(hf_model, "config", None)
    if config is None:
        raise ModelLoadError(f"wrap() takes a Hugging Face model; got {type(hf_model).__name__}")
    kind = detect_kind(config, hf_model)
    name = name or getattr(config, "name_or_path", None) or type(hf_model).__name__
    if hasattr(hf_model, "set_attn_implementation"):
        hf_model.set_attn_implementation("eager")
    else:
        config._attn_implementation = "eager"
    hf_model.eval()
    hf_model.to(torch.device(device) if device is not None else default_device())
    # The bridge re-creates the tokenizer from its recorded origin; give an in-memory one a harmless origin.
    tokenizer.init_kwargs.setdefault("name_or_path", getattr(tokenizer, "name_or_path", "") or "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bridge = TransformerBridge.boot_transformers(
                str(getattr(config, "name_or_path", "") or name), hf_model=hf_model, tokenizer=tokenizer
            )
    except (ValueError, KeyError, OSError) as err:
        raise ModelLoadError(f"the engine could not wrap {name}: {err}") from err
    bridge.eval()
    for p in bridge.original_model.parameters():
        p.requires_grad_(False)
    model = Model(bridge, tokenizer, name=str(name), kind=kind, revision=revision)
    # The bridge and transformers attach lasting hooks on the first forward; do it now, not mid-analysis.
    with torch.no_grad():
        model.forward(model.to_tokens(_warmup_text(tokenizer)))
    return model


def _warmup_text(tokenizer: Any) -> str:
    vocab = tokenizer.get_vocab()
    specials = set(tokenizer.all_special_tokens)
    word = next((w for w in sorted(vocab, key=vocab.get) if w not in specials and w.strip()), "a")
    return word
