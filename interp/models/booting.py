"""Putting a Hugging Face model under the engine (``interp.wrap``'s work): eager attention (said when it
changes), eval mode, the device, the TransformerBridge or one of interp's adapters, and the tokenizer checks."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch

from interp.errors import InterpWarning, ModelLoadError, TokenizerError, echo
from interp.models import adapters as _adapters
from interp.models import encoder as _encoder
from interp.models import placement as _placement


def boot(hf_model: Any, tokenizer: Any, name: str, device: torch.device) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    config = hf_model.config
    before = getattr(config, "_attn_implementation", None)
    if before not in (None, "eager"):
        warnings.warn(
            f"interp.wrap switched {echo(str(name))} from {echo(before)} to eager attention, in place: attention "
            "weights exist only with eager attention. The model you passed now runs eager attention (same "
            f"outputs, slower); call hf_model.set_attn_implementation({before!r}) after interp if you need it back",
            InterpWarning,
            stacklevel=4,  # boot <- wrap <- its argument check <- the caller
        )
    if hasattr(hf_model, "set_attn_implementation"):
        hf_model.set_attn_implementation("eager")
    else:
        config._attn_implementation = "eager"
    hf_model.eval()
    if _placement.device_map_of(hf_model) is None:  # a placed model stays where its device map put it
        hf_model.to(device)
    encoder = _encoder.encoder_of(hf_model)
    engine_tok = engine_tokenizer(tokenizer)
    # The engine finds the adapter by the config's architectures; a config built in memory has none.
    declared = getattr(config, "architectures", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if encoder is not None:
                bridge = _encoder.boot(encoder, engine_tok, str(name))
            elif _adapters.covers(hf_model):  # ours, or the engine's booted from the module
                bridge = _adapters.boot(hf_model, engine_tok, str(name))
            else:
                if not declared:
                    config.architectures = [type(hf_model).__name__]
                bridge = TransformerBridge.boot_transformers(
                    str(getattr(config, "name_or_path", "") or name),
                    hf_model=hf_model,
                    tokenizer=engine_tok,
                    trust_remote_code=False,
                )
    except (ValueError, KeyError, OSError, TypeError, AssertionError, AttributeError) as err:
        raise ModelLoadError(f"the engine could not wrap {echo(name)}: {echo(str(err))}") from err
    finally:
        if not declared and encoder is None:
            config.architectures = declared  # the user's config stays as it was
    bridge.eval()
    for p in bridge.original_model.parameters():
        p.requires_grad_(False)
    object.__setattr__(hf_model, "_interp_bridge", bridge)  # wrap(hf_model) again reuses it
    return bridge


def engine_tokenizer(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` for the engine, which normalises the tokenizer it is given in place (it adds
    missing EOS, BOS and pad tokens) and re-reads it by its recorded name unless it already adds BOS: a model
    built in memory has no name to re-read. The copy says it adds BOS, so nothing is read from disk or the hub,
    and the user's tokenizer stays as it was. interp tokenizes with the original; the engine's copy serves only
    strings handed to the engine directly."""
    engine = copy.deepcopy(tokenizer)
    engine.init_kwargs.update(
        name_or_path=tokenizer.name_or_path or "", add_bos_token=True, trust_remote_code=False
    )
    return engine


def check_tokenizer(tok: Any, name: str) -> None:
    """A tokenizer that knows no ordinary token cannot read any text: say so now, not at the first analysis."""
    vocab = tok.get_vocab()
    specials = set(tok.all_special_tokens)
    if not any(word not in specials for word in vocab):
        raise TokenizerError(
            f"the tokenizer of {echo(name)} has no ordinary tokens (only special ones): it is empty or not this "
            "model's; save the model's own tokenizer with tokenizer.save_pretrained(folder)"
        )
    try:  # the engine encodes "a" while booting; the tokenizers library fails with a bare Exception
        tok("a")
    except Exception as err:  # noqa: BLE001 - any failure here means a damaged tokenizer file
        raise TokenizerError(
            f"the tokenizer of {echo(name)} cannot encode the text 'a' ({echo(str(err), 120)}): its files are "
            "damaged or not this model's; save the model's own tokenizer with tokenizer.save_pretrained(folder)"
        ) from None


def warmup_text(tokenizer: Any) -> str:
    vocab = tokenizer.get_vocab()
    specials = set(tokenizer.all_special_tokens)
    word = next((w for w in sorted(vocab, key=vocab.get) if w not in specials and w.strip()), "a")
    return word
