"""A saved result that was edited so that its content contradicts itself is refused on load: kinds outside
their enumeration, half-precision arrays, probabilities outside [0, 1], same-shape arrays swapped, token
lists that do not match the arrays. Each refusal is a ResultError that names the field."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import interp
from interp.errors import ResultError

PROBE = "the keys to the cabinet ___ on the table ."


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.set_num_threads(1)
    c = interp.load("tiny-causal", device="cpu")
    b = interp.load("tiny-bidirectional", device="cpu")
    folder = tmp_path_factory.mktemp("saved")
    results = {
        "lens": interp.logit_lens(c, PROBE),
        "attention": interp.attention(c, PROBE),
        "attention_b": interp.attention(b, PROBE),
        "ablation": interp.ablate(c, PROBE, [(0, 0)], answer="are"),
        "importance": interp.head_importance(c, PROBE, answer="are", progress=False),
        "comparison": interp.compare(c, b, PROBE, method=None),
    }
    return {name: (r, r.save(folder / f"{name}.npz")) for name, r in results.items()}


def _read(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__interp__").tobytes().decode("utf-8"))
    return meta, arrays


def _write(path, meta, arrays):
    text = json.dumps(meta).encode("utf-8")
    np.savez(path, __interp__=np.frombuffer(text, dtype=np.uint8), **arrays)


def _key(meta, *fields):
    """The array key of a (nested) field in the saved JSON."""
    node = meta["result"]
    for name in fields:
        node = node["fields"][name] if "fields" in node else node["__dict__"][name]
    return node["__array__"]


def _edited(saved, name, tmp_path, edit):
    _, path = saved[name]
    meta, arrays = _read(path)
    edit(meta, arrays)
    out = tmp_path / f"edited-{name}.npz"
    _write(out, meta, arrays)
    return out


def test_an_unedited_file_loads_equal(saved, tmp_path):
    for result, path in saved.values():
        back = interp.load_result(path)
        assert type(back) is type(result) and back.kind == result.kind
    meta, arrays = _read(saved["lens"][1])
    _write(tmp_path / "same.npz", meta, arrays)  # rewriting by hand changes nothing
    np.testing.assert_array_equal(
        interp.load_result(tmp_path / "same.npz").answer_prob, saved["lens"][0].answer_prob
    )


def test_a_kind_outside_its_enumeration_is_refused(saved, tmp_path):
    def edit(meta, arrays):
        meta["result"]["fields"]["kind"] = "<script>alert(1)</script>"

    with pytest.raises(ResultError, match=r"kind must be one of 'causal', 'bidirectional', got '<script>"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_a_comparison_keeps_its_own_kind(saved, tmp_path):
    def edit(meta, arrays):
        meta["result"]["fields"]["kind"] = "causal"

    with pytest.raises(ResultError, match="Comparison.kind must be one of 'comparison'"):
        interp.load_result(_edited(saved, "comparison", tmp_path, edit))


@pytest.mark.parametrize("field", ["answer_prob", "top_probs", "kl"])
def test_arrays_turned_into_float16_are_refused(saved, tmp_path, field):
    def edit(meta, arrays):
        key = _key(meta, field)
        arrays[key] = arrays[key].astype(np.float16)

    with pytest.raises(ResultError, match="is float16, which result.save never writes"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_a_probability_outside_0_1_is_refused(saved, tmp_path):
    def edit(meta, arrays):
        key = _key(meta, "answer_prob")
        arrays[key] = arrays[key].copy()
        arrays[key][0, 0] = -5.0

    with pytest.raises(ResultError, match=r"LensResult.answer_prob must hold probabilities in \[0, 1\]"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))

    def scalar(meta, arrays):
        meta["result"]["fields"]["prob_after"] = 1.5

    with pytest.raises(ResultError, match=r"AblationResult.prob_after must hold probabilities"):
        interp.load_result(_edited(saved, "ablation", tmp_path, scalar))


def test_a_negative_rank_is_refused(saved, tmp_path):
    def edit(meta, arrays):
        key = _key(meta, "answer_rank")
        arrays[key] = arrays[key] - 100

    with pytest.raises(ResultError, match="answer_rank holds negative ranks"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_swapped_same_shape_arrays_are_caught(saved, tmp_path):
    lens = saved["lens"][0]
    assert lens.answer_prob.shape == lens.kl.shape  # the swap keeps every shape

    def swap(a, b):
        def edit(meta, arrays):
            ka, kb = _key(meta, a), _key(meta, b)
            arrays[ka], arrays[kb] = arrays[kb], arrays[ka]

        return edit

    with pytest.raises(ResultError):
        interp.load_result(_edited(saved, "lens", tmp_path, swap("answer_prob", "kl")))
    # attention: a statistic swapped with another of the same shape
    with pytest.raises(ResultError, match=r"head_stats\['past'\] must be shares in \[0, 1\]"):
        interp.load_result(_edited(saved, "attention_b", tmp_path, _swap_stats))
    # a causal model's patterns transposed: it would look ahead
    with pytest.raises(ResultError, match="cannot attend to later positions"):
        interp.load_result(_edited(saved, "attention", tmp_path, _transpose_patterns))


def test_swapped_effects_of_head_importance_are_caught(saved, tmp_path):
    def edit(meta, arrays):
        fields = meta["result"]["fields"]
        fields["effects"], fields["logit_effects"] = fields["logit_effects"], fields["effects"]

    with pytest.raises(
        ResultError, match=r"effects in \[-1, 1\]|prob_before \+ effects must be probabilities"
    ):
        interp.load_result(_edited(saved, "importance", tmp_path, edit))


def _swap_stats(meta, arrays):
    stats = meta["result"]["fields"]["head_stats"]["__dict__"]
    stats["past"], stats["entropy"] = stats["entropy"], stats["past"]


def _transpose_patterns(meta, arrays):
    key = _key(meta, "patterns")
    p = arrays[key].swapaxes(-1, -2)
    arrays[key] = np.ascontiguousarray(p / p.sum(-1, keepdims=True))


def test_attention_patterns_must_be_distributions(saved, tmp_path):
    def edit(meta, arrays):
        key = _key(meta, "patterns")
        arrays[key] = arrays[key] * 2

    with pytest.raises(ResultError, match="non-negative rows that sum to 1"):
        interp.load_result(_edited(saved, "attention_b", tmp_path, edit))


def test_a_token_list_that_does_not_match_the_arrays_is_refused(saved, tmp_path):
    def edit(meta, arrays):
        tokens = meta["result"]["fields"]["tokens"]["__tuple__"]
        tokens.append("extra")

    with pytest.raises(ResultError, match="must be"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_the_answer_rank_must_agree_with_the_probabilities(saved, tmp_path):
    def edit(meta, arrays):
        key = _key(meta, "answer_rank")
        arrays[key] = np.where(arrays[key] == 0, 1, 0).astype(arrays[key].dtype)

    with pytest.raises(ResultError, match="answer_prob and answer_rank must agree with top_probs"):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_results_built_in_memory_meet_the_same_invariants(saved):
    import dataclasses

    lens = saved["lens"][0]
    with pytest.raises(ResultError, match="kind must be one of"):
        dataclasses.replace(lens, kind="sideways")
    with pytest.raises(ResultError, match="probabilities in"):
        dataclasses.replace(lens, top_probs=lens.top_probs + 2)
    half = dataclasses.replace(lens, kl=lens.kl.astype(np.float16))
    assert half.kl.dtype == np.float32  # made float32 when built, so a save never writes float16


@pytest.mark.parametrize(
    "field, dtype, said",
    [
        ("kl", np.int64, "LensResult.kl must be ndarray, got an array of dtype int64"),
        (
            "answer_rank",
            np.float32,
            "LensResult.answer_rank must be an array of dtype kind 'iu', got float32",
        ),
        ("top_tokens", np.int64, "LensResult.top_tokens must be an array of dtype kind 'U'"),
    ],
)
def test_arrays_of_another_dtype_kind_are_refused(saved, tmp_path, field, dtype, said):
    def edit(meta, arrays):
        key = _key(meta, field)
        arrays[key] = np.zeros(arrays[key].shape, dtype=dtype)

    with pytest.raises(ResultError, match=said):
        interp.load_result(_edited(saved, "lens", tmp_path, edit))


def test_hand_built_results_that_contradict_themselves_are_refused(causal):
    """Each of these edits leaves a result whose fields disagree: one ResultError, never another exception."""
    import dataclasses

    from interp.errors import ResultError

    probe = "anna has a red car . anna has a ___ ."
    lens = interp.logit_lens(causal, probe)
    attention = interp.attention(causal, probe)
    ablation = interp.ablate(causal, probe, [(0, 0)], answer="red")
    importance = interp.head_importance(causal, probe, answer="red", progress=False)
    layer = interp.attribute(causal, probe, answer="red", hook="blocks.1.hook_resid_pre", n_steps=4)
    stats = dict(attention.head_stats, extra=np.zeros(3))
    for result, change in (
        (lens, dict(top_ids=lens.top_ids[0])),
        (attention, dict(head_stats=stats)),
        (ablation, dict(answer_ids=())),
        (importance, dict(answer_ids=())),
        (layer, dict(slot=-5)),
    ):
        with pytest.raises(ResultError):
            dataclasses.replace(result, **change)
