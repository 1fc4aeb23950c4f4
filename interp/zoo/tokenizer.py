"""The zoo's shared word-level tokenizer, trained with ``tokenizers`` on the generated corpus."""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]"]


def train_tokenizer(texts: list[str]) -> Tokenizer:
    """One word per token; the special tokens take ids 0-5 in the order of ``SPECIALS``."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=1))
    return tok


def extend_tokenizer(tokenizer_json: str, words: tuple[str, ...]) -> Tokenizer:
    """An earlier zoo tokenizer (its ``tokenizer.json`` text) with ``words`` appended after its last id: every
    word keeps its id, so a model started from the earlier one computes the same function on the earlier
    words (zoo v3 extends v2's vocabulary instead of retraining it by frequency)."""
    old = Tokenizer.from_str(tokenizer_json)
    vocab = dict(old.get_vocab())
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(SPECIALS)  # as the trainer marks them: matched before lower-casing, never split
    return tok


def hf_tokenizer(tok: Tokenizer, kind: str, max_length: int = 128) -> PreTrainedTokenizerFast:
    """Wrap for one model kind: causal text starts with [BOS]; bidirectional text is [CLS] ... [SEP].
    ``max_length``: the model's context (128 for zoo v2, 256 for v3)."""
    tok = Tokenizer.from_str(tok.to_str())
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    if kind == "causal":
        tok.post_processor = processors.TemplateProcessing(
            single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", ids["[BOS]"])]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="[BOS]",
            eos_token="[BOS]",
            unk_token="[UNK]",
            pad_token="[PAD]",
            model_max_length=max_length,
        )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        unk_token="[UNK]",
        pad_token="[PAD]",
        model_max_length=max_length,
    )
