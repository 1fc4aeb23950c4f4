"""Minimal pairs: the zoo's pairs from its grammar, the three accepted inputs (tuples, a DataFrame, a BLiMP
JSONL file), the table and its summary, common random numbers for the ELBO, explanations, views and errors."""

import json

import numpy as np
import pandas as pd
import pytest

import interp
from interp.errors import InputError
from interp.zoo import corpus, pairs

PAIRS = [
    ("the keys to the cabinet are on the table .", "the keys to the cabinet is on the table .", "agreement"),
    ("the duck near the river quacked .", "the dog near the river quacked .", "right_cloze"),
    ("the key near the doors is here .", "the key near the doors are here .", "agreement"),
]


@pytest.fixture(scope="module")
def diffusion():
    return interp.load("tiny-diffusion")


@pytest.fixture(scope="module")
def result(causal, bidirectional, diffusion):
    return interp.minimal_pairs([causal, bidirectional, diffusion], PAIRS, n_samples=32, progress=False)


def test_zoo_pairs_differ_in_one_word_on_held_out_constructions(causal):
    made = corpus.minimal_pairs(seed=0, n_per_kind=6)
    assert made == corpus.minimal_pairs(seed=0, n_per_kind=6) != corpus.minimal_pairs(seed=1, n_per_kind=6)
    assert [p.phenomenon for p in made] == [ph for ph in corpus.PHENOMENA for _ in range(6)]
    vocab = causal.tokenizer.get_vocab()
    for p in made:
        g, b = p.good.split(), p.bad.split()
        diff = [i for i, (x, y) in enumerate(zip(g, b)) if x != y]
        assert len(g) == len(b) and len(diff) == 1, p
        assert b[diff[0]] not in g  # the wrong word is nowhere in the passage
        assert p.construction in corpus.HELD_OUT and corpus.well_formed(p.good)
        assert all(w in vocab for w in g + b)
    agreement = [p for p in made if p.phenomenon == "agreement"]
    assert all({set(p.good.split()) ^ set(p.bad.split()) == {"is", "are"} for p in agreement})


def test_the_example_file_is_blimp_format_and_reproducible():
    lines = pairs.EXAMPLE_FILE.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == pairs.records(pairs.minimal_pairs(seed=0, n_per_kind=5))
    assert len(records) == 20 and all(set(pairs.records([])[:0]) <= set(r) for r in records)
    for r in records:
        assert {"sentence_good", "sentence_bad", "UID", "field", "linguistics_term", "pair_id"} <= set(r)


def test_the_table_has_one_row_per_pair_and_model(result):
    df = result.to_dataframe()
    assert list(df.columns[:11]) == [
        "model",
        "pair_id",
        "phenomenon",
        "good",
        "bad",
        "score_good",
        "score_bad",
        "difference",
        "correct",
        "critical_good",
        "critical_bad",
    ]
    assert len(df) == 9 and df["model"].tolist() == [m for m in result.models for _ in PAIRS]
    np.testing.assert_allclose(df["difference"], df["score_good"] - df["score_bad"])
    assert (df["correct"] == (df["difference"] > 0)).all()
    assert df["critical_good"].tolist()[:3] == ["are", "duck", "is"]
    assert df["critical_bad"].tolist()[:3] == ["is", "dog", "are"]
    assert df["method"].tolist()[::3] == ["causal", "pll_word_l2r", "elbo"]
    summary = result.summary()
    assert list(summary.index) == ["agreement", "right_cloze", "all"]
    for m, name in enumerate(result.models):
        assert summary.loc["agreement", name] == result.correct[m, [0, 2]].mean()
        assert summary.loc["all", name] == result.correct[m].mean()


def test_the_elbo_compares_with_common_random_numbers(result, diffusion):
    from interp.analysis import likelihood

    g, b = result.good[2], result.bad[2]
    assert g.seed == b.seed and g.n_samples == b.n_samples == 32
    for good, bad, _ in PAIRS:  # sample k masks the same positions of the good and of the bad sentence
        reads = [likelihood._read(diffusion, t, False) for t in (good, bad)]
        rows = likelihood._rows(reads, "elbo", 32, g.seed, diffusion.mask_token_id)
        assert [r.reads for r in rows[:32]] == [r.reads for r in rows[32:]]
    df = result.to_dataframe()
    elbo = df[df["method"] == "elbo"]
    paired = (g.samples - b.samples).std(1, ddof=1) / np.sqrt(32)
    np.testing.assert_allclose(elbo["se_difference"], paired)
    assert (df[df["method"] != "elbo"]["se_difference"] == 0).all()


