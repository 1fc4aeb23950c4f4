"""A model folder is a closed world: files that lead outside it, special files, oversized files, weights
with hidden bytes, indexes naming other places and damaged hub-cache refs are refused before anything reads
them, with an error naming the file; the loading-side errors that used to escape as raw exceptions."""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading

import pytest
import torch

import interp
from interp.errors import DeviceError, ModelLoadError, UnsafeModelError
from interp.models import closed_world


@pytest.fixture
def folder(tiny_folder, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_folder("gpt2"), dst)
    return dst


def _load_quickly(path, **kwargs):
    """interp.load in a thread with a deadline: a load that blocks fails the test instead of hanging it."""
    out: dict = {}

    def go():
        try:
            out["model"] = interp.load(path, device="cpu", **kwargs)
        except BaseException as err:  # handed to the test thread
            out["error"] = err

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "interp.load blocked"
    if "error" in out:
        raise out["error"]
    return out["model"]


def test_the_intact_folder_loads(folder):
    assert _load_quickly(folder).n_layers >= 1


def test_weights_linked_outside_the_folder_are_refused(folder, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(folder / "model.safetensors", outside)
    (folder / "model.safetensors").symlink_to(outside)
    with pytest.raises(UnsafeModelError, match=r"model\.safetensors leads outside the model folder"):
        _load_quickly(folder)


def test_a_link_inside_the_folder_is_fine(folder):
    shutil.move(folder / "model.safetensors", folder / "weights.bin.real")
    (folder / "model.safetensors").symlink_to("weights.bin.real")
    assert _load_quickly(folder).n_layers >= 1


def test_a_config_that_is_a_named_pipe_does_not_block(folder):
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    with pytest.raises(UnsafeModelError, match=r"config\.json is a named pipe, not a regular file"):
        _load_quickly(folder)


def test_a_config_linked_to_the_zero_device_is_never_read(folder, monkeypatch):
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")
    with pytest.raises(UnsafeModelError, match=r"config\.json leads outside the model folder"):
        _load_quickly(folder)
    # even where /dev is allowed, a device is not a regular file
    with pytest.raises(UnsafeModelError, match="is a device or other special file"):
        closed_world.regular(folder / "config.json", [folder, "/dev"], "config")


def test_an_oversized_tokenizer_file_is_refused_before_reading(folder, monkeypatch):
    monkeypatch.setattr(closed_world, "MAX_TEXT_BYTES", 1000)
    monkeypatch.setattr(closed_world.regular, "__defaults__", (1000,))
    with pytest.raises(UnsafeModelError, match=r"tokenizer\.json holds \d+ bytes, more than"):
        _load_quickly(folder)


def test_weights_larger_than_their_header_declares(folder):
    with open(folder / "model.safetensors", "ab") as f:
        f.write(b"\0" * 64)
    with pytest.raises(
        UnsafeModelError, match=r"model\.safetensors holds \d+ bytes, more than the \d+ its header"
    ):
        _load_quickly(folder)


def test_truncated_or_garbage_weights_name_the_file(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is damaged or not a safetensors file"):
        _load_quickly(folder)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is damaged .*header claims"):
        _load_quickly(folder)


def _sharded(folder, weight_map):
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.mark.parametrize(
    "shard, said",
    [
        ("../../../etc/passwd", "not a file beside it"),
        ("/etc/passwd", "not a file beside it"),
        ("pytorch_model.bin", "not a safetensors file: interp does not unpickle"),
    ],
)
def test_an_index_naming_other_places_is_refused(folder, shard, said):
    _sharded(folder, {"lm_head.weight": shard})
    with pytest.raises(UnsafeModelError, match=said):
        _load_quickly(folder)


def test_an_empty_index_is_a_clear_error(folder):
    _sharded(folder, {})
    with pytest.raises(ModelLoadError, match="names no weights"):
        _load_quickly(folder)


def test_a_shard_linked_outside_is_refused(folder, tmp_path):
    _sharded(folder, {"lm_head.weight": "model-00001-of-00001.safetensors"})
    outside = tmp_path / "shard.safetensors"
    shutil.move(folder / "model-00001-of-00001.safetensors", outside)
    (folder / "model-00001-of-00001.safetensors").symlink_to(outside)
    with pytest.raises(UnsafeModelError, match="leads outside the model folder"):
        _load_quickly(folder)


def test_a_zero_layer_config_is_a_clear_error(folder):
    config = json.loads((folder / "config.json").read_text())
    config["n_layer"] = 0
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="n_layer=0: a model needs at least one layer"):
        _load_quickly(folder)


def test_a_sentence_transformers_module_linked_outside_is_refused(tiny_folder, tmp_path):
    top = tmp_path / "st"
    top.mkdir()
    outside = tmp_path / "outside"
    shutil.copytree(tiny_folder("bert"), outside)
    (top / "0_Transformer").symlink_to(outside)
    with pytest.raises(UnsafeModelError, match="0_Transformer leads outside the model folder"):
        _load_quickly(top)
    modules = [
        {"idx": 0, "name": "0", "path": "../outside", "type": "sentence_transformers.models.Transformer"}
    ]
    (top / "0_Transformer").unlink()
    (top / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnsafeModelError, match="outside the model folder"):
        _load_quickly(top)


def test_a_sentence_transformers_module_inside_loads(tiny_folder, tmp_path):
    top = tmp_path / "st"
    shutil.copytree(tiny_folder("bert"), top / "0_Transformer")
    modules = [
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}
    ]
    (top / "modules.json").write_text(json.dumps(modules))
    assert _load_quickly(top).kind == "bidirectional"


