"""The tuned lens: shipped translators match the shipped zoo weights and beat the logit lens on held-out text;
training is seeded; translators are found by weights hash; bad input is an InputError."""

import json
import math

import numpy as np
import pytest
import torch

import interp
from interp import errors
from interp.analysis import tuned as tl
from interp.zoo import ZOO_DIR, ZOO_MODELS, corpus

REGENERATE = "python -m interp.analysis.tuned"
PROBE = "the keys to the cabinet ___ on the table ."


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Translators a developer trained in their own cache must not stand in for the shipped ones."""
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))


def _input_error(call, *fragments):
    with pytest.raises(errors.InputError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    return info.value


@pytest.mark.parametrize("name", sorted(ZOO_MODELS))
def test_shipped_translators_match_the_shipped_weights(name):
    shipped = tl.TunedLens.read(ZOO_DIR / name / tl.FILE_NAME)
    model = interp.load(name)
    assert shipped.model_name == name
    assert shipped.weights_hash == tl.weights_hash(model), (
        f"the tuned-lens translators of {name} were trained for other weights: run `{REGENERATE}` after "
        "retraining the zoo"
    )
    assert shipped.weight.shape == (model.n_layers, model.d_model, model.d_model)


@pytest.mark.parametrize("name", sorted(ZOO_MODELS))
def test_tuned_lens_beats_the_logit_lens_on_held_out_text(name, causal, bidirectional):
    model = {"tiny-causal": causal, "tiny-bidirectional": bidirectional}.get(name) or interp.load(name)
    assert model.name == name
    shipped = tl.translators_for(model)
    assert shipped.settings["texts"] == "default corpus" and shipped.settings["seed"] != tl.HELD_OUT_SEED
    held_out = corpus.generate(64, seed=tl.HELD_OUT_SEED)
    logit = tl.mean_kl(model, held_out, "logit")
    tuned = tl.mean_kl(model, held_out, "tuned")
    for layer in range(model.n_layers):  # every row but the last, which is the final layer itself
        assert tuned[layer] < logit[layer], (layer, logit, tuned)
    assert logit[-1] == tuned[-1] == pytest.approx(0, abs=1e-5)


def test_a_tuned_result_records_its_lens_and_is_saved(causal, tmp_path):
    result = interp.logit_lens(causal, PROBE, lens="tuned")
    logit = interp.logit_lens(causal, PROBE)
    assert (result.lens, logit.lens) == ("tuned", "logit")
    assert "tuned lens" in result.summary_text()
    np.testing.assert_allclose(
        result.top_probs[-1], logit.top_probs[-1], atol=1e-6
    )  # the final row is shared
    assert not np.allclose(result.kl[0], logit.kl[0])
    again = interp.load_result(result.save(tmp_path / "tuned.npz"))
    assert again.lens == "tuned"
    np.testing.assert_array_equal(again.kl, result.kl)


def test_a_result_saved_before_the_lens_field_reads_as_the_logit_lens(causal, tmp_path):
    path = interp.logit_lens(causal, PROBE).save(tmp_path / "old.npz")
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(arrays["__interp__"].tobytes())
    del meta["result"]["fields"]["lens"]
    arrays["__interp__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert interp.load_result(path).lens == "logit"


def test_training_is_seeded_and_saved(tmp_path):
    model = interp.load("tiny-causal")
    kwargs = dict(steps=3, batch_size=4, progress=False)
    a = tl.tuned_lens(model, seed=1, path=tmp_path / "a.safetensors", **kwargs)
    b = tl.tuned_lens(model, seed=1, path=tmp_path / "b.safetensors", **kwargs)
    c = tl.tuned_lens(model, seed=2, path=tmp_path / "c.safetensors", **kwargs)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)
    assert a.weight.abs().sum() > 0  # trained away from the identity it starts at
    read = tl.TunedLens.read(a.path)
    assert torch.equal(read.weight, a.weight) and read.weights_hash == tl.weights_hash(model)
    assert read.settings["steps"] == 3 and read.settings["seed"] == 1
    assert tl.translators_for(model) is c  # the latest training is the one used


def test_translators_are_found_by_weights_hash(tiny_folder, tmp_path, monkeypatch):
    folder = tiny_folder("gpt2")
    model = interp.load(folder)
    _input_error(
        lambda: interp.logit_lens(model, "anna lives in oslo .", lens="tuned"), "interp.tuned_lens(model)"
    )
    _input_error(lambda: interp.tuned_lens(model, progress=False), "pass texts=")
    texts = corpus.generate(3, seed=5)
    trained = interp.tuned_lens(model, texts, steps=2, batch_size=2, progress=False)
    assert trained.path.parent == tl.cache_dir() and trained.path.is_file()
    # A fresh load of the same weights finds them in the cache.
    fresh = interp.load(folder)
    assert interp.logit_lens(fresh, "anna lives in oslo .", lens="tuned").lens == "tuned"
    with torch.no_grad():
        next(fresh.bridge.original_model.parameters()).add_(1.0)
    _input_error(
        lambda: interp.logit_lens(fresh, "anna lives in oslo .", lens="tuned"),
        "other weights",
        "interp.tuned_lens",
    )


def test_bad_input_is_an_input_error(causal, tmp_path):
    train = lambda **kw: interp.tuned_lens(causal, progress=False, **kw)  # noqa: E731
    _input_error(lambda: train(texts="one text"), "list of strings")
    _input_error(lambda: train(texts=[]), "list of strings")
    _input_error(lambda: train(texts=["a cat", 3]), "texts[1]")
    _input_error(lambda: train(texts=["  "]), "texts[0]")
    for name, bad in (("steps", 0), ("steps", True), ("steps", 2.5), ("lr", 0), ("lr", math.nan)):
        _input_error(lambda name=name, bad=bad: train(**{name: bad}), name)
    _input_error(lambda: train(batch_size=0), "batch_size")
    _input_error(lambda: train(seed=-1), "seed")
    _input_error(lambda: interp.tuned_lens(causal, progress="no"), "progress")
    _input_error(lambda: train(path=3), "path")
    _input_error(lambda: interp.tuned_lens("tiny-causal"), "model")
    _input_error(lambda: interp.logit_lens(causal, PROBE, lens="tunde"), "logit, tuned")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not safetensors")
    _input_error(lambda: tl.TunedLens.read(damaged), "interp.tuned_lens(model)")


def test_compare_and_compare_suite_read_through_the_tuned_lens(causal, bidirectional, tiny_folder):
    """``lens="tuned"``: each side's lens view is the tuned lens of its own framing, and the decision depth
    (compare's summary, compare_suite's column) is read from it; the prediction is the model's own either way."""
    from interp.analysis.lens import decision_depth

    probes = ["the keys to the cabinet ___ on the table .", "anna lives in oslo . anna lives in ___ ."]
    depths = {"causal": [], "bidirectional": []}
    for probe in probes:
        plain = interp.compare(causal, bidirectional, probe, method=None)
        cmp = interp.compare(causal, bidirectional, probe, method=None, lens="tuned")
        for run, model, before in (
            (cmp.causal, causal, plain.causal),
            (cmp.bidirectional, bidirectional, plain.bidirectional),
        ):
            alone = interp.logit_lens(model, probe, lens="tuned")
            assert run.lens.lens == "tuned" and before.lens.lens == "logit"
            assert np.allclose(run.lens.answer_prob, alone.answer_prob, atol=1e-5)
            assert np.array_equal(run.lens.top_ids[:, run.position, 0], alone.top_ids[:, run.position, 0])
            assert run.top1 == before.top1 and abs(run.top1_prob - before.top1_prob) < 1e-6
            depth = float(decision_depth(torch.tensor(alone.top_ids[:, run.position, 0])))
            assert cmp.summary["decision_depth"][run.kind] == depth
            depths[run.kind].append(depth)
    table = interp.compare_suite(causal, bidirectional, probes, method=None, lens="tuned", progress=False)
    for kind in depths:
        assert table[f"{kind}_decision_depth"].tolist() == depths[kind]
    untrained = interp.load(tiny_folder("gpt2"))
    with pytest.raises(errors.InputError, match="no tuned-lens translators"):
        interp.compare(untrained, bidirectional, probes[0], lens="tuned")
    with pytest.raises(errors.InputError, match="unknown lens 'probe'"):
        interp.compare_suite(causal, bidirectional, probes, lens="probe")


