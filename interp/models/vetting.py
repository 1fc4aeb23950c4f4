"""What interp checks before transformers reads anything: a model folder's (or hub repo's) config and files,
and the device and dtype asked for.

A model folder is data, never code: ``config.json`` and ``tokenizer_config.json`` are read here as plain JSON;
a folder that asks to run its own code (``auto_map``; unless transformers implements its model type and
classes itself: then those load, with a warning, and its code never runs), declares a model type outside :data:`SUPPORTED`, holds
its weights only as pickle files, or has no tokenizer files is refused with an
:class:`~interp.errors.InterpError` subclass that says what to do.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from interp.errors import (
    DeviceError,
    ModelLoadError,
    TokenizerError,
    UnsafeModelError,
    UnsupportedArchitectureError,
    echo,
)
from interp.models import closed_world
from interp.models.families import SUPPORTED, describe

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "double": torch.float64,
}
"""Accepted ``dtype`` strings (``torch.`` prefix allowed) -> torch dtypes: floating point only."""

_SAFE_WEIGHTS = ("*.safetensors", "*.safetensors.index.json")
_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle", "*.bin.index.json")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def unsupported(model_type: Any) -> UnsupportedArchitectureError:
    return UnsupportedArchitectureError(
        f"architecture {echo(model_type)} is not supported. Supported families (model_type in brackets): "
        f"{describe()}. Convert or pick a model of one of these types."
    )


def _read_json(path: Path, what: str, roots: tuple[Path, ...] | None = None) -> dict[str, Any]:
    """A JSON object read as plain data (no code, a regular file inside the folder, bounded size)."""
    data = closed_world.read_json(path, roots if roots is not None else (path.parent,), what)
    if not isinstance(data, dict):
        raise ModelLoadError(
            f"{_short(path)} is not a {what}: it holds a JSON {type(data).__name__}, not an object"
        )
    return data


_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


def _vet_layers(config: dict[str, Any], where: str) -> None:
    """A config whose layer count is not a positive integer would fail deep inside the engine."""
    for key in _LAYER_KEYS:
        if key in config:
            n = config[key]
            if type(n) is not int or n < 1:
                raise ModelLoadError(
                    f"{where}'s config.json gives {key}={echo(n, 40)}: a model needs at least one layer. Fix "
                    "config.json or save the model again with save_pretrained"
                )
            return


def vet_config(config: dict[str, Any], where: str) -> str:
    """Refuse a config that would run code or that interp does not support; return its kind."""
    model_type = config.get("model_type")
    if "auto_map" in config:
        if not _native(config):
            raise UnsafeModelError(
                f"{where} asks to run its own Python code (its config has an 'auto_map' entry): interp never runs "
                f"code from a model folder. Use a model of a supported type saved with save_pretrained: {describe()}."
            )
        # Checkpoints published before transformers implemented their family (Phi-3, for one) still name
        # their own code; the built-in implementation of the same model type is what loads (never their code).
        warnings.warn(
            f"{where}'s config names its own Python code (auto_map), which interp never runs: loading "
            f"transformers' built-in {model_type} implementation instead",
            stacklevel=3,
        )
    if not isinstance(model_type, str) or model_type not in SUPPORTED:
        raise unsupported(model_type)
    _vet_layers(config, where)
    archs = config.get("architectures")
    if archs is not None and not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
        raise ModelLoadError(f"{where}: 'architectures' must be a list of class names, got {echo(archs)}")
    return SUPPORTED[model_type]


def _native(config: dict[str, Any]) -> bool:
    """True if transformers itself implements this config's model type and every architecture it names."""
    model_type, archs = config.get("model_type"), config.get("architectures")
    if not (isinstance(model_type, str) and model_type in SUPPORTED and isinstance(archs, list) and archs):
        return False
    import transformers

    return all(isinstance(a, str) and hasattr(transformers, a) for a in archs)


def _vet_tokenizer_config(data: dict[str, Any], where: str) -> None:
    if "auto_map" in data:
        raise UnsafeModelError(
            f"{where}'s tokenizer asks to run its own Python code (tokenizer_config.json has an 'auto_map' "
            "entry): interp never runs code from a model folder. Save a standard tokenizer with "
            "tokenizer.save_pretrained(folder)."
        )
    for key, value in data.items():
        # save_pretrained never writes file paths here; one that names another place is not read
        if key.endswith(("_file", "_files")) and isinstance(value, str) and ("/" in value or "\\" in value):
            raise UnsafeModelError(
                f"{where}'s tokenizer_config.json names the file {echo(value, 80)} ({key}), outside the model "
                "folder: interp reads only files inside it. Remove the entry or save the tokenizer again with "
                "tokenizer.save_pretrained(folder)"
            )


