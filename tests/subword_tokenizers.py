"""Tiny subword tokenizers of the kinds real checkpoints ship, trained on the zoo corpus, and tiny random models
of the families that use them, saved as folders that ``interp.load`` reads the way it reads a real checkpoint.

Each tokenizer is built through its family's own transformers class (GPT2Tokenizer, LlamaTokenizer,
Qwen2Tokenizer, BertTokenizer, ...) and saved with it, so that loading the folder goes through the same class
and pre-tokenization a user meets: transformers 5 rebuilds a family's pipeline from the saved vocabulary and
merges (a qwen2 folder is read by Qwen2Tokenizer whatever its tokenizer.json says). The vocabularies are small,
so that many words of the corpus split into several pieces.

Kinds: byte-level BPE (GPT-2, GPT-NeoX, OPT, OLMo 2, RoBERTa, ModernBERT; Llama 3 and Qwen with their split
patterns), SentencePiece style (Llama 2, Mistral, Phi-3: ``▁`` with a dummy prefix and byte fallback; Gemma 1-3:
``▁`` without one; XLM-R: a Unigram model) and WordPiece (BERT, DistilBERT, ELECTRA: ``##`` continuations,
lower-casing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from interp.models.families import FAMILIES

# The split patterns of Llama 3 and Qwen2 (letters with one leading non-letter, digits, punctuation runs).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)
BYTES = [f"<0x{b:02X}>" for b in range(256)]
UPPER = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


@cache
def corpus_texts() -> tuple[str, ...]:
    """The zoo corpus, with a capitalised copy of a third of it (real text has capitals; BERT lower-cases)."""
    from interp.zoo import corpus

    texts = corpus.generate(300, seed=0)
    return tuple(texts + [". ".join(s.strip().capitalize() for s in t.split(".")) for t in texts[::3]])


def _train(tok: Tokenizer, trainer) -> Tokenizer:
    tok.train_from_iterator(corpus_texts(), trainer)
    return tok


def _with_specials(specials: list[str], vocab: dict[str, int]) -> dict[str, int]:
    """``specials`` first (ids 0, 1, ...), then the trained vocabulary in its order."""
    out = {s: i for i, s in enumerate(specials)}
    for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        out.setdefault(token, len(out))
    return out


def _bpe(tok: Tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    import json

    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]


@cache
def byte_level_bpe(pattern: str | None = None, vocab_size: int = 420) -> tuple[dict[str, int], list]:
    """A byte-level BPE vocabulary and merges: GPT-2's pre-tokenizer, or a split ``pattern`` (Llama 3, Qwen)."""
    tok = Tokenizer(models.BPE())
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    return _bpe(_train(tok, trainer))


@cache
def metaspace_bpe(prefix: bool, vocab_size: int = 150) -> tuple[dict[str, int], list]:
    """A SentencePiece-style BPE (``▁`` marks a space; ``prefix``: a dummy ``▁`` before the first word)."""
    tok = Tokenizer(models.BPE(byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first" if prefix else "never")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=["▁"] + UPPER, show_progress=False)
    return _bpe(_train(tok, trainer))


@cache
def unigram(vocab_size: int = 160) -> list[tuple[str, float]]:
    """A SentencePiece Unigram vocabulary (XLM-R's kind): pieces and their log-probabilities."""
    import json

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")]
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, initial_alphabet=["▁"] + UPPER, unk_token="<unk>", show_progress=False
    )
    return [tuple(p) for p in json.loads(_train(tok, trainer).to_str())["model"]["vocab"]]


@cache
def wordpiece(vocab_size: int = 110) -> dict[str, int]:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    return _train(tok, trainer).get_vocab()


# ---- the family tokenizers ---------------------------------------------------------------------------------


def gpt2_tokenizer():
    from transformers import GPT2Tokenizer

    vocab, merges = byte_level_bpe()
    return GPT2Tokenizer(vocab=_with_specials(["<|endoftext|>"], vocab), merges=merges)


def neox_tokenizer():
    from transformers import GPTNeoXTokenizer

    vocab, merges = byte_level_bpe()
    return GPTNeoXTokenizer(vocab=_with_specials(["<|endoftext|>", "<|padding|>"], vocab), merges=merges)


def opt_tokenizer():
    from transformers import GPT2Tokenizer

    vocab, merges = byte_level_bpe()
    return GPT2Tokenizer(
        vocab=_with_specials(["<pad>", "</s>"], vocab),
        merges=merges,
        bos_token="</s>",
        eos_token="</s>",
        unk_token="</s>",
        pad_token="<pad>",
    )


def olmo2_tokenizer():
    from transformers import GPT2Tokenizer

    vocab, merges = byte_level_bpe()
    return GPT2Tokenizer(
        vocab=_with_specials(["<|endoftext|>", "<|pad|>"], vocab), merges=merges, pad_token="<|pad|>"
    )


def modernbert_tokenizer():
    """ModernBERT ships a byte-level BPE with BERT's special tokens in a tokenizer.json read as it is."""
    from tokenizers import decoders, processors
    from transformers import PreTrainedTokenizerFast

    vocab, merges = byte_level_bpe()
    vocab = _with_specials(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"], vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token=AddedToken("[MASK]", lstrip=True, special=True),
    )


def roberta_tokenizer(lstrip: bool = True):
    """``lstrip``: the mask takes the space before it, as roberta-base ships it; RobertaTokenizer's own default
    does not, and then the space before a mask is a token of its own unless the mask follows the word."""
    from transformers import RobertaTokenizer

    vocab, merges = byte_level_bpe()
    return RobertaTokenizer(
        vocab=_with_specials(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], vocab),
        merges=merges,
        mask_token=AddedToken("<mask>", lstrip=lstrip, special=True),
    )