def test_an_edit_through_data_makes_the_translators_stale():
    """``param.data`` edits leave PyTorch's version counters as they were: the weights hash still sees them, and
    the translators trained for the old weights are refused with a message saying to retrain."""
    model = interp.load("tiny-causal")
    before = tl.weights_hash(model)
    assert interp.logit_lens(model, PROBE, lens="tuned").lens == "tuned"
    param = next(model.bridge.original_model.parameters())
    kept = param.detach().clone()
    version = param._version
    param.data.mul_(1.5)
    assert param._version == version  # the edit PyTorch does not count
    assert tl.weights_hash(model) != before
    _input_error(
        lambda: interp.logit_lens(model, PROBE, lens="tuned"),
        "changed since",
        "retrain",
        "interp.tuned_lens(model)",
    )
    param.data.copy_(kept)  # the very weights again: the same translators fit
    assert tl.weights_hash(model) == before
    assert interp.logit_lens(model, PROBE, lens="tuned").lens == "tuned"
    param.data[0, 0] += 1.0  # one number, in place through .data
    assert tl.weights_hash(model) != before


def _plant(model, weight, bias):
    """Translators saved under the model's own weights hash, where translators_for looks first."""
    d, L = model.d_model, model.n_layers
    lens = tl.TunedLens(model.name, tl.weights_hash(model), weight(L, d), bias(L, d))
    return lens.save(tl.cache_path(model))


