"""The reading rule: Model.frame decides what is read where, and every analysis reads exactly there."""

import numpy as np
import pytest
import torch
from conftest import ARCHS, MASKED

import interp
from interp.errors import InputError

PROBE = "the keys to the cabinet ___ on the table ."


def positions(c, b, probe, answer):
    """The read position and tokens of every analysis on ``probe``, per model, next to compare's."""
    cmp = interp.compare(c, b, probe, answer=answer, method=None)
    out = {}
    for m, run in ((c, cmp.causal), (b, cmp.bidirectional)):
        f = m.frame(probe)
        corrupt = f.tokens.clone()  # one ordinary token swapped (patching needs the same length)
        first = int(np.flatnonzero(f.content)[0])
        ordinary = [i for i in range(m.d_vocab) if i not in m.special_ids | {m.mask_token_id}]
        corrupt[0, first] = next(i for i in ordinary if i != corrupt[0, first])
        got = {
            "frame": (f.position, f.str_tokens),
            "compare": (run.position, run.attention.tokens),
            "attention": _pt(interp.attention(m, probe)),
            "logit_lens": _pt(interp.logit_lens(m, probe)),
            "attribute": _pt(interp.attribute(m, probe, n_steps=4, tolerance=None)),
            "ablate": _pt(interp.ablate(m, probe, [(0, 0)])),
            "head_importance": _pt(interp.head_importance(m, probe, progress=False)),
            "patch": _pt(interp.patch(m, probe, corrupt, progress=False)),
        }
        assert run.lens.position == run.position and run.lens.focus == (run.position,)
        out[m.kind] = got
    return out


def _pt(result):
    return result.position, tuple(result.tokens)


def check_same_reading(c, b, probe, answer=None):
    for kind, got in positions(c, b, probe, answer).items():
        expected = got["compare"]
        for name, value in got.items():
            assert value == expected, (kind, name, value, expected)
        pos, tokens = expected
        if kind == "causal":  # the prefix, read at its last token
            assert pos == len(tokens) - 1 and "___" not in tokens
        else:  # the whole probe, read at the mask
            assert tokens[pos] == b.tokenizer.mask_token and tokens.count(b.tokenizer.mask_token) == 1


def test_every_analysis_reads_the_zoo_probe_where_compare_does(causal, bidirectional):
    check_same_reading(causal, bidirectional, PROBE)
    check_same_reading(causal, bidirectional, "in the night the ___ hooted .", answer="owl")


@pytest.mark.parametrize("arch", [a for a in ARCHS if a not in MASKED])
def test_every_analysis_reads_where_compare_does_on_every_causal_family(arch, tiny_model):
    check_same_reading(tiny_model(arch), tiny_model("bert"), PROBE)


@pytest.mark.parametrize("arch", [a for a in MASKED if a != "bert"])
def test_every_analysis_reads_where_compare_does_on_every_masked_family(arch, tiny_model):
    check_same_reading(tiny_model("gpt2"), tiny_model(arch), PROBE)


