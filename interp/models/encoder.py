"""Encoder-only models: a bidirectional encoder without a language-model head (``BertModel``, ``RobertaModel``,
a sentence-transformers folder, the encoder inside a classifier).

The engine's adapters know each family as its masked LM: blocks under ``bert.``/``roberta.``, the head under
``cls.``/``lm_head.``. An encoder boots with that adapter minus the head's components, inside a shell that
puts the encoder where the adapter looks for it. No head exists in the result, random or otherwise, so nothing
can be read through one: the model has ``has_lm_head == False``, its forward pass ends at the final states, and
analyses that need answers or logits raise :class:`~interp.errors.NoLMHeadError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from interp.models.families import FAMILIES

MASKED_LM = {f.model_type: f.masked_lm for f in FAMILIES if f.masked_lm}
"""model_type -> the masked-LM architecture whose engine adapter runs that family's encoder."""
HEAD_COMPONENTS = ("mlm_head", "unembed", "ln_final")
"""The adapter's components that belong to the masked-LM head (an encoder's bridge has none of them)."""
LM_CLASSES = ("ForMaskedLM", "ForCausalLM", "LMHeadModel", "ForPreTraining")
"""Class-name endings of Hugging Face models that carry a language-model head."""
_MODULES_BYTES = 1_000_000  # a modules.json lists a handful of modules


def encoder_of(hf_model: Any) -> torch.nn.Module | None:
    """The bare encoder of ``hf_model`` when it has no language-model head and its family can run headless
    (``BertModel`` itself, the ``bert`` inside a ``BertForSequenceClassification``); None otherwise."""
    if type(hf_model).__name__.endswith(LM_CLASSES):
        return None
    base = getattr(hf_model, "base_model", None)
    config = getattr(base, "config", None)
    if isinstance(base, torch.nn.Module) and getattr(config, "model_type", None) in MASKED_LM:
        return base
    return None


class EncoderShell(torch.nn.Module):
    """The encoder under its masked-LM attribute name (``bert``, ``roberta``), where the adapter looks for its
    blocks. Its forward pass is the encoder's: final states, no logits."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.prefix = encoder.base_model_prefix
        self.add_module(self.prefix, encoder)
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor | None = None, **kwargs: Any) -> Any:
        return getattr(self, self.prefix)(input_ids=input_ids, **kwargs)


def boot(encoder: torch.nn.Module, tokenizer: Any, name: str) -> Any:
    """A TransformerBridge over ``encoder``: the family's masked-LM adapter without its head components."""
    from transformer_lens.model_bridge.sources import build_bridge_from_module

    from interp.models.adapters import register

    register()  # the families whose adapter is ours

    def drop_head(adapter: Any) -> None:
        for key in HEAD_COMPONENTS:
            adapter.component_mapping.pop(key, None)

    return build_bridge_from_module(
        EncoderShell(encoder),
        MASKED_LM[encoder.config.model_type],
        hf_config=encoder.config,
        tokenizer=tokenizer,
        model_name=name,
        post_adapter_hook=drop_head,
    )


def transformer_folder(folder: Path) -> Path:
    """Where a folder's transformer lives: the folder itself, or, for a sentence-transformers model whose
    config.json is not at the top, the subfolder of its Transformer module (named in modules.json;
    ``0_Transformer`` in older layouts). A path in modules.json that leads outside the folder is ignored."""
    if (folder / "config.json").exists():
        return folder
    top = folder.resolve()
    for entry in _modules(folder):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not (isinstance(path, str) and str(entry.get("type", "")).endswith("models.Transformer")):
            continue
        sub = (folder / path).resolve()
        if (sub == top or top in sub.parents) and (sub / "config.json").exists():
            return sub
    legacy = folder / "0_Transformer"
    return legacy if (legacy / "config.json").exists() else folder


def _modules(folder: Path) -> list:
    """modules.json read as plain data (no code; a missing or unreadable file lists nothing)."""
    path = folder / "modules.json"
    try:
        if not path.is_file() or path.stat().st_size > _MODULES_BYTES:
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return []
    return data if isinstance(data, list) else []
