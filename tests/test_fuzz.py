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

import os
import warnings

import numpy as np
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


def test_fuzz_the_public_api(causal, bidirectional, tmp_path):
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
                call()
                outcome = "returned"
            except errors.InterpError as err:
                outcome = type(err).__name__
                message = str(err)
                assert message and len(message) < 2000, (label, message[:300])
        counts = outcomes.setdefault(label, {})
        counts[outcome] = counts.get(outcome, 0) + 1
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


def test_fuzz_the_magics(causal, bidirectional, capsys):
    """Random %interp lines: a result, printed help, or one ``interp:`` line; never a traceback."""
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
