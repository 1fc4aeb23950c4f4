"""A fuzz test of the public API (hypothesis, derandomized): random strings, numbers, shapes and files go into
every public analysis, every Model method, load and load_result. Each example calls one of them with its
arguments drawn from valid values, except for up to two arguments drawn from anything at all (random text,
numbers of every type, tensors of random shapes and dtypes, lists, damaged files). The only exceptions allowed
are InterpError subclasses; no hook is left on either zoo model, and both compute bit-identical outputs
afterwards.

A run is the same every time (derandomized: the seed is fixed) and bounded (``EXAMPLES``, 1500 calls in about
15 s here);
``FUZZ_EXAMPLES=5000`` makes a longer hunt.
"""

import contextlib
import json
import os
import shutil
import signal
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import count_hooks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interp
from interp import errors

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
PROBES = [
    "the keys to the cabinet ___ on the table .",
    "the key to the cabinet ___ on the table .",
    "anna lives in oslo . anna lives in",
    "the [MASK] barked .",
    "the dog ___ .",
    "the keys to the cabinet are on the table .",
]
WORDS = [
    "are",
    "is",
    "the",
    "oslo",
    "dog",
    "keys",
    "[MASK]",
    "___",
    "__",
    "____",
    "zzz",
    " ",
    "",
    "\x00",
    "é",
]

# ---- strategies: anything at all ----------------------------------------------------------------------------

texts = st.one_of(
    st.sampled_from(PROBES),
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.text(max_size=40),
    st.text(alphabet="ab _.[]MASK\n\t", max_size=300),
)
numbers = st.one_of(
    st.integers(-3, 12),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from([None, "3", b"3", [1], (1,), np.int64(2), np.float64(2.0), np.bool_(True), 1j, object()]),
)


@st.composite
def tensors(draw):
    """Tensors of random shapes (0 to 3 dimensions, empty ones too), dtypes and values."""
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from([torch.long, torch.int32, torch.int16, torch.float32, torch.bool]))
    low, high = draw(st.sampled_from([(0, 249), (-5, 5), (0, 10**6)]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 99)))
    return torch.randint(low, high, shape, generator=gen).to(dtype)


anything = st.one_of(
    texts,
    numbers,
    tensors(),
    st.lists(st.one_of(st.integers(-2, 300), texts, numbers), max_size=4),
    st.dictionaries(st.text(max_size=5), numbers, max_size=2),
)

# ---- strategies: valid values -------------------------------------------------------------------------------

probes = st.sampled_from(PROBES[:3] + PROBES[4:])  # readable by both models
answers = st.sampled_from([None, "are", "is", "the"])


@st.composite
def token_ids(draw, model):
    """A valid ``(1, T)`` or ``(T,)`` token tensor of an ordinary text."""
    t = model.to_tokens(draw(st.sampled_from([PROBES[2], PROBES[5]])))
    return t[0] if draw(st.booleans()) else t


