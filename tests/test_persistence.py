"""Saved results: one file at exactly the path given, written atomically, read back bit for bit, and every
damaged, edited or foreign file refused with a ResultError (never unpickled)."""

import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import interp
from interp.errors import InputError, InterpError, ResultError
from interp.results import base
from interp.results.base import FORMAT_VERSION
from interp.results.persist import META

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."


@pytest.fixture(scope="module")
def results(causal, bidirectional):
    c, b = causal, bidirectional
    return {
        "attention": interp.attention(c, PROBE),
        "induction": interp.induction_scores(c, seq_len=6),
        "lens": interp.logit_lens(b, PROBE),
        "ig": interp.attribute(c, PROBE, answer="are", n_steps=4, tolerance=None),
        "saliency": interp.attribute(b, PROBE, answer="are", method="saliency"),  # delta is NaN
        "ig mask": interp.attribute(b, PROBE, answer="are", baseline="mask", n_steps=4, tolerance=None),
        "layer z": interp.attribute(c, PROBE, answer="are", hook="blocks.1.attn.hook_z", n_steps=4),
        "layer mlp": interp.attribute(b, PROBE, answer="are", hook="blocks.0.mlp.hook_post", n_steps=4),
        "compare": interp.compare(c, b, PROBE, answer="are", n_steps=4, tolerance=None),
        "ablate": interp.ablate(c, PROBE, [(0, 0), (1, 1)], answer="are"),
        "importance": interp.head_importance(c, PROBE, answer="are", progress=False),
        "patch": interp.patch(c, PROBE, CORRUPT, answer="are", contrast="is", progress=False),
        "path_patch": interp.path_patch(c, PROBE, CORRUPT, answer="are", contrast="is", progress=False),
        "attribution_patch": interp.attribution_patch(
            b, PROBE, CORRUPT, answer="are", contrast="is", validate=True, progress=False
        ),
        **_objective_results(c, b),
        "decompose": interp.decompose(b, PROBE, answer="are", contrast="is"),
        "generate": interp.generate(b, PROBE, 2, lens=True, top_k=2),  # NaN commit_prob at the prompt
        "attribute_generation": interp.attribute_generation(c, PROBE, 2, n_steps=4, progress=False),
        "score": interp.score(c, ["the keys are here .", "the key is on the table ."], progress=False),
        "pairs": interp.minimal_pairs(  # the ELBO's samples, NaN token terms at [CLS] and [SEP]
            [c, b],
            [("the keys are here .", "the keys is here .")],
            method=[None, "elbo"],
            n_samples=4,
            progress=False,
        ),
    }


def _objective_results(c, b):
    """The analyses toward a user objective (what an encoder-only model is asked)."""
    sim_c = interp.objectives.similarity(c, "the key to the cabinet is on the table .")
    sim_b = interp.objectives.similarity(b, "the key to the cabinet is on the table .")
    return {
        "objective ig": interp.attribute(b, PROBE, objective=sim_b, n_steps=4, tolerance=None),
        "objective ablate": interp.ablate(c, PROBE, [(0, 0)], objective=sim_c),
        "objective importance": interp.head_importance(c, PROBE, objective=sim_c, progress=False),
        "objective patch": interp.patch(c, PROBE, CORRUPT, objective=sim_c, progress=False),
    }


