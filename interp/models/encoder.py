"""Encoder-only models: a bidirectional encoder without a language-model head (``BertModel``, ``RobertaModel``,
a sentence-transformers folder, the encoder inside a classifier).

The engine's adapters know each family as its masked LM: blocks under ``bert.``/``roberta.``, the head under
``cls.``/``lm_head.``. An encoder boots with that adapter minus the head's components, inside a shell that
puts the encoder where the adapter looks for it. No head exists in the result, random or otherwise, so nothing
can be read through one: the model has ``has_lm_head == False``, its forward pass ends at the final states, and
analyses that need answers or logits raise :class:`~interp.errors.NoLMHeadError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from interp.errors import ModelLoadError, UnsafeModelError, echo
from interp.models import closed_world
from interp.models.families import FAMILIES

MASKED_LM = {f.model_type: f.masked_lm for f in FAMILIES if f.masked_lm}
"""model_type -> the masked-LM architecture whose engine adapter runs that family's encoder."""
HEAD_COMPONENTS = ("mlm_head", "unembed", "ln_final")
"""The adapter's components that belong to the masked-LM head (an encoder's bridge has none of them)."""
LM_CLASSES = ("ForMaskedLM", "ForCausalLM", "LMHeadModel", "ForPreTraining")
"""Class-name endings of Hugging Face models that carry a language-model head."""


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


CLASSIFIER_FAMILIES = ("bert", "roberta", "electra")
"""Families whose sequence-classification head interp keeps (:func:`classifier_head`)."""


def classifier_head(hf_model: Any) -> Any:
    """``(batch, T, d_model)`` final states -> ``(batch, n_labels)`` logits: a sequence classifier's head,
    computed as its own forward pass computes it after the encoder (BERT: pooler, dropout, classifier; RoBERTa
    and ELECTRA: their classification head on the first token). None for any other model."""
    if not type(hf_model).__name__.endswith("ForSequenceClassification"):
        return None
    family = getattr(hf_model.config, "model_type", None)
    if family == "bert" and getattr(hf_model.bert, "pooler", None) is not None:
        return lambda states: hf_model.classifier(hf_model.dropout(hf_model.bert.pooler(states)))
    if family in ("roberta", "electra"):
        return lambda states: hf_model.classifier(states)
    return None


def transformer_folder(folder: Path) -> Path:
    """Where a folder's transformer lives: the folder itself, or, for a sentence-transformers model whose
    config.json is not at the top, the subfolder of its Transformer module (named in modules.json;
    ``0_Transformer`` in older layouts). A module that leads outside the folder is refused."""
    if os.path.lexists(folder / "config.json"):
        return folder
    for entry in _modules(folder):
        if str(entry.get("type", "")).endswith("models.Transformer"):
            sub = closed_world.regular_folder(folder / entry["path"], (folder,))
            if os.path.lexists(sub / "config.json"):
                return sub
    legacy = folder / "0_Transformer"
    if os.path.lexists(legacy):
        sub = closed_world.regular_folder(legacy, (folder,))
        if os.path.lexists(sub / "config.json"):
            return sub
    return folder


def _modules(folder: Path, roots: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """modules.json's entries with a path, read as plain data through the closed-world checks (no file: none)."""
    path = folder / "modules.json"
    if not os.path.lexists(path):
        return []
    data = closed_world.read_json(path, (folder, *roots), "sentence-transformers module list")
    if not isinstance(data, list):
        raise ModelLoadError(f"{closed_world.shown(path)} is not a list of modules: save the model again")
    out = []
    for entry in data:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("type"), str)
        ):
            if os.path.isabs(entry["path"]) or ".." in Path(entry["path"]).parts:
                raise UnsafeModelError(
                    f"{closed_world.shown(path)} names the module folder {echo(entry['path'], 80)}, outside the "
                    "model folder: interp reads only files inside it. Fix modules.json"
                )
            out.append(entry)
    return out


POOLING_MODES = ("cls", "mean", "max", "lasttoken", "mean_sqrt_len_tokens", "weightedmean")
"""Sentence-transformers' pooling modes, as its ``1_Pooling/config.json`` names them
(``pooling_mode_<mode>_token[s]``, ``pooling_mode_lasttoken``)."""


def pooling(folder: Path, roots: tuple[Path, ...] = ()) -> dict[str, Any] | None:
    """The pooling and normalisation of a sentence-transformers folder (``modules.json``, its Pooling module's
    config.json, a Normalize module), or None where the folder has no Pooling module.

    Returns ``{"mode": one of POOLING_MODES, "include_prompt": bool, "normalize": bool, "source": path,
    "unapplied": names of other modules (Dense, ...)}``."""
    modules = _modules(folder, roots)
    pool = next((m for m in modules if m["type"].endswith("models.Pooling")), None)
    if pool is None:
        return None
    config_path = closed_world.regular_folder(folder / pool["path"], (folder, *roots)) / "config.json"
    config = closed_world.read_json(folder / pool["path"] / "config.json", (folder, *roots), "pooling config")
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"{closed_world.shown(config_path)} is not a pooling config: save the model again"
        )
    modes = [
        mode
        for mode in POOLING_MODES
        if any(config.get(f"pooling_mode_{mode}{end}") is True for end in ("_token", "_tokens", ""))
    ]
    if len(modes) != 1:
        raise ModelLoadError(
            f"{closed_world.shown(config_path)} turns on {len(modes)} pooling modes ({', '.join(modes) or 'none'}); "
            "interp reproduces one mode at a time (cls, mean, max, lasttoken): fix the pooling config"
        )
    return {
        "mode": modes[0],
        "include_prompt": config.get("include_prompt", True) is not False,
        "normalize": any(m["type"].endswith("models.Normalize") for m in modules),
        "source": str(config_path),
        "unapplied": [  # modules after the encoder that similarity does not reproduce (Dense, ...)
            m["type"].rsplit(".", 1)[-1]
            for m in modules
            if not m["type"].endswith(("models.Transformer", "models.Pooling", "models.Normalize"))
        ],
    }