def _signature(draw, model, other):
    """(function, {argument: (valid strategy)}) for one public call."""
    n, h = model.n_layers, model.n_heads
    small = st.integers(2, 4)  # n_steps: valid values stay small, so a run stays short
    text = st.one_of(probes, token_ids(model)) if model.kind == "causal" else probes
    kinds = {
        "attention": (interp.attention, {"model": st.just(model), "text": text, "position": st.none()}),
        "induction_scores": (
            interp.induction_scores,
            {
                "model": st.just(model),
                "seq_len": st.integers(2, 6),
                "seed": st.integers(0, 9),
                "n_seqs": st.just(1),
            },
        ),
        "logit_lens": (
            interp.logit_lens,
            {
                "model": st.just(model),
                "text": probes,
                "answer": answers,
                "top_k": st.integers(1, 8),
                "chunk": st.integers(1, 64),
                "allow_unknown": st.booleans(),
            },
        ),
        "attribute": (
            interp.attribute,
            {
                "model": st.just(model),
                "text": probes,
                "answer": answers,
                "contrast": st.sampled_from([None, "was"]),
                "method": st.sampled_from(
                    ["saliency", "input_x_gradient", "occlusion", "integrated_gradients"]
                ),
                "n_steps": small,
                "tolerance": st.sampled_from([None, 0.5]),
            },
        ),
        "compare": (
            interp.compare,
            {
                "causal": st.just(model if model.kind == "causal" else other),
                "bidirectional": st.just(other if model.kind == "causal" else model),
                "probe": st.sampled_from([PROBES[0], PROBES[4]]),
                "answer": answers,
                "method": st.sampled_from([None, "saliency"]),
                "n_steps": small,
            },
        ),
        "compare_suite": (
            interp.compare_suite,
            {
                "causal": st.just(model if model.kind == "causal" else other),
                "bidirectional": st.just(other if model.kind == "causal" else model),
                "probes": st.lists(
                    st.sampled_from([PROBES[0], (PROBES[4], "barked")]), min_size=1, max_size=2
                ),
                "method": st.just(None),
                "batch_size": st.integers(1, 3),
                "progress": st.just(False),
            },
        ),
        "ablate": (
            interp.ablate,
            {
                "model": st.just(model),
                "text": probes,
                "heads": st.lists(
                    st.tuples(st.integers(0, n - 1), st.integers(0, h - 1)), min_size=1, max_size=3
                ),
                "mode": st.just("zero"),
                "answer": answers,
            },
        ),
        "head_importance": (
            interp.head_importance,
            {"model": st.just(model), "probe": probes, "answer": answers, "progress": st.just(False)},
        ),
        "patch": (
            interp.patch,
            {
                "model": st.just(model),
                "clean": st.just(PROBES[0]),
                "corrupt": st.just(PROBES[1]),
                "hook": st.sampled_from(["resid_post", "attn_out", "blocks.{layer}.hook_mlp_out"]),
                "answer": st.just("are"),
                "contrast": st.just("is"),
                "progress": st.just(False),
            },
        ),
        "frame": (model.frame, {"text": text, "answer": answers, "position": st.none()}),
        "to_tokens": (model.to_tokens, {"text": probes, "truncate": st.booleans()}),
        "to_str_tokens": (model.to_str_tokens, {"text_or_tokens": text}),
        "to_single_token": (model.to_single_token, {"word": st.sampled_from(["the", "are", 7])}),
        "run_with_cache": (
            model.run_with_cache,
            {
                "text_or_tokens": text,
                "names": st.one_of(st.none(), st.lists(st.sampled_from(model.hook_names()[:12]), max_size=2)),
                "stop_after": st.one_of(st.none(), st.sampled_from(model.hook_names()[:12])),
            },
        ),
        "forward": (
            model.forward,
            {"tokens": token_ids(model), "attention_mask": st.none()},
        ),
        "logits_at": (model.logits_at, {"tokens": token_ids(model), "position": st.integers(-2, 1)}),
        "decode_resid": (model.decode_resid, {"resid": st.just(torch.zeros(2, model.d_model))}),
        "hooks": (None, {"name": st.sampled_from(model.hook_names()[:12]), "returned": st.none()}),
        "load": (
            interp.load,
            {"name_or_path": st.just("./no-such-folder/m"), "dtype": st.none(), "device": st.none()},
        ),
        "wrap": (interp.wrap, {"hf_model": st.just(None), "tokenizer": st.just(model.tokenizer)}),
        "load_result": (interp.load_result, {"path": st.none()}),
    }
    name = draw(st.sampled_from(sorted(kinds)))
    return name, kinds[name]


def _hooked(model, name, returned):
    """Attach ``{name: a function returning returned}`` and run a forward pass."""
    fns = [(name, lambda t, hook: returned)]  # an unhashable name goes in as pairs, not a mapping
    try:
        fns = dict(fns)
    except TypeError:
        pass
    with model.hooks(fns):
        model(PROBES[2] if model.kind == "causal" else PROBES[3])


@st.composite
def calls(draw, models, saved, folder):
    """One public call: (label, function of no arguments, names of the arguments drawn from anything)."""
    c, b = models
    model = draw(st.sampled_from(models))
    label, (fn, valid) = _signature(draw, model, b if model is c else c)
    bad = draw(st.sets(st.sampled_from(sorted(valid)), max_size=2))
    kwargs = {k: draw(anything if k in bad else strategy) for k, strategy in valid.items()}
    if label == "load" and isinstance(kwargs["name_or_path"], str):
        kwargs["name_or_path"] = f"./no-such-folder/{kwargs['name_or_path']}"  # never a hub lookup
    if label == "load_result":
        blob = draw(
            st.one_of(
                st.binary(max_size=200),
                st.text(max_size=200).map(str.encode),
                st.tuples(st.integers(0, len(saved) - 1), st.integers(0, 255)).map(
                    lambda t: saved[: t[0]] + bytes([t[1]]) + saved[t[0] + 1 :]
                ),
                st.integers(1, len(saved)).map(lambda n: saved[:n]),
                st.just(saved),
            )
        )
        path = folder / draw(st.sampled_from(["r.npz", "r.json", "sub/r", "r"]))
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        kwargs["path"] = draw(anything) if bad else draw(st.sampled_from([path, str(path), folder]))
    if label == "hooks":
        return label, lambda: _hooked(model, kwargs["name"], kwargs["returned"]), bad
    return label, lambda: fn(**kwargs), bad


