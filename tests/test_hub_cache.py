"""Hub ids offline: ``interp.load("org/name")`` reads the snapshot that a standard local Hugging Face cache names
(``models--org--name/snapshots/<rev>/``, ``refs/main``; files as symlinks into ``blobs/``), and the model and every
result record that revision, through save and load."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import interp
from interp.errors import InputError, ModelLoadError

REV = {"acme/tiny-gpt2": "3f2a" * 10, "acme/tiny-bert": "b0c1" * 10}


def cache_model(cache: Path, repo: str, folder: str, revision: str, *, ref: bool = True) -> Path:
    """Put ``folder``'s files in ``cache`` as huggingface_hub does: content-addressed blobs, a snapshot of
    symlinks to them, and ``refs/main`` holding the revision."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / revision
    (base / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for f in Path(folder).iterdir():
        data = f.read_bytes()
        blob = base / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(Path("..", "..", "blobs", blob.name))
    if ref:
        (base / "refs").mkdir()
        (base / "refs" / "main").write_text(revision)
    return snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch, tiny_folder):
    cache = tmp_path / "hub"
    cache_model(cache, "acme/tiny-gpt2", tiny_folder("gpt2"), REV["acme/tiny-gpt2"])
    cache_model(cache, "acme/tiny-bert", tiny_folder("bert"), REV["acme/tiny-bert"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def results_of(c: interp.Model, b: interp.Model) -> list:
    probe = "the keys to the cabinet ___ on the table ."
    out = []
    for m in (c, b):
        out += [
            interp.attention(m, probe),
            interp.logit_lens(m, probe, answer="are"),
            interp.attribute(m, probe, answer="are", n_steps=8, tolerance=None),
            interp.ablate(m, probe, [(0, 0)], answer="are"),
            interp.head_importance(m, probe, answer="are", progress=False),
            interp.patch(m, probe, probe.replace("keys", "key"), answer="are", contrast="is", progress=False),
            interp.decompose(m, probe, answer="are"),
            interp.induction_scores(m, seq_len=8),
        ]
    return out


def test_a_hub_id_loads_from_the_cache_offline_and_every_result_records_its_revision(hub, tmp_path):
    c, b = interp.load("acme/tiny-gpt2"), interp.load("acme/tiny-bert")
    assert (c.name, c.revision) == ("acme/tiny-gpt2", REV["acme/tiny-gpt2"])
    assert (b.name, b.revision, b.kind) == ("acme/tiny-bert", REV["acme/tiny-bert"], "bidirectional")
    for r in results_of(c, b):
        own = c if r.kind == "causal" else b
        assert (r.model_name, r.revision) == (own.name, own.revision), type(r).__name__
        back = interp.load_result(r.save(tmp_path / f"{type(r).__name__}-{r.kind}.npz"))
        assert back.revision == own.revision
    cmp = interp.compare(c, b, "the keys to the cabinet ___ on the table .", answer="are", n_steps=8)
    assert cmp.causal.revision == c.revision and cmp.bidirectional.lens.revision == b.revision
    assert cmp.revision == f"{c.revision} | {b.revision}"
    assert interp.load_result(cmp.save(tmp_path / "cmp.npz")).causal.attribution.revision == c.revision


def test_hf_home_and_a_cache_without_refs(tmp_path, monkeypatch, tiny_folder):
    cache_model(tmp_path / "home" / "hub", "acme/tiny-gpt2", tiny_folder("gpt2"), "c0ffee" * 6, ref=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    m = interp.load("acme/tiny-gpt2")  # the only snapshot, where refs/main is missing
    assert m.revision == "c0ffee" * 6
    assert interp.logit_lens(m, "anna lives in").revision == m.revision


def test_a_missing_or_incomplete_hub_id_offline_says_what_to_do(hub):
    with pytest.raises(ModelLoadError, match="unknown model 'acme/missing'") as info:
        interp.load("acme/missing")
    message = str(info.value)
    assert "huggingface-cli download acme/missing" in message and "HF_HUB_CACHE" in message
    assert str(hub) in message and "tiny-causal" in message
    with pytest.raises(ModelLoadError, match="Did you mean 'acme/tiny-gpt2'"):
        interp.load("acme/tiny-gtp2")
    snapshot = hub / "models--acme--tiny-bert" / "snapshots" / REV["acme/tiny-bert"]
    (snapshot / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="has no config.json: the download is incomplete"):
        interp.load("acme/tiny-bert")
    shutil.rmtree(hub / "models--acme--tiny-bert" / "refs")
    (snapshot.parent / ("0" * 40)).mkdir()
    with pytest.raises(ModelLoadError, match="2 snapshots of 'acme/tiny-bert'"):
        interp.load("acme/tiny-bert")


def test_results_saved_before_revisions_still_load(tiny_model, tmp_path):
    """A format-2 file (no revision field) loads, with revision None."""
    r = interp.logit_lens(tiny_model("gpt2"), "anna lives in")
    path = r.save(tmp_path / "lens.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__interp__").tobytes())
    assert meta["format"] == 3 and "revision" in meta["result"]["fields"]
    meta["format"] = 2
    del meta["result"]["fields"]["revision"]
    arrays["__interp__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    old = tmp_path / "old.npz"
    np.savez_compressed(old, **arrays)
    back = interp.load_result(old)
    assert back.revision is None and np.array_equal(back.top_ids, r.top_ids)


def test_revision_picks_a_branch_tag_commit_or_prefix_of_the_cache(hub, tiny_folder):
    """``load(hub_id, revision=)`` reads the snapshot a ref, a commit or a unique prefix of 7+ characters names
    (another model's weights here, so the pick is visible); a revision the cache lacks is an error listing those
    it holds; a revision for a folder or a zoo model is refused."""
    repo, main, other = "acme/tiny-gpt2", REV["acme/tiny-gpt2"], "9d9e" * 10
    base = hub / "models--acme--tiny-gpt2"
    cache_model(hub, repo, tiny_folder("llama"), other, ref=False)  # a different model under the same id
    (base / "refs" / "v2").write_text(other)
    default = interp.load(repo)
    assert default.revision == main and default.bridge.original_model.config.model_type == "gpt2"
    for revision in ("v2", other, other[:7], "main"):
        m = interp.load(repo, revision=revision)
        want = main if revision == "main" else other
        assert m.revision == want
        assert m.bridge.original_model.config.model_type == ("gpt2" if want == main else "llama")
        assert interp.attention(m, "anna lives in oslo .").revision == want
    with pytest.raises(
        ModelLoadError, match=r"holds no revision 'v3' of 'acme/tiny-gpt2': it holds main, v2, "
    ):
        interp.load(repo, revision="v3")
    with pytest.raises(ModelLoadError, match="holds no revision '9d9e'"):  # too short to be a prefix
        interp.load(repo, revision="9d9e")
    with pytest.raises(InputError, match="is a local folder, which has one: drop revision"):
        interp.load(tiny_folder("gpt2"), revision="v2")
    with pytest.raises(InputError, match="is a zoo model, which has one"):
        interp.load("tiny-causal", revision="main")
    for bad in ("", "   ", 3, "x" * 300):
        with pytest.raises(InputError, match="revision must be a branch, tag or commit"):
            interp.load(repo, revision=bad)