@pytest.mark.parametrize(
    "weight, bias, fragment",
    [
        (lambda L, d: torch.eye(d).repeat(L, 1, 1) * 1e30, torch.zeros, "scales states by 1e+30"),
        (lambda L, d: torch.zeros(L, d, d), lambda L, d: torch.full((L, d), 1e30), "a bias of norm"),
        (lambda L, d: torch.full((L, d, d), math.nan), torch.zeros, "NaN or infinite translator weights"),
    ],
)
def test_a_planted_file_with_the_right_hash_is_judged_by_its_values(weight, bias, fragment):
    """A matching hash is not enough: translators that no training writes are an InputError naming the file and
    saying to retrain (never junk rows, and never a NonFiniteError that blames a hook function)."""
    model = interp.load("tiny-causal")
    path = _plant(model, weight, bias)
    err = _input_error(
        lambda: interp.logit_lens(model, PROBE, lens="tuned"), fragment, "interp.tuned_lens(model)"
    )
    assert str(path) in str(err) and not isinstance(err, errors.NonFiniteError)
    assert interp.logit_lens(model, PROBE).lens == "logit"  # the logit lens still reads


def test_translators_within_bounds_still_read(tmp_path):
    """The value checks leave a plausible file alone: twice the shipped translators read as usual."""
    model = interp.load("tiny-causal")
    shipped = tl.TunedLens.read(ZOO_DIR / "tiny-causal" / tl.FILE_NAME)
    _plant(model, lambda L, d: shipped.weight * 2, lambda L, d: shipped.bias * 2)
    result = interp.logit_lens(model, PROBE, lens="tuned")
    assert np.isfinite(result.kl).all() and result.lens == "tuned"


def test_translated_rows_that_overflow_are_blamed_on_the_translators():
    """States a translator within bounds still overflows (float16 past 65504) are an InputError naming the
    translators, not NaN rows passed on to the lens."""
    L, d = 2, 4
    lens = tl.TunedLens("m", "0" * 64, torch.eye(d).repeat(L, 1, 1) * 900, torch.zeros(L, d))
    resid = torch.full((L + 1, 3, d), 100.0, dtype=torch.float16)  # (L+1, T, d_model)
    _input_error(
        lambda: lens.translate_(resid), "NaN or infinite states in row 0", "interp.tuned_lens(model)"
    )
    fine = torch.ones(L + 1, 3, d)
    np.testing.assert_allclose(lens.translate_(fine)[:L].numpy(), 901.0)
    already = torch.ones(L + 1, 3, d)
    already[1, 0, 0] = float("inf")  # the model's own state, not the translators, is infinite here
    assert not torch.isfinite(lens.translate_(already)[1]).all()


def test_nan_translators_in_the_models_own_folder_are_blamed_on_the_file(tmp_path):
    """The folder's own ``tuned_lens.safetensors`` with NaN weights (and the right hash) is an InputError naming
    that file and saying to retrain: never a NonFiniteError that blames a hook function."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(ZOO_DIR / "tiny-causal", folder)
    model = interp.load(str(folder))
    shipped = tl.TunedLens.read(folder / tl.FILE_NAME)
    assert shipped.fits(model)
    tl.TunedLens(
        shipped.model_name, shipped.weights_hash, torch.full_like(shipped.weight, math.nan), shipped.bias
    ).save(folder / tl.FILE_NAME)
    err = _input_error(
        lambda: interp.logit_lens(model, PROBE, lens="tuned"), "NaN", "interp.tuned_lens(model)"
    )
    assert str(folder / tl.FILE_NAME) in str(err) and "hook function" not in str(err)


def test_a_path_that_cannot_be_written_is_refused_before_training(causal, tmp_path, monkeypatch):
    from interp.analysis import tuned

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the path was checked")

    monkeypatch.setattr(tuned, "_kl_backward", no_training)
    (tmp_path / "a-file").write_text("")
    for bad, why in ((tmp_path, "it is a folder"), (tmp_path / "a-file" / "lens.safetensors", "File exists")):
        with pytest.raises(errors.InputError, match=f"cannot write the translators to .*{why}"):
            interp.tuned_lens(causal, path=bad, steps=10_000, progress=False)
