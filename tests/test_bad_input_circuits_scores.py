"""Bad input to patching, path patching, attribution patching, scoring, minimal pairs and loading: one
InterpError naming what to do, raised before any hook is attached and without touching the model."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import count_hooks

import interp
from interp.errors import InputError, InterpError, InterpWarning

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."
GOOD, BAD = "the key is on the table .", "the key are on the table ."


@pytest.fixture(scope="module")
def diffusion():
    return interp.load("tiny-diffusion")


def _refused(model, call, phrase: str, kind: type = InputError) -> None:
    """``call()`` raises ``kind`` (an InterpError) whose message holds ``phrase``, and leaves no hook behind."""
    before = count_hooks(model.bridge)
    weight = next(model.bridge.parameters()).detach().clone()
    with pytest.raises(kind, match=phrase) as err:
        call()
    assert isinstance(err.value, InterpError)
    assert count_hooks(model.bridge) == before
    assert next(model.bridge.parameters()).equal(weight)


def _patch(m, **kw):
    return interp.patch(m, kw.pop("clean", CLEAN), kw.pop("corrupt", CORRUPT), progress=False, **kw)


def _path(m, **kw):
    return interp.path_patch(m, CLEAN, CORRUPT, progress=False, **kw)


def _atp(m, **kw):
    return interp.attribution_patch(m, CLEAN, CORRUPT, progress=False, **kw)


GRID_CASES = {
    # An array's `in` is elementwise: these were numpy's "truth value of an array is ambiguous" ValueError.
    "patch by=array": (_patch, dict(by=np.array(["head", "position"])), "unknown by="),
    "patch direction=array": (_patch, dict(direction=np.array([1, 2])), "unknown direction="),
    "patch metric=array": (_patch, dict(metric=np.array([1, 2])), "unknown metric="),
    "path metric=array": (_path, dict(metric=np.array([1, 2])), "unknown metric="),
    "path direction=array": (_path, dict(direction=np.array([1, 2])), "unknown direction="),
    "atp by=array": (_atp, dict(by=np.array([1, 2])), "unknown by="),
    "atp method=array": (_atp, dict(method=np.array([1, 2])), "unknown method="),
    "atp metric=array": (_atp, dict(metric=np.array([1, 2])), "unknown metric="),
    "atp top_k=0": (_atp, dict(top_k=0), "top_k must be an integer >= 1"),
    "atp top_k=float": (_atp, dict(top_k=2.0), "top_k must be an integer"),
    # int() used to turn these into heads: (0.5, 0) was head (0, 0), True was 1, "0" was 0.
    "path sender float": (_path, dict(senders=[(0.5, 0)]), "senders must be 'all' or a list of"),
    "path sender bool": (_path, dict(senders=[(True, 0)]), "senders must be 'all' or a list of"),
    "path sender str": (_path, dict(senders=[("0", "1")]), "senders must be 'all' or a list of"),
    "path sender triple": (_path, dict(senders=[(0, 0, 0)]), "senders must be 'all' or a list of"),
    "path sender out of range": (_path, dict(senders=[(0, 99)]), r"\(4 layers, 4 heads\)"),
    "path receiver float": (_path, dict(receivers=[(1.0, 0, "q")]), "receivers must be 'logits'"),
    "path receiver bool": (_path, dict(receivers=[(True, 0, "q")]), "receivers must be 'logits'"),
    "path receiver input array": (_path, dict(receivers=[(1, 0, np.array([1, 2]))]), "receivers must be"),
    "path receiver 'Q'": (_path, dict(receivers=[(1, 0, "Q")]), "receivers must be 'logits'"),
    # An unknown keyword or a missing argument of an analysis was Python's TypeError.
    "patch unknown keyword": (_patch, dict(hooks="z"), "has no keyword 'hooks': use hook= instead"),
    "path unknown keyword": (_path, dict(sender=[(0, 0)]), "use senders= instead"),
    "atp unknown keyword": (_atp, dict(methods="atp"), "use method= instead"),
}


@pytest.mark.parametrize("case", list(GRID_CASES))
def test_patching_refuses_bad_arguments(causal, case):
    fn, kw, phrase = GRID_CASES[case]
    _refused(causal, lambda: fn(causal, **kw), phrase)


def test_a_missing_argument_is_an_input_error(causal):
    _refused(causal, lambda: interp.patch(causal, CLEAN), "missing a required argument: 'corrupt'")
    _refused(causal, lambda: interp.score(causal), r"interp.score\(\): missing a required argument")


SCORE_CASES = {
    "unknown keyword": (dict(n_sample=4), "use n_samples= instead"),
    "random_state": (dict(random_state=0), "use seed= instead"),
    "n_samples=0": (dict(n_samples=0), "n_samples must be an integer from 2"),
    "seed=-1": (dict(seed=-1), "seed must be an integer from 0"),
    "batch_size=0": (dict(batch_size=0), "batch_size must be an integer from 1"),
    "method=array": (dict(method=np.array(["causal"])), "unknown method"),
}


@pytest.mark.parametrize("case", list(SCORE_CASES))
def test_score_refuses_bad_arguments(bidirectional, case):
    kw, phrase = SCORE_CASES[case]
    _refused(bidirectional, lambda: interp.score(bidirectional, GOOD, progress=False, **kw), phrase)


@pytest.mark.parametrize(
    "texts, phrase",
    [
        ("   ", "the text is empty"),
        ([GOOD, 3], r"texts\[1\] must be a string"),
        ("the " * 400, r"takes at most \d+: shorten the text"),
    ],
)
def test_score_of_a_diffusion_model_refuses_bad_texts(diffusion, texts, phrase):
    _refused(diffusion, lambda: interp.score(diffusion, texts, progress=False), phrase)


def _jsonl(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_minimal_pairs_files_and_records(causal, tmp_path):
    def pairs(p):
        return lambda: interp.minimal_pairs(causal, p, progress=False)

    record = b'{"sentence_good": "%s", "sentence_bad": "%s"}\n' % (GOOD.encode(), BAD.encode())
    # A Latin-1 file was a raw UnicodeDecodeError.
    _refused(
        causal, pairs(_jsonl(tmp_path, "latin.jsonl", b'{"sentence_good": "caf\xe9"}\n')), "not UTF-8 text"
    )
    # A file saved with a byte-order mark was refused as "not JSON"; it reads as UTF-8.
    r = interp.minimal_pairs(causal, _jsonl(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + record), progress=False)
    assert r.pair_ids == ("0",)
    missing = _jsonl(tmp_path, "missing.jsonl", b'{"sentence_good": "the key is here ."}\n')
    _refused(causal, pairs(missing), "pair 0 has no sentence_bad")
    _refused(causal, pairs([(GOOD, "  ")]), "pair 0: sentence_bad is empty")
    _refused(causal, pairs(tmp_path / "none.jsonl"), "is not a file")
    _refused(causal, pairs([(GOOD, GOOD)]), "the two sentences are the same")
    _refused(
        causal, lambda: interp.minimal_pairs(causal, [(GOOD, BAD)], n_sample=3), "use n_samples= instead"
    )


@pytest.mark.parametrize(
    "kw, phrase",
    [
        (dict(torch_dtype="float32"), "has no keyword 'torch_dtype': use dtype= instead"),
        (dict(trust_remote_code=True), "its keywords are device=, dtype="),
        (dict(devcie="cpu"), "use device= instead"),
    ],
)
def test_load_names_its_keywords(kw, phrase):
    with pytest.raises(InputError, match=phrase):
        interp.load("tiny-causal", **kw)


@pytest.mark.parametrize(
    "kw, phrase",
    [
        (dict(nme="mine"), "has no keyword 'nme': use name= instead"),
        (dict(torch_dtype="float32"), "its keywords are name=, device=, revision="),
    ],
)
def test_wrap_names_its_keywords(kw, phrase):
    """wrap() refuses a keyword it does not have before it touches the model: one InputError naming its own."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interp.zoo import ZOO_DIR

    hf = AutoModelForCausalLM.from_pretrained(ZOO_DIR / "tiny-causal")
    tokenizer = AutoTokenizer.from_pretrained(ZOO_DIR / "tiny-causal")
    with pytest.raises(InputError, match=phrase):
        interp.wrap(hf, tokenizer, **kw)
    assert "_interp_bridge" not in vars(hf)  # refused before the bridge wrapped it
    with pytest.warns(InterpWarning, match="to eager attention") as record:
        assert interp.wrap(hf, tokenizer, name="mine").name == "mine"
    assert record[0].filename == __file__  # the warning points at the caller's line, not at interp's


@pytest.mark.parametrize("keyword", ["n", "max_new_tokens", "n_token"])
def test_generate_names_n_tokens_for_the_other_spellings(causal, keyword):
    with pytest.raises(InputError, match=f"has no keyword '{keyword}': use n_tokens= instead"):
        interp.generate(causal, "anna has a", **{keyword: 2})