# ---- the hub cache ---------------------------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch, tiny_folder):
    from test_hub_cache import cache_model

    cache = tmp_path / "hub"
    cache_model(cache, "acme/tiny-gpt2", tiny_folder("gpt2"), "3f2a" * 10)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache / "models--acme--tiny-gpt2"


def test_the_cache_layout_loads_through_its_blobs(hub):
    assert _load_quickly("acme/tiny-gpt2").revision == "3f2a" * 10


@pytest.mark.parametrize("ref", ["..", "../../x", "/etc", "main\n.."])
def test_a_ref_holding_a_path_is_refused(hub, ref):
    (hub / "refs" / "main").write_text(ref)
    with pytest.raises(ModelLoadError, match="not a commit hash: the cache is damaged"):
        _load_quickly("acme/tiny-gpt2")


def test_a_ref_that_is_a_pipe_or_links_out_is_refused(hub, tmp_path):
    (hub / "refs" / "main").unlink()
    os.mkfifo(hub / "refs" / "main")
    with pytest.raises(UnsafeModelError, match="named pipe"):
        _load_quickly("acme/tiny-gpt2")
    (hub / "refs" / "main").unlink()
    (tmp_path / "ref").write_text("3f2a" * 10)
    (hub / "refs" / "main").symlink_to(tmp_path / "ref")
    with pytest.raises(UnsafeModelError, match="leads outside"):
        _load_quickly("acme/tiny-gpt2")


def test_a_snapshot_file_linked_outside_the_blobs_is_refused(hub, tmp_path):
    snapshot = hub / "snapshots" / ("3f2a" * 10)
    (tmp_path / "evil.json").write_text((snapshot / "config.json").read_text())
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(tmp_path / "evil.json")
    with pytest.raises(UnsafeModelError, match=r"config\.json leads outside"):
        _load_quickly("acme/tiny-gpt2")


def test_an_ambiguous_revision_prefix_says_so(hub, tiny_folder):
    from test_hub_cache import cache_model

    cache_model(hub.parent, "acme/tiny-gpt2", tiny_folder("gpt2"), "3f2a" * 9 + "ffff", ref=False)
    with pytest.raises(ModelLoadError, match=r"prefix '3f2a3f2a' .* is ambiguous: .* 2 snapshots"):
        _load_quickly("acme/tiny-gpt2", revision="3f2a3f2a")


# ---- other loading errors -------------------------------------------------------------------------------------


def test_a_zoo_model_with_remote_says_it_runs_here():
    with pytest.raises(ModelLoadError, match="'tiny-causal' is a zoo model, which runs here") as err:
        interp.load("tiny-causal", engine="nnsight", remote=True)
    assert "Did you mean 'tiny-causal'" not in str(err.value)