def _short(path: Any) -> str:
    """A path for a message: as given, or cut to the message limit."""
    return echo(str(path))[1:-1] if len(str(path)) > 120 else str(path)


def _pickle_only(folder: Path) -> UnsafeModelError:
    where = _short(folder)
    return UnsafeModelError(
        f"{where} holds its weights only as pickle files ({', '.join(sorted(_files(folder, _PICKLE_WEIGHTS)))}), "
        "which can run code when loaded; interp reads safetensors only. Convert once, if you trust the file: "
        "import torch; from safetensors.torch import save_file; "
        f"sd = torch.load('{where}/pytorch_model.bin', weights_only=True); "
        "save_file({k: v.contiguous().clone() for k, v in sd.items()}, "
        f"'{where}/model.safetensors', metadata={{'format': 'pt'}})"
    )


def _files(folder: Path, patterns: tuple[str, ...]) -> set[str]:
    return {p.name for pattern in patterns for p in folder.glob(pattern) if p.is_file()}


def vet_folder(folder: Path, roots: tuple[Path, ...] = ()) -> str:
    """Everything interp checks in a model folder before transformers reads it; returns the model's kind.

    ``roots``: where else the folder's files may resolve besides the folder itself (the hub cache's blobs, the
    sentence-transformers folder around its Transformer module)."""
    where = _short(folder)
    closed_world.check_folder(folder, roots)  # before any file is opened: regular files inside, size-capped
    allowed = (folder, *roots)
    kind = vet_config(_read_json(folder / "config.json", "model config", allowed), where)
    tok_config = folder / "tokenizer_config.json"
    if os.path.lexists(tok_config):
        _vet_tokenizer_config(_read_json(tok_config, "tokenizer config", allowed), where)
    if not _files(folder, _SAFE_WEIGHTS):
        if _files(folder, _PICKLE_WEIGHTS):
            raise _pickle_only(folder)
        raise ModelLoadError(
            f"{where} has no weights: save them with model.save_pretrained(folder) (model.safetensors)"
        )
    if not _files(folder, _TOKENIZER_FILES):
        raise TokenizerError(
            f"{where} has no tokenizer files (tokenizer.json, vocab.txt, vocab.json, tokenizer.model, ...): "
            "save the model's tokenizer there with tokenizer.save_pretrained(folder), or load both yourself "
            "and call interp.wrap(model, tokenizer)"
        )
    return kind


def vet_hub(repo: str, unknown: Callable[[str, Exception], Exception], revision: str | None = None) -> None:
    """The hub's config.json (and tokenizer_config.json) at ``revision``, fetched as files and vetted like a
    folder's."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo, "config.json", revision=revision))
    except Exception as err:
        raise unknown(repo, err) from None
    cache = (path.parents[2],)  # the repo's cache folder: snapshots link into its blobs
    vet_config(_read_json(path, "model config", cache), repo)
    try:
        tok = Path(hf_hub_download(repo, "tokenizer_config.json", revision=revision))
    except Exception:
        return  # none: the tokenizer is read from its vocabulary files, which hold no code
    _vet_tokenizer_config(_read_json(tok, "tokenizer config", cache), repo)


# ---- device and dtype -------------------------------------------------------------------------------------


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: Any) -> torch.device:
    """A torch device that exists on this machine; DeviceError with what to pass instead otherwise."""
    if device is None:
        return default_device()
    if isinstance(device, str):
        try:
            dev = torch.device(device.strip())
        except (RuntimeError, ValueError):
            raise DeviceError(
                f"unknown device {echo(device)}: use 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from None
    elif isinstance(device, torch.device):
        dev = device
    else:
        raise DeviceError(f"device must be a string such as 'cpu' or 'cuda', got {type(device).__name__}")
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA device visible"
            raise DeviceError(
                f"device {str(dev)!r} asked for, but CUDA is not available ({build}): use device='cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {str(dev)!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
        return dev
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(
                "device 'mps' asked for, but Apple's MPS is not available here: use device='cpu'"
            )
        return dev
    raise DeviceError(f"device {str(dev)!r} is not supported: use 'cpu', 'cuda', 'cuda:N' or 'mps'")


def resolve_dtype(dtype: Any) -> torch.dtype:
    """A floating-point torch dtype (default float32); DeviceError listing the accepted names otherwise."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            return dtype
    elif isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key in DTYPES:
            return DTYPES[key]
    raise DeviceError(
        f"unsupported dtype {echo(dtype)}: use 'float32' (default), 'float16', 'bfloat16' or 'float64' "
        "(quantized weights such as int8 are not supported)"
    )
