"""Word-level attribution: subword scores summed over the words they came from, on byte-level BPE,
SentencePiece and WordPiece tokenizers; stored on the result (``word_index``), so a saved result has them too;
views switch between tokens and words."""

import numpy as np
import pytest
from subword_tokenizers import BY_NAME, save_model

import interp

PROBE = "the farmer ___ the apples near the old bridge ."


@pytest.fixture(scope="module")
def subword(tmp_path_factory):
    models = {}

    def get(name):
        if name not in models:
            models[name] = interp.load(save_model(BY_NAME[name], tmp_path_factory.mktemp(name)))
        return models[name]

    return get


@pytest.mark.parametrize("name", ["gpt2", "llama2", "bert"])  # byte-level BPE, SentencePiece, WordPiece
def test_word_scores_sum_each_words_subwords(subword, name, tmp_path):
    m = subword(name)
    r = interp.attribute(m, PROBE, answer="sold", n_steps=8, tolerance=None)
    words = PROBE.split()
    seen = words[: words.index("___")] if m.kind == "causal" else words
    assert r.words == tuple(seen)
    assert len(r.tokens) > len(seen) + (0 if m.kind == "causal" else 1)  # some words split into pieces
    # every word's score is the sum of its own tokens, read back from the token strings themselves
    for w, (word, score) in enumerate(zip(r.words, r.word_scores)):
        mine = np.flatnonzero(r.word_index == w)
        assert mine.size >= 1 and np.all(np.diff(mine) == 1)  # a word's tokens are contiguous
        assert score == pytest.approx(float(r.scores[mine].sum()), abs=1e-6)
        if word != "___":
            spelled = "".join(r.tokens[i] for i in mine).replace("##", "").replace("▁", "").strip().lower()
            assert spelled == word
    specials = r.word_index < 0
    assert r.word_scores.sum() == pytest.approx(float(r.scores[~specials].sum()), abs=1e-6)
    table = r.to_words_dataframe()
    assert list(table["word"]) == list(r.words)
    back = interp.load_result(r.save(tmp_path / "r.npz"))
    np.testing.assert_array_equal(back.word_index, r.word_index)
    np.testing.assert_array_equal(back.word_scores, r.word_scores)


def test_layer_results_sum_words_per_head(bidirectional):
    r = interp.attribute(
        bidirectional, "the keys to the cabinet ___ on the table .", answer="are", hook="blocks.2.attn.hook_z"
    )
    assert r.word_scores.shape == (len(r.words), bidirectional.n_heads)
    np.testing.assert_allclose(r.word_scores.sum(0), r.scores[r.word_index >= 0].sum(0), atol=1e-6)


def test_token_ids_have_no_words_and_views_fall_back_to_tokens(causal):
    import widgets
    from widgets.attribution import attribution_figure

    r = interp.attribute(causal, causal.to_tokens("the keys to the cabinet"), n_steps=4, tolerance=None)
    assert r.words == () and r.word_index is None and r.word_scores.shape == (0,)
    fig = attribution_figure(r, words=True)
    assert list(fig.data[1].y) == pytest.approx(r.scores.tolist())
    assert len(widgets.view(r).children) == 2  # no toggle without words


def test_views_switch_between_tokens_and_words(bidirectional):
    import widgets
    from widgets.attribution import attribution_figure, layer_figure

    r = interp.attribute(bidirectional, "the keys to the cabinet ___ on the table .", answer="are", n_steps=4)
    tokens, words = attribution_figure(r), attribution_figure(r, words=True)
    assert list(tokens.data[1].y) == pytest.approx(r.scores.tolist())
    assert list(words.data[1].y) == pytest.approx(r.word_scores.tolist())
    assert [x.split("·", 1)[1] for x in words.data[1].x] == list(r.words)
    view = widgets.view(r)
    head, toggle, before = view.children
    toggle.value = "words"
    after = view.children[2]
    assert after is not before and list(after.data[1].y) == pytest.approx(r.word_scores.tolist())
    layer = interp.attribute(
        bidirectional,
        "the keys to the cabinet ___ on the table .",
        answer="are",
        hook="blocks.1.mlp.hook_post",
    )
    fig = layer_figure(layer, words=True, top=5)
    z = np.array(fig.data[0].z)
    assert z.shape == (len(layer.words), 5)
    cols = [int(x[1:]) for x in fig.data[0].x]
    np.testing.assert_allclose(z, layer.word_scores[:, cols])
    assert set(cols) == {i for i, _ in layer.top_units(5)}
