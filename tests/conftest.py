"""Shared fixtures: tiny seeded models of every supported architecture, saved to temporary folders, offline."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Translators a test trains go to a fresh folder, never the user's ~/.cache/interp, which the tutorials read.
os.environ.setdefault("INTERP_CACHE", tempfile.mkdtemp(prefix="interp-test-cache-"))

import pytest
import torch

from interp.models.families import FAMILIES

torch.set_num_threads(1)

ARCHS = [f.model_type for f in FAMILIES]
"""Every supported family, from its one declaration: each needs a tiny config in :func:`tiny_config` (the parity
tests, parametrised over these, fail for one without)."""
MASKED = tuple(f.model_type for f in FAMILIES if f.kind == "bidirectional")
"""Test architectures that are masked LMs (the rest are causal)."""
OFF_INIT = (
    "mistral",
    "gemma",
    "gemma2",
    "gemma3_text",
    "gemma3",
    "phi3",
    "olmo2",
    "distilbert",
    "electra",
    "modernbert",
)
"""Families whose tiny models get their norms moved off their initial values (:func:`move_off_init`) and are
built by :func:`_new_family_config`."""


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
    if arch in OFF_INIT:
        return _new_family_config(arch, common)
    raise ValueError(arch)


def _new_family_config(arch: str, common: dict):
    """Tiny configs that exercise what sets each family apart: sliding-window layers (Mistral, Gemma 2/3,
    ModernBERT), soft-capped logits and attention scores (Gemma 2), query/key norms (Gemma 3, OLMo 2), a fused
    QKV projection (Phi-3), an embedding narrower than the residual stream (ELECTRA's projection)."""
    import transformers as tf

    decoder = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=5,
        eos_token_id=5,
        **common,
    )
    gemma = dict(head_dim=8, query_pre_attn_scalar=8, sliding_window=4)
    if arch == "mistral":
        return tf.MistralConfig(sliding_window=4, **decoder), tf.MistralForCausalLM
    if arch == "gemma":
        return tf.GemmaConfig(head_dim=8, **decoder), tf.GemmaForCausalLM
    if arch == "gemma2":
        return tf.Gemma2Config(**gemma, **decoder), tf.Gemma2ForCausalLM
    if arch == "gemma3_text":
        layers = ["sliding_attention", "full_attention"]
        return tf.Gemma3TextConfig(layer_types=layers, **gemma, **decoder), tf.Gemma3ForCausalLM
    if arch == "gemma3":  # the multimodal checkpoints (4B and larger): a text model beside a vision tower
        text = tf.Gemma3TextConfig(layer_types=["sliding_attention", "full_attention"], **gemma, **decoder)
        vision = tf.SiglipVisionConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16
        )
        return tf.Gemma3Config(
            text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4
        ), tf.Gemma3ForConditionalGeneration
    if arch == "phi3":
        return tf.Phi3Config(**decoder), tf.Phi3ForCausalLM
    if arch == "olmo2":
        return tf.Olmo2Config(**decoder), tf.Olmo2ForCausalLM
    if arch == "distilbert":
        return tf.DistilBertConfig(
            dim=32, hidden_dim=64, n_layers=2, n_heads=4, max_position_embeddings=64, **common
        ), tf.DistilBertForMaskedLM
    if arch == "electra":
        return tf.ElectraConfig(
            embedding_size=16,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            **common,
        ), tf.ElectraForMaskedLM
    if arch != "modernbert":
        raise ValueError(f"no tiny config for {arch!r}")
    # ModernBERT: layer 0 attends globally (its first norm is an identity), layer 1 within a window.
    return tf.ModernBertConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        global_attn_every_n_layers=2,
        local_attention=4,
        bos_token_id=2,
        eos_token_id=3,
        cls_token_id=2,
        sep_token_id=3,
        **common,
    ), tf.ModernBertForMaskedLM


def move_off_init(model: torch.nn.Module) -> None:
    """Move every norm's weight and bias off its initial value (ones, or zeros for Gemma's ``1 + weight``), so
    that a norm read with the wrong convention shows in parity and decomposition tests; and give the pad token
    an embedding (initialised to zeros): the pad embedding is attribution's baseline, and an all-zero input is
    where RMSNorm jumps (x / rms(x) is a unit vector for any x != 0, zero at 0), which integrated gradients'
    path cannot integrate across."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
        table = model.get_input_embeddings().weight
        config = model.config.get_text_config()
        pad = config.pad_token_id
        if pad is not None and not table[pad].any():
            table[pad] = 0.02 * torch.randn(table.shape[1], generator=gen)


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
            kind = "bidirectional" if arch in MASKED else "causal"
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
            if arch in OFF_INIT:
                move_off_init(model)
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
