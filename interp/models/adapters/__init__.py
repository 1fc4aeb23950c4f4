"""Engine adapters for masked LMs that the installed TransformerLens does not cover.

Each is a TransformerLens architecture adapter: a map from TransformerLens component names to the Hugging Face
modules, so the bridge wraps the model in place and serves the same hook names (``hook_embed``,
``blocks.{i}.hook_resid_pre``, ``blocks.{i}.attn.hook_pattern``, ...) as for the families it knows.
"""

from __future__ import annotations

from typing import Any

from interp.models.families import FAMILIES

_ADAPTERS = {f.masked_lm: tuple(f.adapter.split(":")) for f in FAMILIES if f.adapter}
"""Hugging Face architecture -> (module, adapter class), from each family's declaration."""
FROM_MODULE = frozenset({"Gemma3ForConditionalGeneration"})
"""Architectures the engine knows but that boot from the loaded module here: booting by name loads an image
processor for them, and the engine installs torchvision with pip when that is missing."""


def register() -> None:
    """Register every adapter with the engine's factory (idempotent; the engine's own adapters win)."""
    import importlib

    from transformer_lens.factories.architecture_adapter_factory import ArchitectureAdapterFactory

    for arch, (module, cls) in _ADAPTERS.items():
        if arch not in ArchitectureAdapterFactory._adapters:
            ArchitectureAdapterFactory.register_adapter(arch, getattr(importlib.import_module(module), cls))


def covers(hf_model: Any) -> bool:
    """Whether ``hf_model`` boots here: a masked LM one of these adapters runs, or one of :data:`FROM_MODULE`."""
    return type(hf_model).__name__ in _ADAPTERS or type(hf_model).__name__ in FROM_MODULE


def boot(hf_model: Any, tokenizer: Any, name: str) -> Any:
    """A TransformerBridge over ``hf_model`` through its family's adapter (ours or the engine's)."""
    from transformer_lens.model_bridge.sources import build_bridge_from_module

    register()
    return build_bridge_from_module(
        hf_model, type(hf_model).__name__, hf_config=hf_model.config, tokenizer=tokenizer, model_name=name
    )