def _same(a, b, where="result"):
    """Bit-identical: same types, same array dtypes and bytes, NaN where NaN was."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, base.Result):
        for f in base.dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or a == b, (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_every_result_class_round_trips_bit_for_bit(results, tmp_path):
    covered = set()
    for name, r in results.items():
        path = r.save(tmp_path / name)
        assert path == tmp_path / name and path.is_file()
        back = interp.load_result(path)
        _same(back, r)
        assert repr(back) == repr(r)
        covered |= {type(v).__name__ for v in _results_in(r)}
    required = required_classes()
    assert covered == required, required - covered
    assert math.isnan(results["saliency"].delta)


def required_classes() -> set[str]:
    """The result classes the fixture must cover: every one the analyses declare (``@analysis(result=...)``)
    and every other result class of the library (tests define result subclasses of their own)."""
    from interp.analysis import registry

    declared = {cls.__name__ for cls in registry.result_classes()}
    return declared | {name for name, cls in base._REGISTRY.items() if cls.__module__.startswith("interp.")}


def _results_in(r):
    yield r
    for f in base.dataclasses.fields(r):
        value = getattr(r, f.name)
        if isinstance(value, base.Result):
            yield from _results_in(value)


def test_two_names_two_files(results, tmp_path):
    """The repro: exp.v1 and exp.v2 once both became exp.json, so loading exp.v1 returned the second result."""
    r1, r2 = results["attention"], results["lens"]
    r1.save(tmp_path / "exp.v1")
    r2.save(tmp_path / "exp.v2")
    assert sorted(os.listdir(tmp_path)) == ["exp.v1", "exp.v2"]
    _same(interp.load_result(tmp_path / "exp.v1"), r1)
    _same(interp.load_result(str(tmp_path / "exp.v2")), r2)


def test_save_creates_folders_and_overwrites_whole(results, tmp_path):
    path = tmp_path / "a" / "b" / "c" / "r.npz"
    results["attention"].save(path)
    results["patch"].save(path)
    _same(interp.load_result(path), results["patch"])
    assert os.listdir(path.parent) == ["r.npz"]
    with pytest.raises(InputError, match="is a folder"):
        results["patch"].save(tmp_path / "a")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create the folder"):
        results["patch"].save(blocker / "r.npz")


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_old_file_whole(results, tmp_path, monkeypatch, failure):
    path = tmp_path / "r.npz"
    results["attention"].save(path)
    before = path.read_bytes()

    def half_written(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise failure

    monkeypatch.setattr(np, "savez_compressed", half_written)
    with pytest.raises((InputError, KeyboardInterrupt)):
        results["lens"].save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["r.npz"]
    _same(interp.load_result(path), results["attention"])


# ---- refusals -----------------------------------------------------------------------------------------------


def _members(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays.pop(META).tobytes()), arrays


def _write(path, meta, arrays, raw_meta=None):
    data = raw_meta if raw_meta is not None else json.dumps(meta).encode()
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{META: np.frombuffer(data, dtype=np.uint8)})


def _edit(fn):
    """A tampering that edits the JSON tree and the arrays of a saved file."""

    def apply(path):
        meta, arrays = _members(path)
        fn(meta, arrays)
        _write(path, meta, arrays)

    return apply


def _fields(meta):
    return meta["result"]["fields"]


def _array_key(meta, name):
    return _fields(meta)[name]["__array__"]


def _set_array(name, make):
    return _edit(lambda m, a: a.__setitem__(_array_key(m, name), make(a[_array_key(m, name)])))


def _set_field(name, value):
    return _edit(lambda m, a: _fields(m).__setitem__(name, value))


def _raw(fn):
    def apply(path):
        path.write_bytes(fn(path.read_bytes()))

    return apply


def _pickled_patterns(path):
    meta, arrays = _members(path)
    marker = path.parent / "unpickled"
    arrays[_array_key(meta, "patterns")] = np.array([_Bomb(str(marker))], dtype=object)
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _flip_a_byte_inside(path):
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        at = z.getinfo("a0.npy").header_offset
    start = (
        at
        + 30
        + int.from_bytes(data[at + 26 : at + 28], "little")
        + int.from_bytes(data[at + 28 : at + 30], "little")
    )
    data[start + 40] ^= 0xFF  # inside a0's compressed bytes
    path.write_bytes(bytes(data))


# (id, which result, tampering, what the message says)
TAMPERED = [
    ("truncated-half", "attention", _raw(lambda b: b[: len(b) // 2]), "damaged"),
    ("truncated-10-bytes", "attention", _raw(lambda b: b[:10]), "damaged"),
    ("empty", "attention", _raw(lambda b: b""), "not a result"),
    ("random-bytes", "attention", _raw(lambda b: os.urandom(len(b))), "not a result"),
    ("flipped-compressed-byte", "attention", _flip_a_byte_inside, "damaged"),
    ("plain-json", "attention", _raw(lambda b: b'{"format": 2}'), "not a result"),
    ("pickle-file", "attention", _raw(lambda b: pickle.dumps({"a": 1})), "not a result"),
    ("npz-without-metadata", "attention", _edit(lambda m, a: None), None),
    ("metadata-not-utf8", "attention", None, "damaged"),
    ("metadata-bad-json", "attention", None, "damaged"),
    ("metadata-deep-nesting", "attention", None, "nests too deeply"),
    ("metadata-bare-nan", "attention", None, "bare NaN"),
    ("metadata-duplicate-key", "attention", None, "repeats a key"),
    ("metadata-a-list", "attention", None, "lacks the format"),
    ("format-missing", "attention", _edit(lambda m, a: m.pop("format")), "lacks the format"),
    (
        "format-newer",
        "attention",
        _edit(lambda m, a: m.update(format=FORMAT_VERSION + 7, interp="9.9.0")),
        "upgrade",
    ),
    ("format-older", "attention", _edit(lambda m, a: m.update(format=1)), "renamed"),
    (
        "format-string",
        "attention",
        _edit(lambda m, a: m.update(format=str(FORMAT_VERSION))),
        "format version",
    ),
    ("format-bool", "attention", _edit(lambda m, a: m.update(format=True)), "format version"),
    (
        "format-float",
        "attention",
        _edit(lambda m, a: m.update(format=float(FORMAT_VERSION))),
        "format version",
    ),
    ("unknown-class", "attention", _edit(lambda m, a: m["result"].update(__result__="os.system")), "unknown"),
    ("missing-field", "attention", _edit(lambda m, a: _fields(m).pop("tokens")), "lacks field"),
    ("extra-field", "attention", _set_field("evil", 1), "no field"),
    ("float-id", "lens", _set_field("answer_ids", {"__tuple__": [3.0]}), "must be int"),
    ("float-id-array", "lens", _set_array("top_ids", lambda x: x.astype(np.float64)), "dtype kind"),
    ("bool-for-int", "lens", _set_field("position", True), "must be int"),
    ("huge-int", "attention", _set_field("position", 10**400), "position"),
    ("string-for-float", "ig", _set_field("objective", "0.5"), "must be float"),
    ("number-for-tokens", "attention", _set_field("tokens", 7), "must be tuple"),
    ("nan-patterns", "attention", _set_array("patterns", lambda x: np.full_like(x, np.nan)), "NaN"),
    (
        "inf-probabilities",
        "lens",
        _set_array("top_probs", lambda x: np.where(x > 0, np.inf, x)),
        "NaN or infinite",
    ),
    ("nan-float-tag", "ablate", _set_field("prob_before", {"__float__": "nan"}), "probabilities"),
    ("wrong-shape", "attention", _set_array("patterns", lambda x: x[:, :, :2]), "patterns must be"),
    ("complex-array", "attention", _set_array("rollout", lambda x: x.astype(np.complex64)), "dtype"),
    ("object-array-pickle", "attention", _pickled_patterns, "damaged"),
    ("missing-array", "attention", _edit(lambda m, a: a.pop(_array_key(m, "rollout"))), "missing array"),
    (
        "shared-array",
        "attention",
        _edit(lambda m, a: _fields(m).update(rollout=_fields(m)["patterns"])),
        "share",
    ),
    ("extra-array", "attention", _edit(lambda m, a: a.update(stowaway=np.zeros(3))), "no field refers"),
    (
        "nested-wrong-class",
        "compare",
        _edit(lambda m, a: _fields(m).update(causal=_fields(m)["bidirectional"]["fields"]["lens"])),
        "causal",
    ),
    ("unknown-tag", "attention", _set_field("tokens", {"__set__": ["a"]}), "unexpected JSON"),
]


def _raw_meta(case):
    def apply(path):
        meta, arrays = _members(path)
        v = FORMAT_VERSION
        raw = {
            "metadata-not-utf8": b"\xff\xfe\x00",
            "metadata-bad-json": b'{"format": 1, "interp": ',
            "metadata-deep-nesting": b"[" * 200_000 + b"]" * 200_000,
            "metadata-bare-nan": json.dumps(meta).replace(f'"format": {v}', '"format": NaN').encode(),
            "metadata-duplicate-key": json.dumps(meta)
            .replace(f'"format": {v}', f'"format": {v}, "format": 3')
            .encode(),
            "metadata-a-list": b"[1, 2]",
        }[case]
        _write(path, meta, arrays, raw_meta=raw)

    return apply


@pytest.mark.parametrize(("case", "which", "tamper", "says"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_a_tampered_or_damaged_file_is_refused(results, tmp_path, case, which, tamper, says):
    path = results[which].save(tmp_path / "r.npz")
    if case == "npz-without-metadata":
        meta, arrays = _members(path)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        (tamper or _raw_meta(case))(path)
    with pytest.raises(ResultError) as info:
        interp.load_result(path)
    message = str(info.value)
    assert isinstance(info.value, InterpError) and len(message) < 600, message
    if says:
        assert says in message, message
    assert not (tmp_path / "unpickled").exists()


def test_the_table_is_long_enough():
    assert len(TAMPERED) >= 25


def test_the_old_two_file_format_is_refused_with_advice(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"format": 1, "result": {}}))
    with pytest.raises(ResultError, match="interp 0.1 saved a .json next to a .npz"):
        interp.load_result(tmp_path / "r.json")
    with pytest.raises(InputError, match="no saved result"):
        interp.load_result(tmp_path / "missing")
    with pytest.raises(InputError, match="not a file"):
        interp.load_result(tmp_path)
    with pytest.raises(InputError, match="string or a pathlib.Path"):
        interp.load_result(3)


def test_results_check_their_fields_when_built(results):
    import dataclasses

    r = results["lens"]
    with pytest.raises(ResultError, match="top_ids must be an array of dtype kind"):
        dataclasses.replace(r, top_ids=r.top_ids.astype(float))
    with pytest.raises(ResultError, match="NaN or infinite"):
        dataclasses.replace(r, kl=np.full_like(r.kl, np.nan))
    with pytest.raises(ResultError, match="answer_ids.*must be int"):
        dataclasses.replace(r, answer_ids=(1.5,))
    with pytest.raises(ResultError, match="object"):
        dataclasses.replace(r, top_tokens=r.top_tokens.astype(object))
    same = dataclasses.replace(r, answer_ids=[np.int64(i) for i in r.answer_ids])  # normalised, not refused
    assert same.answer_ids == r.answer_ids and all(type(i) is int for i in same.answer_ids)


def test_results_compare_by_value_and_are_not_hashable(causal, tmp_path):
    probe = "anna has a red car . anna has a ___ ."
    lens = interp.logit_lens(causal, probe)
    back = interp.load_result(lens.save(tmp_path / "lens"))
    assert back == lens and not (back != lens) and [back].index(lens) == 0
    assert lens != interp.logit_lens(causal, "ben has a ___ .") and lens != "a lens"
    saliency = interp.attribute(causal, probe, answer="red", method="saliency")  # NaN fields compare equal
    assert interp.load_result(saliency.save(tmp_path / "saliency")) == saliency
    with pytest.raises(TypeError, match="unhashable type: 'LensResult'"):
        hash(lens)
