"""Sentence scores: parity with minicons (causal log-likelihood, PLL original and within-word), the ELBO against
its exact expectation by enumeration, batching, seeds, the per-token and per-word bookkeeping and bad input."""

from itertools import combinations

import numpy as np
import pytest
import torch
from subword_tokenizers import BY_NAME, save_model
from transformers import BatchEncoding

import interp
from interp.errors import InputError, ResourceError

SENTENCES = [
    "the keys to the cabinet are on the table .",
    "anna lives in oslo .",
    "we heard that the market was quiet , very quiet .",
    "the old duck near the river quacked loudly .",
    "ivan saw a black coat .",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    made: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in made:
            made[name] = str(save_model(BY_NAME[name], tmp_path_factory.mktemp(name)))
        return made[name]

    return get


@pytest.fixture(scope="module")
def diffusion():
    return interp.load("tiny-diffusion")


def masked_peer(folder):
    """minicons's MaskedLMScorer; its encode calls ``tokenizer.batch_encode_plus``, which transformers 5 removed:
    the tokenizer's own call does the same (padding to the longest, attention mask), the rest is minicons's."""
    from minicons import scorer

    peer = scorer.MaskedLMScorer(folder, device="cpu")
    if not hasattr(peer.tokenizer, "batch_encode_plus"):
        object.__setattr__(peer.tokenizer, "batch_encode_plus", peer.tokenizer.__call__)
    return peer


def _folder(name, folders):
    from interp.zoo import ZOO_DIR

    return str(ZOO_DIR / name) if name.startswith("tiny-") else folders(name)


@pytest.mark.parametrize("name", ["tiny-causal", "gpt2", "llama3", "llama2"])
def test_causal_log_likelihood_equals_minicons(name, folders):
    from minicons import scorer

    folder = _folder(name, folders)
    m = interp.load(folder)
    r = interp.score(m, SENTENCES, progress=False)
    assert r.method == "causal" and m.kind == "causal"
    peer = scorer.IncrementalLMScorer(folder, device="cpu")
    sum_ = lambda x: x.sum(0).item()  # noqa: E731  (minicons's reduction: the total, not the mean)
    for i, text in enumerate(SENTENCES):
        ids = r.token_ids[i].tolist()
        if (
            ids == peer.tokenizer(text)["input_ids"]
        ):  # minicons reads the same tokens: its own path, end to end
            theirs = peer.sequence_score([text], reduction=sum_)[0]
        else:  # we read BOS first where the tokenizer adds none: minicons's formula on the same tokens
            assert ids[0] == m.tokenizer.bos_token_id and ids[1:] == peer.tokenizer(text)["input_ids"]
            enc = BatchEncoding({"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids))})
            theirs = peer.compute_stats(peer.prepare_text(enc), return_tensors=True)[0]
            np.testing.assert_allclose(r.token_logprobs[i][1:], theirs.numpy(), atol=1e-4)
            theirs = float(theirs.sum())
        assert r.total[i] == pytest.approx(theirs, abs=1e-4)
    # not scored: the first token (BOS, or the first word where there is none)
    assert all(np.isnan(t[0]) and not np.isnan(t[1:]).any() for t in r.token_logprobs)


@pytest.mark.parametrize("name", ["tiny-bidirectional", "tiny-diffusion", "bert", "roberta"])
@pytest.mark.parametrize("metric", ["pll", "pll_word_l2r"])
def test_pseudo_log_likelihood_equals_minicons(name, metric, folders):
    folder = _folder(name, folders)
    m = interp.load(folder)
    r = interp.score(m, SENTENCES, method=metric, batch_size=7, progress=False)
    peer = masked_peer(folder)
    theirs = peer.sequence_score(
        SENTENCES,
        reduction=lambda x: x.sum(0).item(),
        PLL_metric={"pll": "original", "pll_word_l2r": "within_word_l2r"}[metric],
    )
    np.testing.assert_allclose(r.total, theirs, atol=1e-4, rtol=0)
    # a subword vocabulary: some words split, so the two metrics differ there
    if not name.startswith("tiny-"):
        w = r.word_index[0][r.word_index[0] >= 0]
        assert len(set(w.tolist())) < len(w)
        other = "pll" if metric == "pll_word_l2r" else "pll_word_l2r"
        assert np.abs(interp.score(m, SENTENCES, method=other, progress=False).total - r.total).max() > 1e-5


def test_the_default_follows_the_model(causal, bidirectional, diffusion):
    assert interp.score(causal, "anna lives in oslo .").method == "causal"
    assert interp.score(bidirectional, "anna lives in oslo .").method == "pll_word_l2r"
    r = interp.score(diffusion, "anna lives in oslo .", n_samples=8)
    assert r.method == "elbo" and r.samples.shape == (1, 8) and r.standard_error[0] > 0


def _exact_elbo(model, text):
    """The ELBO's expectation by enumeration of every masked subset S (l = |S| in 1..L, weight L / l,
    each subset of size l drawn with probability 1 / (L C(L, l)))."""
    from math import comb

    ids = model.to_tokens(text)[0]
    content = [p for p in range(len(ids)) if int(ids[p]) not in model.special_ids]
    L = len(content)
    rows, weights, targets = [], [], []
    for l in range(1, L + 1):
        for S in combinations(content, l):
            row = ids.clone()
            row[list(S)] = model.mask_token_id
            rows.append(row)
            weights.append((L / l) / (L * comb(L, l)))
            targets.append(list(S))
    with torch.no_grad():
        lp = torch.log_softmax(model.forward(torch.stack(rows)).double(), -1)  # (2^L - 1, T, V)
    total = 0.0
    for k, S in enumerate(targets):
        total += weights[k] * float(sum(lp[k, p, ids[p]] for p in S))
    return total, L


def test_the_elbo_is_within_three_standard_errors_of_its_exact_expectation(diffusion):
    text = "anna lives in oslo , i think ."
    exact, L = _exact_elbo(diffusion, text)
    assert L == 8
    r = interp.score(diffusion, text, n_samples=1000, seed=3, progress=False)
    assert abs(r.total[0] - exact) <= 3 * r.standard_error[0]
    assert 0 < r.standard_error[0] < 0.2 * abs(exact)
    # per-token terms are the samples' mean contribution of each position: they sum to the total
    assert np.nansum(r.token_logprobs[0]) == pytest.approx(r.total[0], abs=1e-6)


def test_the_elbo_is_reproducible_by_seed_and_shares_draws_across_texts(diffusion):
    texts = ["the keys to the cabinet are on the table .", "the keys to the cabinet is on the table ."]
    a = interp.score(diffusion, texts, n_samples=16, seed=5, progress=False)
    b = interp.score(diffusion, texts, n_samples=16, seed=5, progress=False)
    c = interp.score(diffusion, texts, n_samples=16, seed=6, progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)
    # a text's draws do not depend on the other texts of the call (sample k: the stream (seed, k) alone)
    alone = interp.score(diffusion, texts[1], n_samples=16, seed=5, progress=False)
    np.testing.assert_allclose(alone.samples[0], a.samples[1], atol=1e-5)
    # common random numbers: the paired difference varies less than the two scores do on their own
    d = a.samples[0] - a.samples[1]
    assert d.std() < min(a.samples[0].std(), a.samples[1].std())


def test_batches_give_each_text_its_own_score(bidirectional, causal):
    for m in (causal, bidirectional):
        together = interp.score(m, SENTENCES, batch_size=5, progress=False)
        for i, text in enumerate(SENTENCES):
            alone = interp.score(m, text, batch_size=1, progress=False)
            np.testing.assert_allclose(alone.token_logprobs[0], together.token_logprobs[i], atol=1e-5)


def test_words_and_tokens_add_up(folders):
    m = interp.load(folders("bert"))
    r = interp.score(m, SENTENCES, progress=False)
    for i, text in enumerate(SENTENCES):
        assert len(r.word_logprobs[i]) == len(text.split())
        assert np.nansum(r.word_logprobs[i]) == pytest.approx(r.total[i], abs=1e-6)
        assert np.isnan(r.token_logprobs[i][0]) and np.isnan(r.token_logprobs[i][-1])  # [CLS], [SEP]
        assert (r.word_index[i][1:-1] >= 0).all()
    assert r.to_dataframe()["n_tokens"].tolist() == [len(t) - 2 for t in r.tokens]
    table = r.token_table()
    assert len(table) == sum(len(t) for t in r.tokens)
    assert r.surprisal(0)[1] == pytest.approx(-r.token_logprobs[0][1] / np.log(2))


def test_bad_input_is_refused_with_advice(causal, bidirectional, monkeypatch):
    with pytest.raises(InputError, match="does not apply"):
        interp.score(causal, "anna lives in oslo .", method="pll")
    with pytest.raises(InputError, match="does not apply"):
        interp.score(bidirectional, "anna lives in oslo .", method="causal")
    with pytest.raises(InputError, match="method"):
        interp.score(bidirectional, "anna lives in oslo .", method="ppl")
    with pytest.raises(InputError, match="non-empty list"):
        interp.score(causal, [])
    with pytest.raises(InputError, match=r"texts\[1\]"):
        interp.score(causal, ["anna lives in oslo .", 3])
    with pytest.raises(InputError, match="vocabulary"):
        interp.score(causal, "anna lives in zanzibar .")
    assert interp.score(causal, "anna lives in zanzibar .", allow_unknown=True).total[0] < 0
    with pytest.raises(InputError, match="n_samples"):
        interp.score(bidirectional, "anna lives in oslo .", method="elbo", n_samples=1)
    from interp import checks

    monkeypatch.setattr(checks, "available_memory", lambda device: 1000)
    with pytest.raises(ResourceError, match="batch_size"):
        interp.score(bidirectional, "anna lives in oslo .")
    assert interp.score(bidirectional, "anna lives in oslo .", check_memory=False).total[0] < 0


def test_memory_is_estimated_from_the_declaration(bidirectional):
    small = interp.estimate_memory(bidirectional, "score", 10)
    assert 0 < small < interp.estimate_memory(bidirectional, "score", 100)
    # whole sentences (no slot) are read as score reads them: the PLL's 8 masked copies of 10 tokens in one batch
    # (a batch holds rows of one length); the ELBO decodes more positions than the PLL
    text = "anna lives in oslo , i think ."  # 8 words, 10 tokens with [CLS] and [SEP]
    assert interp.estimate_memory(bidirectional, "score", text) == interp.estimate_memory(
        bidirectional, "score", 10, batch_size=8
    )
    assert interp.estimate_memory(bidirectional, "score", text, method="elbo") > small


def test_the_magic_scores(causal):
    from types import SimpleNamespace

    from interp.ipython import COMMANDS

    parser, run = COMMANDS["score"]
    shell = SimpleNamespace(user_ns={"c": causal})
    r = run(shell, parser.parse_args(["c", "anna lives in oslo ."]))
    assert isinstance(r, interp.ScoreResult) and r.texts == ("anna lives in oslo .",)
