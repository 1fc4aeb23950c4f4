"""Subword tokenizers the way users meet them: byte-level BPE, SentencePiece and WordPiece vocabularies trained on
the zoo corpus (tests/subword_tokenizers.py), saved with tiny random models of the families that ship them and
loaded from their folders. The reading rule is checked on probes generated from the corpus (any sentence, any
word as the slot, some words capitalised), and every analysis runs on each tokenizer with its invariants."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from subword_tokenizers import BY_NAME, CASES, corpus_texts, save_model

import interp
from interp.models.writing import answer_ids, display_tokens, unknown_id

NAMES = [c.name for c in CASES]
SENTENCES = sorted(
    {
        s.strip()
        for text in corpus_texts()[:150]
        for s in text.split(" . ")
        if 3 <= len(s.split()) <= 10 and s.strip().islower()
    }
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    models: dict[str, interp.Model] = {}

    def get(name: str) -> interp.Model:
        if name not in models:
            folder = save_model(BY_NAME[name], tmp_path_factory.mktemp(name))
            models[name] = interp.load(folder)
        return models[name]

    return get


@st.composite
def slotted(draw, masked: bool):
    """``(probe, answer, filled)``: a corpus sentence with one word as the slot (the first only for a masked
    LM, which sees both sides), up to two words capitalised."""
    words = draw(st.sampled_from(SENTENCES)).split() + ["."]
    caps = draw(st.sets(st.integers(0, len(words) - 1), max_size=2))
    words = [w.capitalize() if i in caps else w for i, w in enumerate(words)]
    i = draw(st.sampled_from([i for i, w in enumerate(words) if w.isalpha() and (masked or i > 0)]))
    return " ".join(words[:i] + ["___"] + words[i + 1 :]), words[i], " ".join(words)


def joined(kind: str, shown: list[str]) -> str:
    """Display tokens put back together: WordPiece continuations join their word, other words get a space."""
    if kind != "wordpiece":
        return "".join(shown)
    return "".join(s[2:] if s.startswith("##") else " " + s for s in shown)


@pytest.mark.parametrize("name", NAMES)
def test_probes_are_read_as_the_filled_text_has_them(name, loaded):
    """For any probe: the slot's tokens are the tokens the sentence filled with the answer has there (the causal
    prefix is its beginning, the masked LM's masks replace exactly the answer's tokens), display tokens are
    each token's text, and each token is mapped to the word it came from."""
    m = loaded(name)
    case = BY_NAME[name]
    tok = m.tokenizer
    specials = set(tok.all_special_ids) - {tok.mask_token_id}

    @settings(max_examples=30, deadline=None, derandomize=True)
    @given(slotted(case.masked))
    def check(example):
        probe, word, filled = example
        before = probe.split("___")[0]
        ids = list(answer_ids(m, word, text=probe))
        f = m.frame(probe, answer=word)
        tokens, full = f.tokens[0].tolist(), m.to_tokens(filled)[0].tolist()
        shown = list(f.str_tokens)
        assert torch.equal(m.to_tokens(probe), m.frame(probe).tokens)
        assert not any("_" in s for s, c in zip(shown, f.content) if c), shown
        assert unknown_id(m) not in tokens
        if case.masked:
            n = len(ids)
            # a mask written in plain text reads the answer as the slot does
            assert answer_ids(m, word, text=probe.replace("___", tok.mask_token)) == tuple(ids)
            assert f.n_slot == n and f.slot_positions == list(range(f.slot, f.slot + n))
            assert tokens.count(tok.mask_token_id) == n and f.position == f.slot
            assert tokens[: f.slot] + ids + tokens[f.slot + n :] == full, (shown, m.to_str_tokens(filled))
        else:
            assert f.read_text == before.rstrip() and shown[-1].strip(), shown  # no dangling space token
            assert tokens + ids == full[: len(tokens) + len(ids)], (shown, m.to_str_tokens(filled))
        # the answer as the model writes it at the slot: its leading space (or marker), or lower case
        pieces = tok.convert_ids_to_tokens(ids)
        written = display_tokens(m, ids)
        if case.kind == "wordpiece":
            assert joined(case.kind, written).strip() == word.lower()
            assert all(p.startswith("##") for p in pieces[1:]) and not pieces[0].startswith("##")
        else:
            marked = pieces[0].startswith(("Ġ", "▁"))
            assert "".join(written) == (" " if marked else "") + word
            assert marked == (bool(before) or name == "xlmr"), pieces  # XLM-R marks every word
        # display tokens: each token's own text, one per token, markers turned into spaces
        full_shown = [s for s, i in zip(m.to_str_tokens(filled), full) if i not in specials]
        assert len(m.to_str_tokens(filled)) == len(full)
        assert not any(c in s for s in full_shown for c in "Ġ▁"), full_shown
        if case.kind == "wordpiece":
            assert joined(case.kind, full_shown).strip() == filled.lower()
            for i, s in zip(full, m.to_str_tokens(filled)):
                piece = tok.convert_ids_to_tokens(i)
                assert s == piece if piece.startswith("##") else True
        else:
            assert "".join(full_shown).lstrip() == filled
            if case.kind == "byte-level":
                assert "".join(full_shown) == filled
        # every content token maps to the word it spells, the masks to none
        words = probe.split()
        for t, (w, s) in enumerate(zip(f.word_index, shown)):
            if not f.content[t]:
                assert w == -1
                continue
            assert w >= 0 and s.strip().removeprefix("##").lower() in words[w].lower(), (
                t,
                shown,
                f.word_index,
            )

    check()