def test_the_three_inputs_give_one_result(causal, tmp_path):
    frame = pd.DataFrame(
        {
            "sentence_good": [p[0] for p in PAIRS],
            "sentence_bad": [p[1] for p in PAIRS],
            "UID": [p[2] for p in PAIRS],
        }
    )
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"sentence_good": g, "sentence_bad": b, "UID": u, "pair_id": i})
            for i, (g, b, u) in enumerate(PAIRS)
        )
    )
    a = interp.minimal_pairs(causal, PAIRS, progress=False)
    for other in (frame, path, str(path)):
        r = interp.minimal_pairs(causal, other, progress=False)
        np.testing.assert_allclose(r.differences, a.differences)
        assert r.phenomena == a.phenomena and r.pair_ids == ("0", "1", "2")
    zoo = interp.minimal_pairs(causal, corpus.minimal_pairs(seed=0, n_per_kind=1), progress=False)
    assert zoo.phenomena == corpus.PHENOMENA
    blimp = interp.minimal_pairs(causal, pairs.EXAMPLE_FILE, progress=False)
    assert blimp.n_pairs == 20 and blimp.pair_ids[-1] == "19"


def test_explanations_show_which_side_each_model_read(causal, bidirectional):
    r = interp.minimal_pairs([causal, bidirectional], PAIRS[1:2], explain=True, n_steps=8, progress=False)
    assert len(r.explanations) == 4
    c, b = r.explanation(0, 0, "good"), r.explanation(1, 0, "bad")
    assert c.answer == "duck" and b.answer == "dog"
    # the causal model reads the animal from its left context alone; the masked LM sees the sound after it
    assert c.attr_right_mass == 0.0 and "quacked" not in [t.strip() for t in c.tokens]
    assert b.attr_right_mass > 0.0 and "quacked" in [t.strip() for t in b.tokens]


def test_bad_input_is_refused_with_advice(causal, tmp_path):
    with pytest.raises(InputError, match="same"):
        interp.minimal_pairs(causal, [("anna lives in oslo .", "anna lives in oslo .")])
    with pytest.raises(InputError, match="not a file"):
        interp.minimal_pairs(causal, tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence_good": "a", "sentence_bad": "b"}\nnot json\n')
    with pytest.raises(InputError, match="line 2"):
        interp.minimal_pairs(causal, bad)
    with pytest.raises(InputError, match="sentence_bad"):
        interp.minimal_pairs(causal, pd.DataFrame({"sentence_good": ["anna lives in oslo ."]}))
    with pytest.raises(InputError, match="pair_id"):
        interp.minimal_pairs(
            causal,
            pd.DataFrame(
                {"sentence_good": ["a b", "c d"], "sentence_bad": ["a c", "c e"], "pair_id": [1, 1]}
            ),
        )
    with pytest.raises(InputError, match="one per model"):
        interp.minimal_pairs([causal], PAIRS, method=["causal", "pll"])
    with pytest.raises(InputError, match=r"pairs\[0\]"):
        interp.minimal_pairs(causal, ["anna lives in oslo ."])
    with pytest.raises(InputError, match="non-empty"):
        interp.minimal_pairs(causal, [])


def test_views_draw_the_data(result):
    import widgets

    acc = widgets.figure(result, kind="accuracy")
    assert [t.name for t in acc.data] == list(result.models)
    np.testing.assert_allclose(acc.data[1].y, result.summary()[result.models[1]].to_numpy(), atol=1e-3)
    sur = widgets.figure(result, kind="surprisal", pair=1)
    assert len(sur.data) == 6  # a good and a bad panel per model
    marked = [x for x, c in zip(sur.data[0].x, sur.data[0].marker.color) if c == widgets.scores.CRITICAL]
    assert [x.split("·")[1] for x in marked] == ["duck"]
    np.testing.assert_allclose(sur.data[0].y[1:], result.good[0].surprisal(1)[1:], atol=1e-3)
    spread = widgets.figure(result, kind="spread")
    assert [t.type for t in spread.data] == ["scatter", "scatter", "box"]
    assert len(spread.data[2].y) == 3 * 32
    one = widgets.figure(result.good[2], kind="spread")
    assert one.data[0].type == "box"
    view = widgets.view(result)  # choosing another pair redraws the tokens of that pair
    choose, tokens = view.children[2], view.children[3]
    choose.value = 0
    assert [x.split("·")[1] for x in tokens.data[0].x][1:4] == ["the", "keys", "to"]
    choose.value = 1
    assert [x.split("·")[1] for x in tokens.data[0].x][1:4] == ["the", "duck", "near"]


def test_the_magic_reads_a_blimp_file(causal, bidirectional, tmp_path):
    from types import SimpleNamespace

    from interp.ipython import COMMANDS

    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(pairs.EXAMPLE_FILE.read_text().splitlines()[10:12]))
    parser, run = COMMANDS["pairs"]
    shell = SimpleNamespace(user_ns={"c": causal, "b": bidirectional})
    r = run(shell, parser.parse_args([str(path), "c", "b"]))
    assert isinstance(r, interp.MinimalPairsResult) and r.models == ("tiny-causal", "tiny-bidirectional")
    assert r.pair_ids == ("10", "11") and r.phenomena == ("agreement", "agreement")
