"""What a checkpoint holds once transformers has read it: weights it would initialise at random (refused), a
masked LM's missing head (an encoder-only checkpoint: the encoder alone) and task heads interp does not read."""

from __future__ import annotations

from typing import Any

from interp.errors import ModelLoadError, echo
from interp.models import encoder as _encoder

_TASK_HEADS = (
    "ForSequenceClassification",
    "ForTokenClassification",
    "ForQuestionAnswering",
    "ForMultipleChoice",
)


def dropped_head(config: Any) -> str | None:
    """The task-head class a config names (a classifier's), whose head an encoder-only load leaves out."""
    for arch in getattr(config, "architectures", None) or ():
        if isinstance(arch, str) and arch.endswith(_TASK_HEADS):
            return arch
    return None


# Weights a language-model head owns, by family: missing alone, they mean an encoder-only checkpoint.
HEAD_PREFIXES = ("cls.", "lm_head.", "head.", "decoder.", "generator_", "vocab_")


def _group(key: str) -> str:
    """``transformer.h.1.mlp.c_fc.weight`` -> ``transformer.h.1.*``; ``cls.predictions.bias`` -> ``cls.predictions.*``."""
    parts = key.split(".")
    digit = next((i for i, p in enumerate(parts) if p.isdigit()), None)
    return ".".join(parts[: digit + 1 if digit is not None else min(2, len(parts) - 1)] or parts) + ".*"


def headless(hf_model: Any, info: dict) -> tuple[Any, dict]:
    """A masked LM whose checkpoint lacks only the head (``BertModel`` weights, a sentence encoder): its encoder
    alone, with no missing weights left, so that it loads encoder-only. Anything else is returned as it is."""
    missing = set(info.get("missing_keys") or ())
    encoder = getattr(hf_model, "base_model", None)
    if (
        not missing
        or info.get("mismatched_keys")
        or not all(k.startswith(HEAD_PREFIXES) for k in missing)
        or encoder is hf_model
        or _encoder.encoder_of(encoder) is None
    ):
        return hf_model, info
    return encoder, {**info, "missing_keys": set()}  # the randomly initialised head is dropped unused


def refuse_new_weights(name: str, info: dict) -> None:
    """Refuse a checkpoint that leaves any weight newly (randomly) initialised: its outputs would look like the
    model's and be noise. ``info`` is transformers' loading info (missing and mismatched keys)."""
    mismatched = [k[0] if isinstance(k, (tuple, list)) else k for k in info.get("mismatched_keys") or ()]
    new = sorted(set(info.get("missing_keys") or ()) | set(mismatched))
    if not new:
        return
    groups = sorted({_group(k) for k in new})
    shown = ", ".join(groups[:6]) + (f" and {len(groups) - 6} more" if len(groups) > 6 else "")
    if all(k.startswith(HEAD_PREFIXES) for k in new):
        why = (
            "this checkpoint has no language-model head: interp reads answers through the model's own head and "
            "will not read them through random weights. Load a checkpoint saved with its head (a ...ForCausalLM "
            f"or ...ForMaskedLM model); only encoders of {', '.join(_encoder.MASKED_LM)} load without one "
            "(encoder-only)"
        )
    else:
        why = "the checkpoint is incomplete or does not match its config.json: save the model again and reload it"
    raise ModelLoadError(
        f"{echo(name)} would leave {len(new)} weight(s) newly initialised at random ({shown}): {why}"
    )