@pytest.mark.parametrize("name", NAMES)
def test_many_words_split_into_several_tokens(name, loaded):
    """The vocabularies are small on purpose: multi-token answers are common, not an edge case."""
    m = loaded(name)
    words = sorted({w for s in SENTENCES for w in s.split() if w.isalpha()})
    lengths = [len(answer_ids(m, w, text=f"we saw ___ {w} .")) for w in words]
    assert np.mean([n > 1 for n in lengths]) > 0.3 and max(lengths) >= 3


def probes_for(m: interp.Model, seed: int, n: int = 2) -> list[tuple[str, str, str]]:
    """``n`` generated probes with a multi-token answer (and a slot at the start for a masked LM)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        words = rng.choice(SENTENCES).split() + ["."]
        first = m.kind == "bidirectional" and not out
        i = 0 if first else rng.choice([i for i, w in enumerate(words) if w.isalpha() and i > 0])
        probe = " ".join(words[:i] + ["___"] + words[i + 1 :])
        if len(answer_ids(m, words[i], text=probe)) > 1:
            out.append((probe, words[i], " ".join(words)))
    return out


def corrupted(m: interp.Model, probe: str, word: str) -> str:
    """The probe with the word nearest the slot swapped for a corpus word of as many tokens for ``m`` (near
    enough to matter to a sliding-window model)."""
    T = m.frame(probe, answer=word).T
    words = probe.split()
    slot = words.index("___")
    seen = [i for i, w in enumerate(words) if w.isalpha() and (i < slot or m.kind == "bidirectional")]
    i = min(seen, key=lambda i: abs(i - slot))
    for other in sorted({w for s in SENTENCES for w in s.split() if w.isalpha()} - {words[i]}):
        candidate = " ".join(words[:i] + [other] + words[i + 1 :])
        if m.frame(candidate, answer=word).T == T:
            return candidate
    raise AssertionError("no corrupt input of the same length")


@pytest.mark.parametrize("name", NAMES)
def test_every_analysis_runs_with_its_invariants(name, loaded):
    m = loaded(name)
    other = loaded("bert" if m.kind == "causal" else "gpt2")
    causal, bidirectional = (m, other) if m.kind == "causal" else (other, m)
    for probe, word, _ in probes_for(m, seed=NAMES.index(name)):
        f = m.frame(probe, answer=word)
        ids = answer_ids(m, word, text=probe)
        shown = f.str_tokens

        a = interp.attention(m, probe)
        assert a.tokens == m.frame(probe).str_tokens
        np.testing.assert_allclose(a.patterns.sum(-1), 1, atol=1e-5)

        lens = interp.logit_lens(m, probe, answer=word)
        assert lens.tokens == shown and lens.answer_ids == ids and lens.position == f.position
        final = torch.softmax(m(f.tokens)[0].float(), -1)  # (T, V): the model's own output
        top_p, top_i = final.topk(lens.top_probs.shape[-1], -1)
        np.testing.assert_allclose(lens.top_probs[-1], top_p.numpy(), atol=1e-5)
        np.testing.assert_array_equal(lens.top_ids[-1], top_i.numpy())

        # the pad baseline: this checks subword handling; a masked LM's default (the mask token, chosen on the
        # trained zoo models) gives random-weight xlmr a path sharp enough to stay 11% incomplete at 256 steps
        r = interp.attribute(m, probe, answer=word, n_steps=32, baseline="pad")
        assert r.tokens == shown and r.answer_ids == ids and r.objective_kind == "log_prob"
        assert r.completeness_error < 0.05, r.completeness_error
        assert r.attr_left_mass + r.attr_right_mass == pytest.approx(1)

        if probe.split("___")[0]:  # a causal model needs words before the slot
            cmp = interp.compare(causal, bidirectional, probe, answer=word, n_steps=16, tolerance=None)
            run = cmp.causal if m.kind == "causal" else cmp.bidirectional
            assert run.position == f.position and run.attention.tokens == shown
            assert run.lens.answer_ids == ids

        p = interp.patch(m, probe, corrupted(m, probe, word), answer=word, progress=False)
        assert p.tokens == shown and p.position == f.position
        assert np.isfinite(p.restored).all() and p.restored.shape == (m.n_layers, f.T)


@pytest.mark.parametrize("name", NAMES)
def test_induction_scores_frame_their_sequences_with_any_tokenizer(name, loaded):
    """xlmr's first ordinary token is a lone '▁', which decodes to nothing: the frame takes the first token
    that reads back as one."""
    m = loaded(name)
    r = interp.induction_scores(m, seq_len=6, n_seqs=2)
    assert r.scores.shape == (m.n_layers, m.n_heads) and np.isfinite(r.scores).all()


@pytest.mark.parametrize("name", ["roberta", "xlmr", "bert"])
def test_a_masked_slot_at_the_start_scores_the_word_as_written_there(name, loaded):
    """Byte-level BPE writes a text's first word without its space (``anna``, not ``Ġanna``)."""
    m = loaded(name)
    probe = "___ lives in oslo ."
    ids = answer_ids(m, "anna", text=probe)
    full = m.to_tokens("anna lives in oslo .")[0].tolist()
    assert list(ids) == full[1 : 1 + len(ids)]
    lens = interp.logit_lens(m, probe, answer="anna")
    assert lens.answer_ids == ids
