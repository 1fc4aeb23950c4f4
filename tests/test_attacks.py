"""Careless and hostile inputs beyond the closed-world, persistence and fuzz suites: lone surrogates in texts and
answers, a reference that is not texts for a zero ablation, a saved lens whose read position lies outside its
tokens, an objective built on another copy of the same model, and folders with link loops or a folder where a
file belongs. Each gets one clear InterpError (or, for the intact cases, the same result)."""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError, ModelLoadError, ResultError, TokenizerError, UnsafeModelError

PROBE = "the keys to the cabinet ___ on the table ."
HALF = "\ud83e"  # the first half of a surrogate pair: what slicing an emoji out of a str can leave


@pytest.fixture(scope="module")
def pair():
    torch.set_num_threads(1)
    return interp.load("tiny-causal", device="cpu"), interp.load("tiny-bidirectional", device="cpu")


@pytest.mark.parametrize(
    "call",
    [
        lambda c, b: interp.logit_lens(c, "the keys " + HALF),
        lambda c, b: interp.logit_lens(c, "the keys", answer=HALF),
        lambda c, b: interp.attribute(c, PROBE, answer="o" + HALF),
        lambda c, b: interp.attribute(c, PROBE, answer="are", contrast=HALF),
        lambda c, b: interp.generate(b, "the ___ hooted " + HALF, 1),
        lambda c, b: interp.patch(c, PROBE, "the key to the " + HALF + " ___ on the table ."),
        lambda c, b: interp.logit_lens(c, "the keys " + HALF, allow_unknown=True),
        lambda c, b: c.to_tokens(HALF),
    ],
    ids=[
        "text",
        "answer",
        "answer-inside",
        "contrast",
        "masked-generate",
        "corrupt",
        "allow-unknown",
        "to_tokens",
    ],
)
def test_a_lone_surrogate_is_an_input_error_that_names_it(pair, call):
    # the tokenizers library raised TypeError("TextEncodeInput must be Union[...]"), naming no character
    with pytest.raises(InputError, match="invalid character at index .*lone surrogate"):
        call(*pair)


def test_a_whole_emoji_is_still_an_unknown_word_not_a_surrogate_error(pair):
    c, _ = pair
    with pytest.raises(InputError, match="not in tiny-causal's vocabulary"):
        interp.logit_lens(c, "the keys \U0001f989")


@pytest.mark.parametrize("reference", [1.5, "the keys are here .", [], [1, 2], {"a": 1}])
def test_a_zero_ablation_refuses_a_reference_that_is_not_texts(pair, reference):
    c, _ = pair
    with pytest.raises(InputError, match="reference must be a non-empty list of texts"):
        interp.ablate(c, PROBE, [(0, 0)], answer="are", reference=reference)


def test_a_zero_ablation_with_valid_texts_is_unchanged(pair):
    c, _ = pair
    plain = interp.ablate(c, PROBE, [(0, 0)], answer="are")
    given = interp.ablate(c, PROBE, [(0, 0)], answer="are", reference=["the owl hooted ."])
    assert given.mode == "zero"
    assert (given.prob_before, given.prob_after) == (plain.prob_before, plain.prob_after)


def test_a_saved_lens_with_its_read_position_outside_its_tokens_is_refused(pair, tmp_path):
    c, _ = pair
    path = interp.logit_lens(c, PROBE).save(tmp_path / "lens.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__interp__").tobytes().decode("utf-8"))
    assert interp.load_result(path).position == meta["result"]["fields"]["position"]
    for bad in (-7, 10**30):
        meta["result"]["fields"]["position"] = bad
        text = json.dumps(meta).encode("utf-8")
        edited = tmp_path / f"edited{bad > 0}.npz"
        np.savez(edited, __interp__=np.frombuffer(text, dtype=np.uint8), **arrays)
        with pytest.raises(ResultError, match="position out of range"):
            interp.load_result(edited)


def test_an_objective_of_another_copy_of_the_same_model_says_copy(pair):
    _, b = pair
    other = interp.load("tiny-bidirectional", device="cpu")
    objective = interp.objectives.similarity(b, "the owl hooted", pooling="mean")
    with pytest.raises(InputError, match="built for another loaded copy of tiny-bidirectional"):
        interp.attribute(other, PROBE, objective=objective)


