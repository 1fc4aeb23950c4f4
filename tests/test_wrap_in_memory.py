"""wrap() of a model built in memory (no folder, empty name_or_path, no architectures in its config) and a
tokenizer built in memory: every family works, matches Hugging Face, and nothing is re-read by name."""

import shutil

import pytest
import torch
from conftest import ARCHS, MASKED, tiny_config

import interp

TEXT = "anna lives in oslo . ben lives in rome ."


def _in_memory(arch, word_tokenizer):
    from interp.zoo.tokenizer import hf_tokenizer

    config, cls = tiny_config(arch, word_tokenizer.get_vocab_size())
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = cls(config)
    reference = cls(config)
    reference.load_state_dict(model.state_dict())
    kind = "bidirectional" if arch in MASKED else "causal"
    return model, reference.eval(), hf_tokenizer(word_tokenizer, kind)


@pytest.mark.parametrize("arch", ARCHS)
def test_wrap_a_model_built_in_memory(arch, word_tokenizer):
    model, reference, tok = _in_memory(arch, word_tokenizer)
    assert model.config.name_or_path == "" and not model.config.architectures and tok.name_or_path == ""
    specials = dict(tok.special_tokens_map)
    m = interp.wrap(model, tok)
    assert m.has_lm_head and m.kind == ("bidirectional" if arch in MASKED else "causal")
    # the user's objects stay as they were: the engine normalises a copy of the tokenizer, not this one
    assert not model.config.architectures
    assert len(tok) == word_tokenizer.get_vocab_size() and dict(tok.special_tokens_map) == specials
    tokens = m.to_tokens(TEXT)
    with torch.no_grad():
        expected = reference(tokens, output_attentions=True)
    logits, cache = m.run_with_cache(tokens, names=["blocks.1.attn.hook_pattern"])
    assert (logits - expected.logits).abs().max() <= 1e-4
    assert (cache["blocks.1.attn.hook_pattern"] - expected.attentions[1]).abs().max() <= 1e-5
    assert interp.wrap(model, tok).bridge is m.bridge  # wrapped again: the same engine


def test_a_tokenizer_whose_folder_is_gone_is_not_read_again(word_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    model, reference, tok = _in_memory("gpt2", word_tokenizer)
    tok.save_pretrained(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    shutil.rmtree(tmp_path / "tok")
    m = interp.wrap(model, loaded)
    tokens = m.to_tokens(TEXT)
    with torch.no_grad():
        assert (m(tokens) - reference(tokens).logits).abs().max() <= 1e-4
