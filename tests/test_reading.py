"""The reading rule in one call: read(model, text, answer=, contrast=, position=, objective=) -> Reading, built
from one tokenization with offsets; compare tokenizes each model at most twice and parses the probe once."""

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError, NoLMHeadError
from interp.models import frame as _frame
from interp.models.reading import Reading, read

PROBE = "the keys to the cabinet ___ on the table ."
COUNTED = ("__call__", "encode", "encode_plus", "batch_encode_plus", "tokenize")


class CountingTokenizer:
    """A tokenizer that counts every call that tokenizes text (``__call__``, ``encode``, ``encode_plus``,
    ``batch_encode_plus``, ``tokenize``) and passes everything else through."""

    def __init__(self, tok):
        self._tok, self.calls = tok, []

    def __getattr__(self, name):
        attr = getattr(self._tok, name)
        if name in COUNTED:

            def counted(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr

    def __call__(self, *args, **kwargs):
        self.calls.append("__call__")
        return self._tok(*args, **kwargs)

    def __len__(self):
        return len(self._tok)


class counting:
    """Swap each model's tokenizer for a :class:`CountingTokenizer` inside a ``with`` block."""

    def __init__(self, *models):
        self.models = models

    def __enter__(self):
        self.counters = []
        for m in self.models:
            self.counters.append(CountingTokenizer(m.tokenizer))
            m.tokenizer = self.counters[-1]
        return self.counters

    def __exit__(self, *exc):
        for m, c in zip(self.models, self.counters):
            m.tokenizer = c._tok


@pytest.mark.parametrize("answer", [None, "are", "anna berg"])
def test_compare_tokenizes_each_model_at_most_twice_and_parses_the_probe_once(causal, bidirectional, answer):
    _frame._parse.cache_clear()
    with counting(causal, bidirectional) as (c, b):
        cmp = interp.compare(causal, bidirectional, PROBE, answer=answer, method=None)
    assert len(c.calls) <= 2 and len(b.calls) <= 2, (c.calls, b.calls)
    assert len(c.calls) == (1 if answer is None else 2)  # the read text; the answer in its place
    assert _frame._parse.cache_info().misses == 1
    # Counting changed nothing: the same comparison as without the wrapper.
    again = interp.compare(causal, bidirectional, PROBE, answer=answer, method=None)
    for kind in ("causal", "bidirectional"):
        for metric in cmp.summary:
            assert cmp.summary[metric][kind] == pytest.approx(again.summary[metric][kind], rel=1e-6)
        np.testing.assert_array_equal(getattr(cmp, kind).word_index, getattr(again, kind).word_index)


def test_read_holds_the_frame_and_the_target(causal, bidirectional):
    for m in (causal, bidirectional):
        r = read(m, PROBE, answer="anna berg", contrast="are")
        assert isinstance(r, Reading) and r.model is m
        f = m.frame(PROBE, answer="anna berg")
        assert torch.equal(r.frame.tokens, f.tokens) and r.frame.position == f.position == r.position
        assert len(r.answer) == 2 and len(r.contrast) == 1
        assert r.target.answer == r.answer and r.target.contrast == r.contrast and r.target.log_prob
        assert r.frame.at_slot == (m.kind == "bidirectional")
        if m.kind == "bidirectional":  # one mask per answer token, read at the first
            assert r.frame.n_slot == 2 and r.frame.slot_positions == [r.position, r.position + 1]
        # Without an answer the target waits for the model's top-1.
        bare = read(m, PROBE)
        assert bare.answer is None
        with pytest.raises(InputError, match="no answer yet"):
            _ = bare.target
        top = bare.answered((5,))
        assert top.target.answer == (5,) and torch.equal(top.frame.tokens, bare.frame.tokens)


def test_read_takes_a_user_objective_instead_of_an_answer(causal):
    def mean_norm(resid):
        return resid.norm(dim=-1).mean(-1)

    r = read(causal, "the keys to the cabinet are on the table .", objective=mean_norm)
    assert r.position is None and r.answer is None and r.target.objective is mean_norm
    assert r.target.rows.shape == (1, r.frame.T)
    with pytest.raises(InputError, match="not both"):
        read(causal, PROBE, objective=mean_norm, answer="are")


def test_read_refuses_answers_without_a_language_model_head(causal, monkeypatch):
    monkeypatch.setattr(causal, "has_lm_head", False)
    with pytest.raises(NoLMHeadError):
        read(causal, PROBE, answer="are")
    assert read(causal, PROBE, objective=lambda r: r.sum((1, 2))).frame.T > 0  # an objective needs no head


def test_the_frame_keeps_each_tokens_character_span(causal, bidirectional):
    for m in (causal, bidirectional):
        f = read(m, PROBE, answer="are").frame
        assert len(f.offsets) == f.T
        for t, (s, e) in enumerate(f.offsets):  # each content token's span spells it in the text read
            if f.content[t]:
                assert f.read_text[s:e].strip().lower() == f.str_tokens[t].strip().lower().removeprefix("##")


def test_to_tokens_and_frames_share_one_tokenization(causal, bidirectional):
    text = "the keys to the cabinet are on the table ."
    for m in (causal, bidirectional):
        with counting(m) as (c,):
            tokens = m.to_tokens(text)
        assert len(c.calls) == 1
        assert torch.equal(tokens, read(m, text, position=0).frame.tokens)


@pytest.fixture(scope="module")
def masked_subword(tmp_path_factory):
    from subword_tokenizers import BY_NAME, save_model

    names = ("roberta", "roberta_mask_keeps_space", "xlmr", "bert", "modernbert")
    return {n: interp.load(save_model(BY_NAME[n], tmp_path_factory.mktemp(n))) for n in names}


def test_a_masked_slot_read_from_one_tokenization_equals_the_two_tokenization_rule(masked_subword):
    """The spaced probe is tokenized once, and a space token left before the mask is dropped: exactly the
    tokens of the text that tokenizing the spaced and the glued probe and keeping the shorter chose."""
    from interp.models.frame import masked_text

    probes = ["the keys to the cabinet ___ on the table .", "Anna ___ the  owl .", "___ keys are here ."]
    glued = 0
    for name, m in masked_subword.items():
        for probe in probes:
            before, after = probe.split("___")
            for n in (1, 2):
                masks = m.tokenizer.mask_token * n
                text = masked_text(m, before, masks, after)
                f = _frame.frame(m, probe, n_slot=n)
                assert f.read_text == text, (name, probe)
                assert torch.equal(f.tokens, m.to_tokens(text)), (name, probe)
                glued += text != before + masks + after
                for s, e in f.offsets:  # spans still point into the text read
                    assert 0 <= s <= e <= len(f.read_text), (name, probe)
    assert glued >= 2  # the mask that keeps its space was glued to the word before it


def test_the_answer_written_at_the_slot_matches_two_separate_tokenizations(causal, bidirectional):
    """One offsets call gives the same answer ids as tokenizing the words before the slot and the filled text
    separately, for words of one and several tokens."""
    from interp.models.writing import _ids, _written_after

    for m in (causal, bidirectional):
        for before in ("the keys to the cabinet ", "Anna ", "the  keys "):
            for answer in ("are", "anna berg", "cabinets", "x"):
                head = before.rstrip()
                start, whole = _ids(m, head), _ids(m, before + answer)
                old = (
                    whole[len(start) :] if whole[: len(start)] == start and len(whole) > len(start) else None
                )
                assert _written_after(m, before, answer) == old, (m.name, before, answer)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_attribute_reads_at_a_chosen_position_of_a_probe(causal, bidirectional, method):
    """position= moves the read off the slot for attribute as for the lens: the objective is the answer's
    log-probability there, and a causal model's read at position 3 is the read of its first four tokens."""
    probe = "anna has a red car . anna has a ___ ."
    kw = dict(answer="red", method=method, **({"n_steps": 8} if method == "integrated_gradients" else {}))
    for model in (causal, bidirectional):
        for position in (0, 3, -2):
            r = interp.attribute(model, probe, position=position, **kw)
            frame = model.frame(probe, answer="red", position=position)
            assert r.position == frame.position
            with torch.no_grad():
                logits = model.logits_at(frame.tokens, frame.position)[0].double()  # (d_vocab,)
            red = model.to_single_token("red")
            expected = logits[red] if r.objective_kind == "logit" else logits.log_softmax(-1)[red]
            assert r.objective == pytest.approx(float(expected), rel=1e-4, abs=1e-5)
    short = interp.attribute(causal, "anna has a ___ .", **kw)
    at_3 = interp.attribute(causal, probe, position=3, **kw)
    np.testing.assert_allclose(at_3.scores[:4], short.scores, rtol=1e-4, atol=1e-6)
    assert not at_3.scores[4:].any()  # a causal read at 3 cannot see later tokens