@pytest.fixture
def folder(tiny_folder, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_folder("gpt2"), dst)
    return dst


def test_a_config_that_is_a_link_loop_is_a_clear_error(folder):
    (folder / "config.json").unlink()
    os.symlink("config.json", folder / "config.json")
    with pytest.raises(
        ModelLoadError, match=r"config\.json cannot be read \(Too many levels of symbolic links"
    ):
        interp.load(folder, device="cpu")


@pytest.mark.parametrize("name", ["tokenizer.json", "generation_config.json", "model.safetensors"])
def test_a_folder_where_a_file_belongs_is_refused(folder, name):
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(
        UnsafeModelError, match=rf"{name.replace('.', '[.]')} is a folder, not a regular file"
    ):
        interp.load(folder, device="cpu")


def test_a_model_folder_that_is_itself_a_link_loads_the_same(folder, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(folder)
    direct, linked = interp.load(folder, device="cpu"), interp.load(link, device="cpu")
    tokens = direct.to_tokens("the keys to the")
    with torch.no_grad():
        assert torch.equal(direct.forward(tokens), linked.forward(tokens))


@pytest.mark.parametrize("writer", ["result.save", "save_html", "tuned"])
def test_a_write_onto_a_special_file_leaves_it_in_place(pair, tmp_path, writer):
    # the atomic rename replaced whatever the path named: saving to /dev/null as root swapped the device for a
    # regular file. Here a named pipe stands for the device (a test never touches /dev).
    c, _ = pair
    target = tmp_path / "pipe.npz"
    os.mkfifo(target)
    if writer == "result.save":
        call = lambda: interp.logit_lens(c, PROBE).save(target)  # noqa: E731
    elif writer == "save_html":
        import widgets

        call = lambda: widgets.save_html(interp.logit_lens(c, PROBE), target)  # noqa: E731
    else:
        call = lambda: interp.tuned_lens(c, ["the keys to the cabinet"], steps=1, path=target, progress=False)  # noqa: E731
    with pytest.raises(InputError, match="not a regular file"):
        call()
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.npz"]  # no temporary file left behind


def _edit_saved(result, tmp_path, edit):
    path = result.save(tmp_path / "saved.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__interp__").tobytes().decode("utf-8"))
    assert interp.load_result(path) is not None  # the unedited file loads
    edit(meta["result"]["fields"])
    out = tmp_path / "edited.npz"
    np.savez(out, __interp__=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
    return out


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda f: f.update(method="bogus"), "method is"),
        (lambda f: f.update(delta=-1.0), "delta is an absolute value"),
        (lambda f: f["answer_ids"].update(__tuple__=[]), "answer_ids name at least one token"),
        (lambda f: f.update(attr_left_mass=0.5, attr_right_mass=0.5), "no attribution right of the slot"),
        (lambda f: f.update(slot=2), "slot follows its read position"),
    ],
    ids=["method", "negative-delta", "no-answer", "causal-right-mass", "slot"],
)
def test_a_saved_attribution_that_contradicts_itself_is_refused(pair, tmp_path, edit, said):
    c, _ = pair
    edited = _edit_saved(interp.attribute(c, PROBE, answer="are"), tmp_path, edit)
    with pytest.raises(ResultError, match=said):
        interp.load_result(edited)


def test_a_saved_masked_attribution_must_read_at_its_slot(pair, tmp_path):
    _, b = pair
    edited = _edit_saved(
        interp.attribute(b, PROBE, answer="are"), tmp_path, lambda f: f.update(slot=f["slot"] - 1)
    )
    with pytest.raises(ResultError, match="a masked model reads at its slot"):
        interp.load_result(edited)


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda f: f.update(mode="bogus"), "mode is 'zero' or 'mean'"),
        (lambda f: f.update(heads={"__tuple__": [{"__tuple__": [-1, 0]}]}), "indices >= 0"),
    ],
    ids=["mode", "negative-head"],
)
def test_a_saved_ablation_that_contradicts_itself_is_refused(pair, tmp_path, edit, said):
    c, _ = pair
    edited = _edit_saved(interp.ablate(c, PROBE, [(0, 0)], answer="are"), tmp_path, edit)
    with pytest.raises(ResultError, match=said):
        interp.load_result(edited)