def qwen2_tokenizer(vocab_size: int = 420):
    from transformers import Qwen2Tokenizer

    vocab, merges = byte_level_bpe(QWEN2_PATTERN, vocab_size)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return Qwen2Tokenizer(vocab=_with_specials(specials, vocab), merges=merges)


def llama3_tokenizer():
    """Llama 3 ships a tokenizer.json read as it is (tokenizer_class PreTrainedTokenizerFast), adding BOS."""
    from tokenizers import decoders, processors
    from transformers import PreTrainedTokenizerFast

    vocab, merges = byte_level_bpe(LLAMA3_PATTERN)
    vocab = _with_specials(["<|begin_of_text|>", "<|end_of_text|>"], vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>"
    )


def llama2_tokenizer():
    from transformers import LlamaTokenizer

    vocab, merges = metaspace_bpe(prefix=True)
    return LlamaTokenizer(vocab=_with_specials(["<unk>", "<s>", "</s>"] + BYTES, vocab), merges=merges)


def gemma_tokenizer():
    from transformers import GemmaTokenizer

    vocab, merges = metaspace_bpe(prefix=False)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"] + BYTES
    return GemmaTokenizer(vocab=_with_specials(specials, vocab), merges=merges)


def xlmr_tokenizer():
    from transformers import XLMRobertaTokenizer

    pieces = [p for p in unigram() if p[0] != "<unk>"]
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + pieces + [("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=vocab, mask_token=AddedToken("<mask>", lstrip=True, special=True))


def bert_tokenizer():
    from transformers import BertTokenizer

    return BertTokenizer(vocab=wordpiece())


def distilbert_tokenizer():
    from transformers import DistilBertTokenizer

    return DistilBertTokenizer(vocab=wordpiece())


@dataclass(frozen=True)
class Case:
    """One tokenizer of one kind on one family."""

    name: str
    arch: str
    kind: str  # "byte-level", "sentencepiece", "wordpiece"
    make: object

    @property
    def masked(self) -> bool:
        return self.arch in MASKED


MASKED = tuple(f.model_type for f in FAMILIES if f.kind == "bidirectional")
CASES = [
    Case("gpt2", "gpt2", "byte-level", gpt2_tokenizer),
    Case("gpt_neox", "gpt_neox", "byte-level", neox_tokenizer),
    Case("opt", "opt", "byte-level", opt_tokenizer),
    Case("llama3", "llama", "byte-level", llama3_tokenizer),
    Case("qwen2", "qwen2", "byte-level", qwen2_tokenizer),
    Case("olmo2", "olmo2", "byte-level", olmo2_tokenizer),
    Case("llama2", "llama", "sentencepiece", llama2_tokenizer),
    Case("mistral", "mistral", "sentencepiece", llama2_tokenizer),
    Case("phi3", "phi3", "sentencepiece", llama2_tokenizer),
    Case("gemma", "gemma", "sentencepiece", gemma_tokenizer),
    Case("gemma2", "gemma2", "sentencepiece", gemma_tokenizer),
    Case("gemma3", "gemma3_text", "sentencepiece", gemma_tokenizer),
    Case("roberta", "roberta", "byte-level", roberta_tokenizer),
    Case("roberta_mask_keeps_space", "roberta", "byte-level", lambda: roberta_tokenizer(lstrip=False)),
    Case("modernbert", "modernbert", "byte-level", modernbert_tokenizer),
    Case("xlmr", "roberta", "sentencepiece", xlmr_tokenizer),
    Case("bert", "bert", "wordpiece", bert_tokenizer),
    Case("distilbert", "distilbert", "wordpiece", distilbert_tokenizer),
    Case("electra", "electra", "wordpiece", bert_tokenizer),
]
BY_NAME = {c.name: c for c in CASES}

N_CTX = 128


def save_model(case: Case, folder: Path, tokenizer=None) -> Path:
    """A tiny random model of ``case.arch`` sized to the tokenizer, saved with it to ``folder``."""
    from conftest import move_off_init, tiny_config

    tok = tokenizer if tokenizer is not None else case.make()
    config, cls = tiny_config(case.arch, len(tok))
    for key in ("n_positions", "max_position_embeddings"):
        if hasattr(config, key):
            setattr(config, key, N_CTX + (2 if case.arch == "roberta" else 0))
    # As the families' own configs: a pad id only where the tokenizer has a pad token that is not also its end
    # of text (Qwen pads with <|endoftext|> but its config names no pad: an embedding row for padding is zero).
    pad = tok.pad_token_id
    config.pad_token_id = None if pad is None or pad == tok.eos_token_id else pad
    config.bos_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    config.eos_token_id = tok.eos_token_id
    for key in ("cls_token_id", "sep_token_id"):
        if hasattr(config, key):
            setattr(config, key, getattr(tok, key))
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = cls(config)
    move_off_init(model)  # norms off their initial values, the pad token off zero (attribution's baseline)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