def test_an_empty_device_map_is_a_clear_error(folder):
    with pytest.raises(DeviceError, match=r"device_map=\{\} places no module"):
        interp.load(folder, device_map={})


def test_tuned_lens_translators_linked_outside_the_folder_are_refused(tmp_path, monkeypatch):
    from interp.analysis import tuned
    from interp.errors import InputError
    from interp.zoo import ZOO_DIR

    folder = tmp_path / "tiny-causal"
    shutil.copytree(ZOO_DIR / "tiny-causal", folder)
    monkeypatch.setattr(tuned, "cache_dir", lambda: tmp_path / "no-cache")
    m = interp.load(folder, device="cpu")
    assert tuned.translators_for(m).path == folder / tuned.FILE_NAME  # the folder's own file is read
    tuned._TRAINED.pop(m, None)
    outside = tmp_path / "planted.safetensors"
    shutil.move(folder / tuned.FILE_NAME, outside)
    (folder / tuned.FILE_NAME).symlink_to(outside)
    with pytest.raises(InputError, match="leads outside the model folder"):
        tuned.translators_for(m)


def test_translators_holding_nan_are_refused_by_their_values(tmp_path):
    from safetensors.torch import load_file, save_file

    from interp.analysis import tuned
    from interp.errors import InputError
    from interp.zoo import ZOO_DIR

    src = ZOO_DIR / "tiny-causal" / tuned.FILE_NAME
    from safetensors import safe_open

    with safe_open(src, framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(src)
    tensors["weight"][0, 0, 0] = float("nan")
    save_file(tensors, tmp_path / tuned.FILE_NAME, metadata=meta)
    with pytest.raises(InputError, match="holds NaN or infinite translator weights"):
        tuned.TunedLens.read(tmp_path / tuned.FILE_NAME)
    assert tuned.TunedLens.read(src).weight.isfinite().all()


def _rewrite_header(path, edit):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])


def _tensors(header):
    return [v for k, v in header.items() if k != "__metadata__"]


def _overlap(header):
    """The second tensor moved onto the first's bytes (same length)."""
    second = _tensors(header)[1]
    start, stop = second["data_offsets"]
    second["data_offsets"] = [0, stop - start]


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda h: _tensors(h)[0].update(dtype="F64"), "do not match"),
        (lambda h: _tensors(h)[0].update(dtype="Q7"), "has dtype 'Q7'"),
        (lambda h: _tensors(h)[0].update(shape=[-1]), "no valid shape"),
        (_overlap, "overlap or leave gaps"),
    ],
)
def test_a_header_that_contradicts_itself_names_the_file(folder, edit, said):
    _rewrite_header(folder / "model.safetensors", edit)
    with pytest.raises(ModelLoadError, match=rf"model\.safetensors is damaged .*{said}"):
        _load_quickly(folder)


def test_a_tokenizer_config_naming_a_file_elsewhere_is_refused(folder):
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_file"] = "/etc/passwd"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeModelError, match="names the file '/etc/passwd' .* outside the model folder"):
        _load_quickly(folder)


def test_a_sharded_save_loads(tiny_folder, tmp_path):
    import transformers

    src = tiny_folder("gpt2")
    hf = transformers.AutoModelForCausalLM.from_pretrained(src)
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{src}/{f}", tmp_path / "sharded" / f)
    assert len(list((tmp_path / "sharded").glob("model-*.safetensors"))) > 1
    m = _load_quickly(tmp_path / "sharded")
    reference = _load_quickly(src)
    text = "anna lives in oslo ."
    assert torch.equal(m(text), reference(text))


@pytest.mark.parametrize(
    "content",
    ['{"version": "1.0", "added_tokens": [], "model": {"type": "Nope"}}', "not json", "[1, 2]"],
)
def test_a_damaged_tokenizer_file_is_a_clear_error(folder, content):
    (folder / "tokenizer.json").write_text(content)
    with pytest.raises(
        ModelLoadError, match="'model'.* could not be read|could not load the model or tokenizer of 'model'"
    ):
        _load_quickly(folder)


def test_a_snapshot_folder_of_the_cache_loads_directly(hub):
    snapshot = hub / "snapshots" / ("3f2a" * 10)
    assert (snapshot / "config.json").is_symlink()
    assert _load_quickly(snapshot).n_layers >= 1