def test_a_tokenizer_that_cannot_encode_is_a_clear_error(folder):
    # an emptied WordLevel vocabulary has no [UNK]: the tokenizers library raised a bare Exception while booting
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"] = {}
    (folder / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="cannot encode the text 'a' .*Missing \\[UNK\\]"):
        interp.load(folder, device="cpu")


def test_mean_ablation_recomputes_its_means_after_an_edit_through_data(tmp_path):
    # the means are cached by the weights' key: an edit through .data leaves the version counters unchanged
    c = interp.load("tiny-causal", device="cpu")
    reference = ["the owl hooted .", "the keys are here ."]
    interp.ablate(c, PROBE, [(1, 1)], mode="mean", answer="are", reference=reference)
    name, weight = next((n, p) for n, p in c.bridge.named_parameters() if ".1." in n and p.dim() == 2)
    before = c.weights_version()
    with torch.no_grad():
        weight.data.mul_(3.0)
    assert c.weights_version() != before  # the version counters alone miss this edit; the key does not
    edited = interp.ablate(c, PROBE, [(1, 1)], mode="mean", answer="are", reference=reference)
    fresh = interp.load("tiny-causal", device="cpu")
    with torch.no_grad():
        dict(fresh.bridge.named_parameters())[name].mul_(3.0)
    expected = interp.ablate(fresh, PROBE, [(1, 1)], mode="mean", answer="are", reference=reference)
    assert edited.prob_after == pytest.approx(expected.prob_after, abs=1e-6)
    assert edited.prob_before == pytest.approx(expected.prob_before, abs=1e-6)


def test_tokens_on_the_meta_device_are_refused(pair):
    c, _ = pair
    with pytest.raises(InputError, match="meta device"):
        interp.attention(c, torch.tensor([[1, 5, 6]], device="meta"))


@pytest.mark.parametrize("answer", [5, 5.0, True, ("owl",)])
def test_compare_takes_its_answer_as_text_only(pair, answer):
    """A token id names a different token in each model's vocabulary: it cannot be the answer of both."""
    c, b = pair
    with pytest.raises(InputError, match="answer must be the word as text"):
        interp.compare(c, b, "in the night the ___ hooted .", answer=answer, method=None)
    assert interp.compare(c, b, "in the night the ___ hooted .", answer="owl", method=None).answer == "owl"


@pytest.mark.parametrize(
    "edit",
    [
        {"hook": "<script>alert(1)</script>"},
        {"restored": np.zeros((0, 9), dtype=np.float32)},
    ],
)
def test_a_patching_result_that_contradicts_itself_is_refused(pair, edit):
    import dataclasses

    c, _ = pair
    clean, corrupt = PROBE, "the key to the cabinet ___ on the table ."
    result = interp.patch(c, clean, corrupt, answer="are", contrast="is")
    if "restored" in edit:
        edit = {"restored": np.zeros((0, len(result.tokens)), dtype=result.restored.dtype)}
    with pytest.raises(ResultError):
        dataclasses.replace(result, **edit)
    assert dataclasses.replace(result, hook="blocks.{layer}.hook_resid_post").hook.endswith("resid_post")


def test_compare_suite_takes_answers_as_text_only(pair):
    c, b = pair
    with pytest.raises(InputError, match="must be the word as text"):
        interp.compare_suite(c, b, [("in the night the ___ hooted .", 5)], method=None)
    with pytest.raises(InputError, match="must be the word as text"):
        interp.compare_suite(c, b, {"in the night the ___ hooted .": 5}, method=None)


def test_the_weights_key_sees_a_small_edit_of_a_bfloat16_weight():
    from interp.models.versions import weights_key

    w = torch.randn(64, 512).to(torch.bfloat16)
    before = weights_key({"w": w})
    w.data[3, 7] *= 1.02
    assert weights_key({"w": w}) != before


@pytest.mark.parametrize("cols", [1024, 4096, 257])
def test_the_weights_key_sees_an_edit_of_any_one_column(cols):
    """gpt2-medium and BERT-large are 1024 wide, Llama 4096: a ramp through zero would weigh one column by 0."""
    from interp.models.versions import weights_key

    w = torch.randn(4, cols, dtype=torch.float64) * 0.02
    before = weights_key({"w": w})
    for col in range(cols):
        kept = w[:, col].clone()
        w.data[:, col] = 0.0
        assert weights_key({"w": w}) != before, col
        w.data[:, col] = kept
    assert weights_key({"w": w}) == before


