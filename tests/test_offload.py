"""Big models on one machine, on the CPU: a tiny model whose blocks mostly live on disk (max_memory small,
offload_folder) gives the plain load's logits, and every analysis gives the plain load's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import interp
from interp import errors

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."
TEXT = "the keys to the cabinet are on the table ."
TOL = 1e-5


def _offloaded(folder: str, tmp_path) -> interp.Model:
    size = sum(p.numel() * p.element_size() for p in interp.load(folder, device="cpu").bridge.parameters())
    # A CPU budget of a fifth of the weights: the embeddings and a block or so stay, the rest goes to disk.
    return interp.load(folder, max_memory={"cpu": size // 5}, offload_folder=tmp_path / "offload")


@pytest.fixture(scope="module", params=["gpt2", "bert"])
def pair(request, tiny_folder, tmp_path_factory):
    folder = tiny_folder(request.param)
    plain = interp.load(folder, device="cpu")
    return plain, _offloaded(folder, tmp_path_factory.mktemp("offload"))


def test_offloaded_model_puts_most_blocks_on_disk_and_matches_the_plain_logits(pair):
    plain, off = pair
    placed = off.bridge.original_model.hf_device_map
    assert list(placed.values()).count("disk") > len(placed) / 2, placed
    assert off.device == torch.device("cpu")
    text = PROBE if plain.kind == "causal" else PROBE.replace("___", plain.tokenizer.mask_token)
    tokens = plain.to_tokens(text)
    a, b = plain.forward(tokens), off.forward(tokens)
    assert torch.allclose(a, b, atol=TOL, rtol=0), (a - b).abs().max()


def _close(x, y, what):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert x.shape == y.shape and np.nanmax(np.abs(x - y), initial=0.0) <= TOL, what


def test_every_analysis_runs_on_the_offloaded_model_with_the_plain_results(pair, tmp_path):
    plain, off = pair
    results = {}
    for m in (plain, off):
        results[m] = {
            "attention": interp.attention(m, PROBE).patterns,
            "lens": interp.logit_lens(m, PROBE).answer_prob,
            "attribute": interp.attribute(m, PROBE, n_steps=8, tolerance=None).scores,
            "saliency": interp.attribute(m, PROBE, method="saliency").scores,
            "decompose": interp.decompose(m, PROBE).contributions,
            "patch": interp.patch(m, PROBE, CORRUPT, progress=False).restored,
            "ablate": interp.ablate(m, PROBE, [(0, 1)]).prob_after,
            "head_importance": interp.head_importance(m, PROBE, progress=False).effects,
            "induction": interp.induction_scores(m, seq_len=4, n_seqs=1).scores,
        }
        interp.tuned_lens(
            m, [TEXT], steps=1, batch_size=1, path=tmp_path / f"{id(m)}.safetensors", progress=False
        )
        results[m]["tuned"] = interp.logit_lens(m, PROBE, lens="tuned").answer_prob
        if m.kind == "causal":
            results[m]["generate"] = interp.generate(m, "the keys", 3).tokens
    for key, value in results[plain].items():
        if key == "generate":
            assert np.asarray(value).tolist() == np.asarray(results[off][key]).tolist()
        else:
            _close(value, results[off][key], key)


def test_placement_arguments_are_checked(tiny_folder, tmp_path):
    folder = tiny_folder("gpt2")
    for kwargs, fragment in (
        ({"device": "cpu", "device_map": "auto"}, "not both"),
        ({"device_map": "everywhere"}, "unknown device_map 'everywhere'"),
        ({"device_map": ["cpu"]}, "device_map must be"),
        ({"max_memory": "1GiB"}, "max_memory must be a dict"),
        ({"offload_folder": 5}, "offload_folder must be a folder path"),
    ):
        with pytest.raises(errors.ModelLoadError) as info:
            interp.load(folder, **kwargs)
        assert fragment in str(info.value), str(info.value)


def test_the_environment_places_every_load_that_names_no_placement(tiny_folder, monkeypatch):
    folder = tiny_folder("gpt2")
    plain = interp.load(folder, device="cpu")
    monkeypatch.setenv("INTERP_DEVICE_MAP", "nowhere")
    with pytest.raises(errors.DeviceError, match="unknown device_map 'nowhere'"):
        interp.load(folder)  # what a tutorial's setup cell or %interp load does: the environment is read
    assert interp.load(folder, device="cpu").kind == "causal"  # an argument wins over the environment
    monkeypatch.setenv("INTERP_DEVICE_MAP", "auto")  # on this CPU-only machine "auto" keeps every block here
    tokens = plain.to_tokens(TEXT)
    assert torch.allclose(plain.forward(tokens), interp.load(folder).forward(tokens), atol=TOL, rtol=0)
