"""Shared fixtures: tiny seeded models of every supported architecture, saved to temporary folders, offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

torch.set_num_threads(1)

ARCHS = ["gpt2", "gpt_neox", "llama", "qwen2", "opt", "bert", "roberta"]


def tiny_config(arch: str, vocab_size: int):
    import transformers as tf

    common = dict(vocab_size=vocab_size, pad_token_id=0)
    if arch == "gpt2":
        return tf.GPT2Config(
            n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=5, eos_token_id=5, **common
        ), tf.GPT2LMHeadModel
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=64,
            bos_token_id=5,
            eos_token_id=5,
            **common,
        ), tf.GPTNeoXForCausalLM
    if arch == "llama":
        return tf.LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            bos_token_id=5,
            eos_token_id=5,
            **common,
        ), tf.LlamaForCausalLM
    if arch == "qwen2":
        return tf.Qwen2Config(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            bos_token_id=5,
            eos_token_id=5,
            **common,
        ), tf.Qwen2ForCausalLM
    if arch == "opt":
        return tf.OPTConfig(
            hidden_size=32,
            num_hidden_layers=2,
            ffn_dim=64,
            num_attention_heads=4,
            max_position_embeddings=64,
            word_embed_proj_dim=32,
            bos_token_id=5,
            eos_token_id=5,
            **common,
        ), tf.OPTForCausalLM
    if arch == "bert":
        return tf.BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=64,
            **common,
        ), tf.BertForMaskedLM
    if arch == "roberta":
        return tf.RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=66,
            **common,
        ), tf.RobertaForMaskedLM
    raise ValueError(arch)


@pytest.fixture(scope="session")
def word_tokenizer():
    from interp.zoo import corpus
    from interp.zoo.tokenizer import train_tokenizer

    return train_tokenizer(corpus.generate(300, seed=0))


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, word_tokenizer):
    """Factory: arch -> folder holding a randomly initialised tiny model and the word-level tokenizer."""
    from interp.zoo.tokenizer import hf_tokenizer

    made: dict[str, str] = {}

    def make(arch: str) -> str:
        if arch not in made:
            kind = "bidirectional" if arch in ("bert", "roberta") else "causal"
            if arch == "qwen2":
                # transformers reads a qwen2 folder with Qwen2Tokenizer whatever it holds (a word-level
                # vocabulary became single letters): give it Qwen's own kind, byte-level BPE without a BOS.
                from subword_tokenizers import qwen2_tokenizer

                tok = qwen2_tokenizer(vocab_size=1000)
            else:
                tok = hf_tokenizer(word_tokenizer, kind)
            config, cls = tiny_config(arch, len(tok))
            if arch == "qwen2":
                config.bos_token_id = config.eos_token_id = tok.eos_token_id
                config.pad_token_id = None  # as Qwen's configs: its pad is <|endoftext|>, a token it reads
            config._attn_implementation = "eager"
            torch.manual_seed(0)
            model = cls(config)
            folder = tmp_path_factory.mktemp(arch)
            model.save_pretrained(folder)
            tok.save_pretrained(folder)
            made[arch] = str(folder)
        return made[arch]

    return make


@pytest.fixture(scope="session")
def tiny_model(tiny_folder):
    import interp

    loaded: dict[str, interp.Model] = {}

    def get(arch: str) -> interp.Model:
        if arch not in loaded:
            loaded[arch] = interp.load(tiny_folder(arch))
        return loaded[arch]

    return get


def zoo_available() -> bool:
    from interp.zoo import ZOO_DIR

    return (ZOO_DIR / "tiny-causal" / "model.safetensors").exists() and (
        ZOO_DIR / "tiny-bidirectional" / "model.safetensors"
    ).exists()


@pytest.fixture(scope="session")
def causal():
    import interp

    return interp.load("tiny-causal")


@pytest.fixture(scope="session")
def bidirectional():
    import interp

    return interp.load("tiny-bidirectional")


def count_hooks(module: torch.nn.Module) -> int:
    """Every forward/backward (pre-)hook on every submodule."""
    total = 0
    for mod in module.modules():
        total += len(mod._forward_hooks) + len(mod._forward_pre_hooks)
        total += len(mod._backward_hooks) + len(getattr(mod, "_backward_pre_hooks", {}))
    return total