def test_a_head_listed_twice_is_refused_not_ablated_twice(causal):
    """(0, 0) twice is usually a typo for another head: the result would name L0H0 twice and ablate it once."""
    with pytest.raises(InputError, match=r"head \(0, 0\) is listed twice"):
        interp.ablate(
            causal, "the keys to the cabinet ___ on the table .", [(0, 0), (1, 2), (0, 0)], answer="are"
        )
    assert interp.ablate(causal, "the keys to the cabinet ___ on the table .", [(0, 0), (0, 1)], answer="are")


def test_a_dict_of_prompts_is_refused_not_read_as_its_keys(causal):
    """generate_suite({prompt: n}) would generate from the keys and silently drop the values."""
    with pytest.raises(InputError, match="prompts must be a non-empty list of strings"):
        interp.generate_suite(causal, {"anna lives in": 1, "ben has a": 2}, 2)


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_a_link_that_leads_nowhere_is_named_not_taken_for_an_unknown_model(tmp_path, kind):
    a, b = tmp_path / "a", tmp_path / "b"
    if kind == "loop":
        os.symlink(b, a), os.symlink(a, b)
    else:
        os.symlink(tmp_path / "gone", a)
    with pytest.raises(ModelLoadError, match="symbolic link that leads to no folder"):
        interp.load(str(a))


def test_mean_ablation_never_reuses_means_across_attached_hooks(causal):
    """The reference means of a hooked model are not the loaded model's: neither is reused for the other,
    whichever runs first."""
    from interp.analysis import ablation

    probe, heads = "anna has a red car . anna has a ___ .", [(2, 0), (3, 1)]
    hooks = {"blocks.0.hook_mlp_out": lambda x, hook: x.mul_(0)}

    def ablate():
        return interp.ablate(causal, probe, heads, mode="mean", answer="red").prob_after

    ablation._LAST_MEANS.clear()
    plain = ablate()
    with causal.hooks(hooks):
        assert causal.hooks_attached()
        hooked = ablate()  # after the plain call, with its means cached
    assert not causal.hooks_attached()
    ablation._LAST_MEANS.clear()
    with causal.hooks(hooks):
        hooked_fresh = ablate()
    plain_after = ablate()  # after the hooked call
    assert hooked == pytest.approx(hooked_fresh, abs=1e-7)
    assert plain_after == pytest.approx(plain, abs=1e-7)
    assert abs(hooked - plain) > 1e-3  # the hook does change the means: the test can tell them apart
    assert causal.reset() == 0


def test_model_methods_refuse_bad_arguments_with_one_input_error(causal):
    """The handle's own methods check what the analyses check: a layer, a role, a text's type and their
    keywords; a stream of another float dtype is decoded in the model's own."""
    tokens = causal.to_tokens("anna has a red car .")
    _, cache = causal.run_with_cache(tokens, ["blocks.3.hook_resid_post"])
    resid = cache["blocks.3.hook_resid_post"]
    refused = {
        "layer must be an integer from 0 to 3, got 4": lambda: causal.weight("W_O", 4),
        "layer must be an integer from 0 to 3, got True": lambda: causal.weight("W_O", True),
        "layer must be an integer from 0 to 3, got None": lambda: causal.weight("b_O"),
        "W_U belongs to the whole model": lambda: causal.weight("W_U", 1),
        "unknown weight role 'W_X'": lambda: causal.weight("W_X"),
        "the text must be a string, got NoneType": lambda: causal.check_length(None),
        r"model.frame\(\) has no keyword 'answr': use answer= instead": lambda: causal.frame(
            "anna has a ___ .", answr="red"
        ),
        r"model.run_with_cache\(\) has no keyword 'bogus'": lambda: causal.run_with_cache(tokens, bogus=1),
        r"model.hooks\(\) has no keyword 'fwd_hooks': its keywords are fns=": lambda: causal.hooks(
            fwd_hooks={}
        ),
        r"model.decode_resid\(\) has no keyword 'position'": lambda: causal.decode_resid(resid, position=1),
    }
    for message, call in refused.items():
        with pytest.raises(InputError, match=message):
            call()
    assert causal.weight("W_O", np.int64(3)).shape == (
        causal.n_heads,
        causal.d_model // causal.n_heads,
        causal.d_model,
    )
    torch.testing.assert_close(
        causal.decode_resid(resid.double()), causal.decode_resid(resid), rtol=0, atol=0
    )
    assert causal.reset() == 0