def test_plain_text_is_read_as_before(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    text = "anna lives in oslo . anna lives in"
    f = c.frame(text)
    assert f.position == f.T - 1 and not f.is_probe and f.str_tokens == tuple(c.to_str_tokens(text))
    assert torch.equal(f.tokens, c.to_tokens(text))
    masked = "anna lives in [MASK] ."
    g = b.frame(masked)
    assert g.position == g.str_tokens.index("[MASK]") == 4 and torch.equal(g.tokens, b.to_tokens(masked))
    assert interp.logit_lens(c, text).position == f.position
    assert interp.attention(b, "anna lives in oslo .").position is None  # attention reads nothing
    with pytest.raises(InputError, match="no slot to read: write ___ where the answer goes"):
        b.frame("anna lives in oslo .")
    tokens = c.to_tokens(text)
    assert c.frame(tokens).position == tokens.shape[1] - 1


def test_probe_frames_and_content(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    f = c.frame(PROBE)
    assert f.read_text == "the keys to the cabinet" and f.slot == f.position + 1 == f.T and f.n_slot == 0
    np.testing.assert_array_equal(f.content, [False, True, True, True, True, True])
    g = b.frame(PROBE, answer="anna berg")  # one mask per answer token
    assert g.read_text == "the keys to the cabinet [MASK][MASK] on the table ."
    assert g.slot_positions == [6, 7] and g.position == 6 and g.n_slot == 2
    assert not g.content[[0, 6, 7, -1]].any() and g.content[[1, 5, 8]].all()
    np.testing.assert_array_equal(g.word_index, [-1, 0, 1, 2, 3, 4, -1, -1, 6, 7, 8, 9, -1])
    left, right = g.side_shares(np.ones(g.T))
    assert left == pytest.approx(5 / 9) and right == pytest.approx(4 / 9)


@pytest.mark.parametrize(
    "probe, message",
    [
        ("the keys to the cabinet ____ on the table .", "'____' is not a slot"),
        ("the keys to the cabinet_____ on the table .", "glued to a word"),
        ("the keys to the cabinet___ on the table .", "glued to a word"),
        ("the keys to the ___s are here .", "glued to a word"),
        ("the keys __ cabinet .", "'__' is not a slot"),
        ("the ___ to the ___ are here .", "exactly one ___ slot, found 2"),
    ],
)
def test_malformed_slots_show_the_right_form(tiny_model, probe, message):
    for m in (tiny_model("gpt2"), tiny_model("bert")):
        with pytest.raises(InputError, match=message) as info:
            interp.logit_lens(m, probe)
        assert "a slot is written ___" in str(info.value) or "write e.g." in str(info.value)


def test_unknown_words_are_named(causal, bidirectional):
    # The causal model reads only the prefix; the masked model reads the whole probe and stumbles on 'purred'.
    with pytest.raises(
        InputError, match=r"'purred' is not in tiny-bidirectional's vocabulary.*allow_unknown=True"
    ):
        interp.compare(causal, bidirectional, "the dog ___ and purred .")
    for m in (causal, bidirectional):
        with pytest.raises(InputError, match=r"'blorp' and 'frobbed' are not in"):
            interp.attention(m, "the dog blorp and frobbed ___ .")
        with pytest.raises(InputError, match=rf"answer 'purred' is not in {m.name}'s vocabulary"):
            interp.attribute(m, PROBE, answer="purred")
        with pytest.raises(InputError, match=r"contrast 'blorp' is not in"):
            interp.attribute(m, PROBE, answer="are", contrast="blorp")
        f = m.frame("the dog purred ___ .", allow_unknown=True)
        assert m.tokenizer.unk_token in f.str_tokens
        r = interp.logit_lens(m, "the dog purred ___ .", allow_unknown=True)
        assert r.position == f.position


def test_an_unknown_answer_is_never_called_a_split(causal):
    with pytest.raises(InputError, match="not in tiny-causal's vocabulary") as info:
        causal.to_single_token("purred")
    assert "splits" not in str(info.value)


@pytest.mark.parametrize("name", ["tiny-causal", "tiny-bidirectional"])
@pytest.mark.parametrize("allow_unknown", [False, True])
def test_a_text_of_unknown_words_only_names_them(name, allow_unknown, request):
    """Words the model does not know, and nothing else: the error names them and does not offer
    allow_unknown (the text would be unknown tokens alone); a causal model's probe reads the words before
    the slot alone."""
    m = request.getfixturevalue("causal" if name == "tiny-causal" else "bidirectional")
    for text in ("zorp blix", "zorp blix ___ .") if name == "tiny-causal" else ("zorp blix",):
        with pytest.raises(InputError, match=f"no word that {name} knows: 'zorp' and 'blix' are not") as info:
            interp.logit_lens(m, text, allow_unknown=allow_unknown)
        assert "allow_unknown" not in str(info.value)
    with pytest.raises(InputError, match="no tokens besides special ones"):
        m.to_tokens(m.tokenizer.eos_token or m.tokenizer.sep_token)


def test_tokens_and_positions(tiny_model):
    c = tiny_model("gpt2")
    with pytest.raises(InputError, match="out of range"):
        c.frame(PROBE, position=40)
    assert c.frame(PROBE, position=2).position == 2
    with pytest.raises(InputError, match="one sequence"):
        c.frame(torch.zeros(2, 3, dtype=torch.long))


def test_to_tokens_of_a_probe_are_what_the_model_reads(causal, bidirectional):
    """A probe's slot never reaches the tokenizer as underscores (a WordPiece vocabulary made [UNK]s of it)."""
    probe = "the keys to the cabinet ___ on the table ."
    for model in (causal, bidirectional):
        f = model.frame(probe)
        assert torch.equal(model.to_tokens(probe), f.tokens)
        assert model.to_str_tokens(probe) == list(f.str_tokens)
    assert bidirectional.to_str_tokens(probe)[6] == bidirectional.tokenizer.mask_token
    assert causal.to_str_tokens(probe)[-1] == "cabinet"
    with pytest.raises(interp.InterpError, match="not a slot"):
        causal.to_tokens("the keys ____ here .")


@pytest.fixture(scope="module")
def byte_level_tokenizer():
    """A byte-level BPE vocabulary (GPT-2's kind) trained on the zoo corpus; its mask keeps the space before it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from interp.zoo import corpus

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "</s>", "<pad>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus.generate(300, seed=0), trainer)
    return tok


def test_byte_level_answers_are_the_word_as_written_after_a_space(byte_level_tokenizer):
    """The bare form of a word is often a piece from inside a word ('ke' 'y'); at a slot the model writes 'Ġk'..."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from interp.models.frame import answer_ids

    tok = PreTrainedTokenizerFast(
        tokenizer_object=byte_level_tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0)
    m = interp.wrap(GPT2LMHeadModel(config), tok)
    from interp.zoo import corpus

    words = {w for text in corpus.generate(200, seed=1) for w in text.split() if w.isalpha()}
    shorter_bare = 0
    for word in sorted(words):
        spaced = tok(" " + word, add_special_tokens=False)["input_ids"]
        shorter_bare += len(tok(word, add_special_tokens=False)["input_ids"]) < len(spaced)
        assert answer_ids(m, word) == tuple(spaced), word
    assert shorter_bare >= 2  # the cases the old "shorter wins" rule got wrong


def test_masks_stay_side_by_side_when_the_mask_keeps_its_space(byte_level_tokenizer):
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForMaskedLM

    from interp.models.frame import frame

    tok = PreTrainedTokenizerFast(
        tokenizer_object=byte_level_tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,
        pad_token_id=2,
        architectures=["RobertaForMaskedLM"],
    )
    m = interp.wrap(RobertaForMaskedLM(config), tok)
    for n in (1, 2, 3):
        f = frame(m, "near the harbor a ___ barked loudly .", n_slot=n)
        ids = f.tokens[0].tolist()
        assert f.slot_positions == list(range(f.slot, f.slot + n))
        assert [ids[i] for i in f.slot_positions] == [tok.mask_token_id] * n
        assert ids.count(tok.mask_token_id) == n