def _reference(m):
    text = PROBES[2] if m.kind == "causal" else PROBES[3]
    logits, cache = m.run_with_cache(text, names=["blocks.0.attn.hook_pattern"])
    return logits.clone(), cache["blocks.0.attn.hook_pattern"].clone()


def test_fuzz_the_public_api(causal, bidirectional, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path drawn from anything (a text, say) lands here, not in the repo
    models = (causal, bidirectional)
    base = {m.name: count_hooks(m.bridge) for m in models}
    reference = {m.name: _reference(m) for m in models}
    grad_mode = torch.is_grad_enabled()
    saved = interp.attention(causal, PROBES[0]).save(tmp_path / "good.npz").read_bytes()
    outcomes: dict[str, dict[str, int]] = {}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data):
        label, call, bad = data.draw(calls(models, saved, tmp_path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with deadline(CASE_SECONDS, label):
                    call()
                outcome = "returned"
            except errors.InterpError as err:
                outcome = type(err).__name__
                message = str(err)
                assert message and len(message) < 2000, (label, message[:300])
        counts = outcomes.setdefault(label, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        _record(label, "result" if outcome == "returned" else outcome)  # the per-function summary
        if not bad and label not in ("load_result", "hooks", "load", "wrap"):  # those: refusals only
            # Valid arguments give a result (a contrast equal to the answer is the one valid-looking refusal).
            assert outcome in ("returned", "InputError"), (label, outcome)
        for m in models:
            assert count_hooks(m.bridge) == base[m.name], label
        assert torch.is_grad_enabled() == grad_mode, label

    fuzz()
    total = sum(sum(v.values()) for v in outcomes.values())
    print(f"\nfuzz: {total} calls", {k: dict(sorted(v.items())) for k, v in sorted(outcomes.items())})
    assert total == EXAMPLES
    assert len(outcomes) == 21, sorted(outcomes)  # every kind of call was drawn
    returned = sum(v.get("returned", 0) for v in outcomes.values())
    assert EXAMPLES / 10 <= returned <= EXAMPLES - EXAMPLES / 10, (
        outcomes
    )  # both outcomes are well represented
    for m in models:
        logits, pattern = _reference(m)
        assert torch.equal(logits, reference[m.name][0]) and torch.equal(pattern, reference[m.name][1])
        assert count_hooks(m.bridge) == base[m.name]
        assert not m.bridge.training
        assert not any(p.requires_grad for p in m.bridge.original_model.parameters())


MAGIC_WORDS = [
    "load",
    "hooks",
    "attention",
    "lens",
    "attribute",
    "compare",
    "ablate",
    "importance",
    "patch",
    "help",
    "c",
    "b",
    "nope",
    "as",
    "0.1",
    "1.2",
    "0.9.1",
    "--answer",
    "--contrast",
    "--steps",
    "--position",
    "--mode",
    "--method",
    "--hook",
    "are",
    "is",
    "1000000000",
    "-1",
    "2.5",
    "mean",
    "zero",
    "saliency",
    "lime",
    '"the keys to the cabinet ___ on the table ."',
    '"the key to the cabinet ___ on the table ."',
    '"unclosed',
    "'",
    '"',
    "{x}",
    "blocks.{x}.hook_resid_post",
    "resid_post",
    "tiny-causl",
    "--",
    "-h",
]


def test_fuzz_the_magics(causal, bidirectional, capsys, tmp_path, monkeypatch):
    """Random %interp lines: a result, printed help, or one ``interp:`` line; never a traceback."""
    monkeypatch.chdir(tmp_path)  # a magic that writes a file writes it here
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    sh.user_ns.update(c=causal, b=bidirectional)
    base = {m.name: count_hooks(m.bridge) for m in (causal, bidirectional)}
    seen = {"result": 0, "error line": 0, "printed": 0}

    random_words = st.lists(st.one_of(st.sampled_from(MAGIC_WORDS), st.text(max_size=8)), max_size=8)
    commands = st.tuples(
        st.sampled_from(["attention", "lens", "attribute", "ablate", "importance"]),
        st.sampled_from(["c", "b"]),
        st.sampled_from(MAGIC_WORDS[33:35]),
        st.lists(
            st.sampled_from(["0.1", "--answer are", "--mode zero", "--method saliency", "--steps 4"]),
            max_size=3,
        ),
        st.lists(st.sampled_from(MAGIC_WORDS), max_size=1),
    ).map(lambda t: [t[0], t[1], t[2], *t[3], *t[4]])

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(st.one_of(random_words, commands))
    def fuzz(words):
        line = " ".join(words)
        capsys.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with deadline(CASE_SECONDS, line):
                out = sh.run_line_magic("interp", line)
        printed = capsys.readouterr()
        assert "Traceback" not in printed.out + printed.err, line
        if printed.err:
            assert printed.err.startswith("interp: ") and printed.err.count("\n") == 1, (line, printed.err)
            assert out is None and len(printed.err) < 1000, line
            seen["error line"] += 1
        else:
            seen["result" if out is not None else "printed"] += 1
        for m in (causal, bidirectional):
            assert count_hooks(m.bridge) == base[m.name], line

    try:
        fuzz()
    finally:
        sh.run_line_magic("unload_ext", "interp")
    print(f"\nmagic fuzz: {seen}")
    assert seen["error line"] > 100 and seen["printed"] > 0 and seen["result"] > 10, seen


# ---- every declared analysis, the writers, damaged folders and damaged saved results ----------------------------
# Each case runs under a deadline (a hang fails the test instead of blocking CI) and is counted by outcome; the
# counts are printed, one line per function, when this module's tests end.

CASE_SECONDS = 60
"""The most one case may take (the slowest valid ones, a few tuned-lens steps, take well under a second)."""
PER_FUNCTION = int(os.environ.get("FUZZ_PER_FUNCTION", "30"))
"""Examples per function in the tests below (``FUZZ_PER_FUNCTION=300`` makes a longer hunt)."""
OUTCOMES: dict[str, dict[str, int]] = {}


class Hang(BaseException):
    """Raised by the deadline's alarm: not an Exception, so no ``except Exception`` inside interp absorbs it."""


@contextlib.contextmanager
def deadline(seconds: int, label: str):
    def ring(signum, frame):
        raise Hang(f"{label} ran past {seconds} s")

    if threading.current_thread() is not threading.main_thread():  # alarms reach the main thread only
        yield
        return
    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _record(label: str, outcome: str) -> None:
    counts = OUTCOMES.setdefault(label, {})
    counts[outcome] = counts.get(outcome, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(request):
    """One line per fuzzed function at the end: cases, then outcomes (a result, or InterpError by class)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    write = reporter.write_line if reporter else print
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        _write_summary(write)


def _write_summary(write) -> None:
    total = sum(sum(c.values()) for c in OUTCOMES.values())
    write(f"fuzz summary: {total} cases over {len(OUTCOMES)} functions")
    for label, counts in sorted(OUTCOMES.items()):
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        write(f"fuzz {label}: {sum(counts.values())} cases: {shown}")


def _holds(value, tmp_path) -> None:
    """A returned value passes its invariants: a saved result loads back equal in kind and fields (loading
    re-checks every field and invariant); a table has rows; a file written exists; an estimate is positive."""
    import pandas as pd

    from interp.analysis.tuned import TunedLens
    from interp.results.base import Result

    if isinstance(value, Result):
        back = interp.load_result(value.save(tmp_path / "roundtrip.npz"))
        assert type(back) is type(value) and back.kind == value.kind
    elif isinstance(value, pd.DataFrame):
        assert len(value.columns) > 0
    elif isinstance(value, TunedLens):
        assert torch.isfinite(value.weight).all() and torch.isfinite(value.bias).all()
    elif isinstance(value, os.PathLike):
        assert os.path.isfile(value) and os.path.getsize(value) > 0
    elif isinstance(value, int):
        assert value > 0
    elif isinstance(value, interp.Model):  # a loaded or wrapped model reads a text
        logits = value.forward(value.to_tokens("the dog barked ."))
        assert logits.shape[-1] == value.d_vocab and torch.isfinite(logits).all()
    else:
        raise AssertionError(f"unexpected return value {type(value).__name__}")


def _case(label, call, models, base, tmp_path, *, require_result=False) -> str:
    """Run one case: a value that passes its invariants or an InterpError, within the deadline, with every
    model's hooks as they were."""
    with warnings.catch_warnings(), deadline(CASE_SECONDS, label):
        warnings.simplefilter("ignore")
        try:
            _holds(call(), tmp_path)
            outcome = "result"
        except errors.InterpError as err:
            outcome = type(err).__name__
            assert str(err) and len(str(err)) < 2000, (label, str(err)[:300])
    _record(label, outcome)
    if require_result:  # valid arguments: a result (or the one valid-looking refusal, e.g. a masked LM's text
        assert outcome in ("result", "InputError"), (label, outcome)  # without a mask, contrast == answer)
    for m in models:
        assert count_hooks(m.bridge) == base[m.name], label
    return outcome


def _analyses(model, other, tmp_path):
    """{label: (function, {argument: valid strategy})} for the declared analyses the big test above leaves out,
    and the writers (result.save, the widgets' save_* functions)."""
    import widgets

    c, b = (model, other) if model.kind == "causal" else (other, model)
    result = st.sampled_from([SAVED_RESULTS[k] for k in sorted(SAVED_RESULTS)])
    files = st.sampled_from(["out.html", "sub/out.html", "out", "out.npz"]).map(lambda n: tmp_path / n)
    return {
        "decompose": (
            interp.decompose,
            {
                "model": st.just(model),
                "text": probes,
                "answer": st.sampled_from(["are", "is", "the"]),
                "contrast": st.sampled_from([None, "was"]),
                "position": st.none(),
                "allow_unknown": st.booleans(),
            },
        ),
        "generate": (
            interp.generate,
            {
                "model": st.just(model),
                "prompt": st.sampled_from(["the dog", PROBES[4], "the keys to the"]),
                "n_tokens": st.integers(1, 4),
                "steps": st.none(),
                "order": st.sampled_from(["confidence", "random", "left_to_right"]),
                "seed": st.integers(0, 9),
                "lens": st.booleans(),
                "top_k": st.integers(1, 6),
                "allow_unknown": st.booleans(),
            },
        ),
        "attribute_generation": (
            interp.attribute_generation,
            {
                "model": st.just(model),
                "prompt": st.sampled_from(["the dog", PROBES[4], "the keys to the"]),
                "n_tokens": st.integers(1, 3),
                "method": st.sampled_from(["integrated_gradients", "input_x_gradient", "saliency"]),
                "steps": st.none(),
                "order": st.sampled_from(["confidence", "random", "left_to_right"]),
                "seed": st.integers(0, 9),
                "objective": st.sampled_from(["prob", "logprob"]),
                "baseline": st.sampled_from(["pad", "unk", "zero"]),
                "n_steps": st.integers(2, 4),
                "progress": st.just(False),
            },
        ),
        "generate_suite": (
            interp.generate_suite,
            {
                "models": st.sampled_from([model, [c, b]]),
                "prompts": st.just(["the dog", "the keys to the"]),
                "n_tokens": st.integers(1, 3),
                "orders": st.just(("confidence",)),
                "seed": st.integers(0, 9),
                "judge": st.sampled_from([None, lambda text: "dog" in text]),
                "progress": st.just(False),
            },
        ),
        "score": (
            interp.score,
            {
                "model": st.just(model),
                "texts": st.sampled_from(["the dog barked .", ["the dog barked .", "the keys are here ."]]),
                "method": st.none(),
                "n_samples": st.integers(2, 4),
                "seed": st.integers(0, 9),
                "batch_size": st.integers(1, 8),
                "allow_unknown": st.booleans(),
                "progress": st.just(False),
            },
        ),
        "path_patch": (
            interp.path_patch,
            {
                "model": st.just(model),
                "clean": st.just(PROBES[0]),
                "corrupt": st.just(PROBES[1]),
                "senders": st.sampled_from(["all", [(0, 0)], [(1, 1), (0, 2)]]),
                "receivers": st.sampled_from(["logits", [(2, 0, "q")], [(3, 1, "k"), (3, 2, "v")]]),
                "metric": st.sampled_from([None, "logit_diff", "logprob_diff", "prob"]),
                "direction": st.sampled_from(["denoise", "noise"]),
                "answer": st.just("are"),
                "contrast": st.just("is"),
                "progress": st.just(False),
            },
        ),
        "attribution_patch": (
            interp.attribution_patch,
            {
                "model": st.just(model),
                "clean": st.just(PROBES[0]),
                "corrupt": st.just(PROBES[1]),
                "hook": st.sampled_from(["z", "q", "k", "v", "resid_pre", "attn_out"]),
                "by": st.sampled_from(["head", "head_position", "position"]),
                "metric": st.sampled_from([None, "logit_diff", "logprob_diff", "prob"]),
                "direction": st.sampled_from(["denoise", "noise"]),
                "answer": st.just("are"),
                "contrast": st.just("is"),
                "validate": st.booleans(),
                "progress": st.just(False),
            },
        ),
        "minimal_pairs": (
            interp.minimal_pairs,
            {
                "models": st.sampled_from([model, [c, b]]),
                "pairs": st.just([("the keys are here .", "the keys is here .")]),
                "method": st.none(),
                "seed": st.integers(0, 9),
                "n_samples": st.integers(2, 4),
                "progress": st.just(False),
            },
        ),
        "tuned_lens": (
            interp.tuned_lens,
            {
                "model": st.just(model),
                "texts": st.just(["the dog barked .", PROBES[5]]),
                "steps": st.integers(1, 2),
                "lr": st.sampled_from([1e-3, 1e-2]),
                "batch_size": st.integers(1, 2),
                "seed": st.integers(0, 9),
                "path": st.just(tmp_path / "t.safetensors"),
                "progress": st.just(False),
            },
        ),
        "estimate_memory": (
            interp.estimate_memory,
            {
                "model": st.just(model),
                "analysis_name": st.sampled_from(
                    sorted(__import__("interp.analysis.memory").analysis.memory.ESTIMATES)
                ),
                "text_or_T": st.integers(2, 20),
            },
        ),
        "load (keywords)": (
            interp.load,
            {
                "name_or_path": st.just(FOLDER["gpt2"]),
                "device": st.sampled_from([None, "cpu", torch.device("cpu")]),
                "dtype": st.sampled_from([None, "float32", torch.float32, "bfloat16", "auto"]),
                "device_map": st.sampled_from([None, "cpu", {"": "cpu"}]),
                "max_memory": st.none(),
                "offload_folder": st.sampled_from([None, tmp_path / "offload"]),
                "engine": st.just("bridge"),
                "revision": st.none(),
            },
        ),
        "wrap (keywords)": (
            interp.wrap,
            {
                "hf_model": st.just(FOLDER["hf"]),
                "tokenizer": st.just(FOLDER["tokenizer"]),
                "name": st.sampled_from([None, "mine", "my model"]),
                "device": st.sampled_from([None, "cpu"]),
                "revision": st.sampled_from([None, "v1"]),
            },
        ),
        "Result.save": (
            lambda path, which: SAVED_RESULTS[which].save(path),  # the result itself is never a stranger
            {"path": files, "which": st.sampled_from(sorted(SAVED_RESULTS))},
        ),
        "widgets.save_html": (
            widgets.save_html,
            {"result": result, "path": files},
        ),
        "widgets.save_report": (
            widgets.save_report,
            {
                "items": st.lists(
                    st.tuples(st.sampled_from(["one", "<b>two</b>"]), result), min_size=1, max_size=2
                ),
                "path": files,
            },
        ),
    }


FOLDER: dict = {}
"""A tiny GPT-2 folder, and its model and tokenizer as transformers loads them (filled once)."""
NEVER_STRANGERS = {"which", "name_or_path", "hf_model"}
"""Arguments the tests below always give valid: which saved result; the folder and the model (the big test above
draws those from anything, with a path that cannot reach a hub)."""

SAVED_RESULTS: dict = {}
"""A few results of the zoo models (filled once), to save, draw and damage."""


@pytest.fixture(scope="module")
def saved_results(causal, bidirectional, tiny_folder):
    if not FOLDER:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        FOLDER["gpt2"] = tiny_folder("gpt2")
        FOLDER["hf"] = AutoModelForCausalLM.from_pretrained(FOLDER["gpt2"], attn_implementation="eager")
        FOLDER["tokenizer"] = AutoTokenizer.from_pretrained(FOLDER["gpt2"])
    if not SAVED_RESULTS:
        SAVED_RESULTS.update(
            attention=interp.attention(causal, PROBES[0]),
            lens=interp.logit_lens(bidirectional, PROBES[0], answer="are"),
            attribution=interp.attribute(causal, PROBES[0], answer="are", method="saliency"),
            generation=interp.generate(bidirectional, PROBES[4], 2, lens=True),
            induction=interp.induction_scores(causal, 4, n_seqs=1),
        )
    return SAVED_RESULTS


def test_the_fuzzed_functions_cover_the_registry(causal, bidirectional, tmp_path, saved_results):
    """Every declared analysis is fuzzed, by the test above or the next one (a new analysis must be added), and
    so are load, wrap and load_result."""
    drawn = {}

    def draw(strategy):  # _signature draws the label last, from every label it knows
        drawn["labels"] = list(strategy.elements)
        return drawn["labels"][0]

    _signature(draw, causal, bidirectional)
    big = set(drawn["labels"])
    here = set(_analyses(causal, bidirectional, tmp_path))
    missing = set(interp.analysis.__all__) - big - here
    assert not missing, missing
    assert {"load", "wrap", "load_result"} <= big


@pytest.mark.parametrize(
    "label",
    [
        "decompose",
        "generate",
        "attribute_generation",
        "generate_suite",
        "score",
        "minimal_pairs",
        "path_patch",
        "attribution_patch",
        "tuned_lens",
        "estimate_memory",
        "Result.save",
        "widgets.save_html",
        "widgets.save_report",
        "load (keywords)",
        "wrap (keywords)",
    ],
)
def test_fuzz_each_function(label, causal, bidirectional, tmp_path, saved_results, monkeypatch):
    """Valid arguments with up to two of them drawn from anything: a value that passes its invariants or an
    InterpError, within the deadline; hooks, logits and the tuned lens's translators as they were."""
    from interp.analysis import tuned

    monkeypatch.setattr(tuned, "cache_dir", lambda: tmp_path / "cache")  # a path=None never writes elsewhere
    monkeypatch.chdir(tmp_path)  # nor does a relative path drawn from anything (a probe's text, say)
    trained = dict(tuned._TRAINED)
    models = (causal, bidirectional)
    base = {m.name: count_hooks(m.bridge) for m in models}
    reference = {m.name: _reference(m) for m in models}

    @settings(
        max_examples=PER_FUNCTION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data):
        model = data.draw(st.sampled_from(models))
        fn, valid = _analyses(model, causal if model is bidirectional else bidirectional, tmp_path)[label]
        bad = data.draw(st.sets(st.sampled_from(sorted(set(valid) - NEVER_STRANGERS)), max_size=2))
        kwargs = {k: data.draw(anything if k in bad else s) for k, s in valid.items()}
        if label == "tuned_lens":
            # anything numeric could ask for hours of training: a large valid value is cut to a short run
            for k in ("steps", "batch_size"):
                if isinstance(kwargs.get(k), int) and not isinstance(kwargs[k], bool) and kwargs[k] > 2:
                    kwargs[k] = 2
        _case(
            label,
            lambda: fn(**kwargs),
            models,
            base,
            tmp_path,
            require_result=not bad and label not in ("generate_suite", "load (keywords)"),
        )

    try:
        fuzz()
    finally:
        tuned._TRAINED.clear()
        tuned._TRAINED.update(trained)
    for m in models:
        logits, pattern = _reference(m)
        assert torch.equal(logits, reference[m.name][0]) and torch.equal(pattern, reference[m.name][1]), label
        assert count_hooks(m.bridge) == base[m.name]
    assert sum(OUTCOMES[label].values()) >= PER_FUNCTION


# ---- damaged folders and damaged saved results --------------------------------------------------------------

DAMAGES = ("truncate", "garble", "empty", "json", "link_out", "fifo", "folder", "remove")


def _damage(path, how: str, draw, outside) -> None:
    """Damage one file of a model folder (or a saved result) in place."""
    data = path.read_bytes() if path.is_file() else b""
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if how == "truncate":
        path.write_bytes(data[: draw(st.integers(0, max(0, len(data) - 1)))])
    elif how == "garble":
        at = draw(st.lists(st.integers(0, max(0, len(data) - 1)), min_size=1, max_size=8))
        garbled = bytearray(data or b"\0")
        for i in at:
            garbled[min(i, len(garbled) - 1)] ^= draw(st.integers(1, 255))
        path.write_bytes(bytes(garbled))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "json":  # a different JSON document, or an index naming other places
        doc = draw(
            st.sampled_from(
                [
                    {},
                    [],
                    None,
                    {"weight_map": {}},
                    {"weight_map": {"transformer.wte.weight": "../../outside.safetensors"}},
                    {"weight_map": {"transformer.wte.weight": str(outside)}},
                    {"weight_map": {"transformer.wte.weight": "pytorch_model.bin"}},
                    {"model_type": "gpt2", "n_layer": 0},
                    {"model_type": "falcon"},
                    {"model_type": "bert", "architectures": ["BertForSequenceClassification"]},
                ]
            )
        )
        path.write_text(json.dumps(doc))
    elif how == "link_out":
        path.symlink_to(outside)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    # "remove": nothing more


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_fuzz_damaged_model_folders(arch, tiny_folder, causal, tmp_path):
    """A copy of a tiny GPT-2 folder with one or two files truncated, garbled, emptied, replaced by other JSON (an
    index naming places outside), linked outside, replaced by a FIFO or a folder, or removed: interp.load gives a
    model that reads a probe or an InterpError, never blocks (a FIFO), never another exception."""
    source = Path(tiny_folder(arch))
    label = f"load (damaged {arch} folder)"
    names = sorted(p.name for p in source.iterdir()) + ["model.safetensors.index.json"]
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((source / "model.safetensors").read_bytes())
    base = {causal.name: count_hooks(causal.bridge)}
    counter = iter(range(10**6))

    @settings(
        max_examples=2 * PER_FUNCTION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data):
        folder = tmp_path / f"m{next(counter)}"
        shutil.copytree(source, folder)
        for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
            how = data.draw(st.sampled_from(DAMAGES))
            _damage(folder / name, how, data.draw, outside)

        def load_and_read():
            m = interp.load(folder, device="cpu")
            text = "the dog [MASK] ." if m.kind == "bidirectional" else "the dog barked ."
            logits = m.forward(m.to_tokens(text))
            assert torch.isfinite(logits).all()
            return 1

        try:
            _case(label, load_and_read, (causal,), base, tmp_path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    fuzz()
    assert OUTCOMES[label].get("result", 0) < sum(OUTCOMES[label].values())


def _saved_edits(saved: bytes, draw) -> bytes:
    """A saved result (.npz) with one edit: a byte flipped, an array's dtype changed, two arrays swapped, the
    ``kind`` or another metadata value replaced, an array reshaped or dropped."""
    import io

    how = draw(st.sampled_from(["flip", "dtype", "swap", "kind", "meta", "reshape", "drop"]))
    if how == "flip":
        at = draw(st.integers(0, len(saved) - 1))
        return saved[:at] + bytes([saved[at] ^ draw(st.integers(1, 255))]) + saved[at + 1 :]
    with np.load(io.BytesIO(saved), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    from interp.results.persist import META

    names = sorted(k for k in arrays if k != META)
    if how == "dtype" and names:
        k = draw(st.sampled_from(names))
        dtype = draw(
            st.sampled_from([np.float16, np.float64, np.int8, np.int64, np.bool_, np.complex64, "<U3"])
        )
        arrays[k] = arrays[k].astype(dtype)
    elif how == "swap" and len(names) >= 2:
        a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        same = [n for n in names if n != a and arrays[n].shape == arrays[a].shape]
        b = same[0] if same else b
        arrays[a], arrays[b] = arrays[b], arrays[a]
    elif how in ("kind", "meta"):
        meta = json.loads(arrays[META].tobytes().decode("utf-8"))

        def edit(node):
            if isinstance(node, dict):
                for key in sorted(node):
                    if (how == "kind" and key == "kind") or (how == "meta" and draw(st.booleans())):
                        node[key] = draw(
                            st.one_of(
                                st.sampled_from(
                                    ["<script>alert(1)</script>", "", "causal", "bidirectional", None]
                                ),
                                st.integers(-5, 5),
                                st.floats(-5, 5),
                            )
                        )
                        return True
                    if edit(node[key]):
                        return True
            elif isinstance(node, list):
                return any(edit(v) for v in node[:3])
            return False

        edit(meta)
        arrays[META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    elif how == "reshape" and names:
        k = draw(st.sampled_from(names))
        arrays[k] = arrays[k].reshape(-1)
    elif how == "drop" and names:
        del arrays[draw(st.sampled_from(names))]
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_fuzz_damaged_saved_results(saved_results, tmp_path):
    """Each kind of saved result, edited: load_result gives a result that passes its invariants (it saves and
    loads back) or an InterpError, never another exception."""
    files = {k: r.save(tmp_path / f"{k}.npz").read_bytes() for k, r in saved_results.items()}

    @settings(
        max_examples=3 * PER_FUNCTION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data):
        which = data.draw(st.sampled_from(sorted(files)))
        path = tmp_path / "edited.npz"
        path.write_bytes(_saved_edits(files[which], data.draw))
        _case("load_result (edited file)", lambda: interp.load_result(path), (), {}, tmp_path)

    fuzz()
    counts = OUTCOMES["load_result (edited file)"]
    assert counts.get("ResultError", 0) > 0 and sum(counts.values()) >= 3 * PER_FUNCTION


def test_what_the_fuzz_found_is_refused_clearly(causal, saved_results, tmp_path):
    """Cases the fuzz found escaping as raw exceptions: a seed that is not an integer in generate_suite
    (TypeError), a writer given something else than a result (AttributeError), a path that is a number or empty
    (TypeError, ValueError), report items that are not (heading, result) pairs (TypeError)."""
    import widgets

    result = saved_results["attention"]
    cases = [
        (lambda: interp.generate_suite(causal, ["the dog"], 1, seed="x", progress=False), "seed must be"),
        (lambda: widgets.save_html("the dog", tmp_path / "a.html"), "result must be an interp result"),
        (lambda: widgets.save_html(result, 0), "path must be a file path"),
        (lambda: widgets.save_html(result, ""), "path must be a file path"),
        (lambda: widgets.save_html(result, tmp_path), "is a folder"),
        (
            lambda: widgets.save_png("the dog", tmp_path / "a.png"),
            "result_or_figure must be an interp result",
        ),
        (lambda: widgets.save_report([result], tmp_path / "r.html"), "(heading, result) pairs"),
        (lambda: widgets.save_report([("one", torch.tensor(1))], tmp_path / "r.html"), "items[0]'s result"),
        (lambda: widgets.save_report([(1, result)], tmp_path / "r.html"), "items[0]'s heading"),
        (lambda: widgets.save_report([("one", result)], tmp_path / "r.html", title=None), "title must be"),
    ]
    for call, said in cases:
        with pytest.raises(errors.InputError) as info:
            call()
        assert said in str(info.value), str(info.value)
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob("*.png"))
    assert widgets.save_report([["one", result], ("two", "<p>text</p>")], tmp_path / "r").stat().st_size > 0


def test_the_deadline_stops_a_case_that_hangs(tmp_path):
    """The per-case deadline is real: a blocking call (reading a FIFO nobody writes) is stopped as a Hang."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(Hang, match="ran past 1 s"), deadline(1, "reading a FIFO"):
        fifo.read_bytes()
    assert signal.getsignal(signal.SIGALRM) is not None and signal.alarm(0) == 0  # no alarm left behind