def test_a_reference_word_the_model_does_not_know_is_named_not_averaged_in(causal):
    probe = "anna has a red car . anna has a ___ ."
    with pytest.raises(InputError, match="'zebra' is not in tiny-causal's vocabulary"):
        interp.ablate(causal, probe, [(0, 0)], mode="mean", reference=["anna has a zebra car ."])
    allowed = interp.ablate(
        causal, probe, [(0, 0)], mode="mean", reference=["anna has a zebra car ."], allow_unknown=True
    )
    known = interp.ablate(causal, probe, [(0, 0)], mode="mean", reference=["anna has a red car ."])
    assert allowed.prob_after != known.prob_after  # the [UNK] was read when allowed
    assert causal.reset() == 0


def test_a_position_of_another_type_and_a_probe_that_is_not_text_are_named_as_such(pair):
    c, b = pair
    for position in (True, 2.0, "2", float("nan")):
        with pytest.raises(
            InputError, match=r"position must be an integer from -7 to 6 \(-1: the last token\), got"
        ):
            interp.logit_lens(c, "anna has a red car .", position=position)
    with pytest.raises(InputError, match="position 50 is out of range for 7 tokens"):
        interp.attention(c, "anna has a red car .", position=50)
    probe = "anna has a red car . anna has a ___ ."
    with pytest.raises(InputError, match=r"got list: for many probes use interp.compare_suite"):
        interp.compare(c, b, [probe], method=None)
    with pytest.raises(InputError, match=r"compare takes one probe as text .* got Tensor$"):
        interp.compare(c, b, c.to_tokens(probe), method=None)


def test_numpy_and_torch_scalars_and_arrays_are_read_as_the_values_they_hold(causal):
    """What a researcher computes with numpy or torch goes in as it is: a 0-d tensor as a token id or a
    position, an (n, 2) array of heads from np.argwhere, a numpy integer as a number of tokens."""
    probe = "anna has a red car . anna has a ___ ."
    red = causal.to_single_token("red")
    plain = interp.logit_lens(causal, probe, answer=red, position=2)
    for answer, position in ((torch.tensor(red), torch.tensor(2)), (np.array([red]), np.int64(2))):
        got = interp.logit_lens(causal, probe, answer=answer, position=position)
        assert got.answer_ids == plain.answer_ids and got.position == plain.position
        np.testing.assert_array_equal(got.answer_prob, plain.answer_prob)
    assert causal.to_single_token(torch.tensor(red)) == red
    effects = np.zeros((causal.n_layers, causal.n_heads))
    effects[1, 1] = effects[2, 3] = 1.0
    listed = interp.ablate(causal, probe, [(1, 1), (2, 3)], answer="red")
    for heads in (np.argwhere(effects > 0), list(np.argwhere(effects > 0))):
        assert interp.ablate(causal, probe, heads, answer="red").prob_after == listed.prob_after
    assert interp.estimate_memory(causal, "attention", np.int64(10)) == interp.estimate_memory(
        causal, "attention", 10
    )
    for bad in (torch.tensor(1.5), torch.tensor([[1, 2]])):
        with pytest.raises(InputError, match="answer"):
            interp.logit_lens(causal, probe, answer=bad)


def test_the_weights_key_of_an_embedding_needs_no_float64_copy_of_it():
    """The key converts a block of rows to float64 at a time: an embedding's key costs megabytes, not a float64
    copy of the embedding (300 MB at gpt2 scale, which every tuned-lens lookup paid). Measured in a fresh process
    (the kernel's exact peak of its resident set), where no other thread allocates meanwhile."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import torch\n"
        "from benchmarks.common import hwm, reset_hwm\n"
        "from interp.models.versions import weights_key\n"
        "embedding = torch.randn(20_000, 1024)  # 80 MB in float32, 160 MB in float64\n"
        "weights_key({'w': embedding})  # warm-up: torch's own first-call allocations\n"
        "reset_hwm()\n"
        "before = hwm()\n"
        "weights_key({'w': embedding})\n"
        "print(hwm() - before)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) < 40 * 2**20
