"""Bounded work, no silent wrong results, one error type: the bad inputs of the hardening issue, each answered by
an InterpError subclass that names the parameter, quickly, quoting at most 200 characters of the input.

Error classes are looked up inside the tests (``interp.errors``), so each test stands or falls on its own."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp import errors

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."
TEXT = "the keys to the cabinet are on the table ."
LONG = "zq" * 6000  # 12,000 characters: under the length bound of the zoo models, far over 200


def _error(call):
    """The InterpError a call raises (anything else fails the test)."""
    with pytest.raises(Exception) as info:
        call()
    assert isinstance(info.value, errors.InterpError), f"{type(info.value).__name__}: {info.value}"
    return info.value


def _input_error(call, *fragments):
    err = _error(call)
    assert isinstance(err, errors.InputError), f"{type(err).__name__}: {err}"
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


def _echo_ok(err, text=LONG):
    """At most 200 characters of ``text`` in the message."""
    message = str(err)
    assert text[:201] not in message and text[1:202] not in message, message[:400]
    assert len(message) < 1000, len(message)


# ---- item 4: numbers are checked for type and range -----------------------------------------------------------


@pytest.mark.parametrize(
    "call, fragments",
    [
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, chunk=-1), ["chunk", "-1"], id="logit_lens(chunk=-1)"
        ),
        pytest.param(lambda c: interp.logit_lens(c, PROBE, chunk=0), ["chunk"], id="logit_lens(chunk=0)"),
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, chunk=2.5), ["chunk", "float"], id="logit_lens(chunk=2.5)"
        ),
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, top_k=True), ["top_k", "bool"], id="logit_lens(top_k=True)"
        ),
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, top_k=10**9),
            ["top_k", lambda c: f"1 to {c.d_vocab}"],
            id="logit_lens(top_k=10**9)",
        ),
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, position=True), ["position"], id="logit_lens(position=True)"
        ),
        pytest.param(
            lambda c: interp.logit_lens(c, PROBE, position=1.0), ["position"], id="logit_lens(position=1.0)"
        ),
        pytest.param(
            lambda c: interp.attention(c, PROBE, position=np.float64(2.0)),
            ["position"],
            id="attention(position=np.float64(2.0))",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", position=False),
            ["position"],
            id="attribute(position=False)",
        ),
        pytest.param(
            lambda c: interp.ablate(c, PROBE, [(0.9, 1.7)], answer="are"),
            ["layer must be an integer", "0.9"],
            id="ablate([(0.9, 1.7)])",
        ),
        pytest.param(
            lambda c: interp.ablate(c, PROBE, [(0, 1.0)], answer="are"),
            ["head", "1.0"],
            id="ablate([(0, 1.0)])",
        ),
        pytest.param(
            lambda c: interp.ablate(c, PROBE, [(True, 1)], answer="are"),
            ["layer", "bool"],
            id="ablate([(True, 1)])",
        ),
        pytest.param(
            lambda c: interp.ablate(c, PROBE, [(0, -1)], answer="are"),
            ["head (0, -1) does not exist"],
            id="ablate([(0, -1)])",
        ),
        pytest.param(lambda c: interp.ablate(c, PROBE, "0.1", answer="are"), ["heads"], id="ablate(0.1)"),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", n_steps=2.5),
            ["n_steps", "2.5"],
            id="attribute(n_steps=2.5)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", n_steps=True),
            ["n_steps", "bool"],
            id="attribute(n_steps=True)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", n_steps=-1),
            ["n_steps"],
            id="attribute(n_steps=-1)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", method="saliency", n_steps=10**9),
            ["1,000"],
            id="attribute(method=saliency, n_steps=10**9)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", method="saliency", tolerance=math.inf),
            ["tol"],
            id="attribute(method=saliency, tolerance=math.inf)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", tolerance=math.nan),
            ["tolerance"],
            id="attribute(tolerance=math.nan)",
        ),
        pytest.param(
            lambda c: interp.attribute(c, PROBE, answer="are", tolerance=True),
            ["tolerance"],
            id="attribute(tolerance=True)",
        ),
        pytest.param(
            lambda c: interp.induction_scores(c, seq_len=2.5), ["seq_len"], id="induction_scores(seq_len=2.5)"
        ),
        pytest.param(
            lambda c: interp.induction_scores(c, seq_len=True),
            ["seq_len", "bool"],
            id="induction_scores(seq_len=True)",
        ),
        pytest.param(lambda c: interp.induction_scores(c, seed="x"), ["seed"], id="induction_scores(seed=x)"),
        pytest.param(lambda c: interp.induction_scores(c, seed=-1), ["seed"], id="induction_scores(seed=-1)"),
        pytest.param(
            lambda c: interp.induction_scores(c, n_seqs=0), ["n_seqs"], id="induction_scores(n_seqs=0)"
        ),
        pytest.param(
            lambda c: interp.induction_scores(c, n_seqs=10**12),
            ["n_seqs", "1,000"],
            id="induction_scores(n_seqs=10**12)",
        ),
        pytest.param(
            lambda c: c.to_tokens(TEXT, truncate="no"), ["truncate"], id="c.to_tokens(TEXT, truncate=no)"
        ),
        pytest.param(
            lambda c: interp.attention(c, "the zzz cabinet", allow_unknown="no"),
            ["allow_unknown"],
            id="attention(the zzz cabinet, allow_unknown=no)",
        ),
        pytest.param(
            lambda c: interp.head_importance(c, PROBE, progress="no"),
            ["progress"],
            id="head_importance(progress=no)",
        ),
        pytest.param(
            lambda c: interp.patch(c, PROBE, CORRUPT, progress=0),
            ["progress"],
            id="patch(CORRUPT, progress=0)",
        ),
        pytest.param(
            lambda c: c.logits_at(c.to_tokens(TEXT), 1.5),
            ["position"],
            id="c.logits_at(c.to_tokens(TEXT), 1.5)",
        ),
    ],
)
def test_numbers_and_flags_of_the_wrong_type_or_range(causal, call, fragments):
    """A fragment may be a function of the model (a bound that is the model's own, e.g. its vocabulary)."""
    base = count_hooks(causal.bridge)
    _input_error(lambda: call(causal), *[f(causal) if callable(f) else f for f in fragments])
    assert count_hooks(causal.bridge) == base


def test_compare_suite_numbers(causal, bidirectional):
    for kwargs in ({"batch_size": True}, {"batch_size": 0}, {"n_steps": 10**9}, {"progress": "no"}):
        _input_error(lambda kw=kwargs: interp.compare_suite(causal, bidirectional, [PROBE], **kw))
    _input_error(lambda: interp.compare(causal, bidirectional, PROBE, n_steps=10**9), "n_steps")


def test_n_steps_has_a_documented_cap():
    import importlib

    ig = importlib.import_module("interp.analysis.attribution.integrated_gradients")
    assert ig.MAX_N_STEPS == 1000 and "1000" in interp.attribute.__doc__


_RUNAWAY = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a runaway allocation fails, not the machine
import torch
torch.set_num_threads(1)
import interp
from IPython.core.interactiveshell import InteractiveShell
c = interp.load("tiny-causal")
out = {}
try:
    interp.attribute(c, "the keys to the cabinet ___ on the table .", answer="are", n_steps=10**9)
    out["attribute"] = "returned"
except BaseException as err:
    out["attribute"] = [type(err).__name__, isinstance(err, interp.InterpError), str(err)[:300]]
sh = InteractiveShell.instance()
sh.run_line_magic("load_ext", "interp")
sh.user_ns["c"] = c
sh.run_line_magic("interp", 'attribute c "the keys to the cabinet ___ on the table ." --steps 1000000000')
out["magic"] = "survived"
print("RESULT " + json.dumps(out))
"""


def test_a_billion_steps_is_refused_at_once_and_does_not_kill_the_kernel(tmp_path):
    """The repro: n_steps=10**9 allocated > 22 GB and the OS killed the process (run here in a child process
    whose address space is capped, so a regression fails instead of taking the machine down)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _RUNAWAY],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # interp as installed, not a copy that happens to lie in the working directory
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    out = json.loads(lines[0][len("RESULT ") :])
    name, is_interp, message = out["attribute"]
    assert (name, is_interp) == (
        "InputError",
        True,
    ) and "n_steps must be an integer from 2 to 1,000" in message
    assert out["magic"] == "survived"
    assert "interp: n_steps must be an integer from 2 to 1,000" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.perf_counter() - start < 120


def test_attribution_estimates_its_memory_and_refuses_past_what_the_machine_has(causal, monkeypatch):
    from interp import checks
    from interp.analysis.attribution.memory import attribution_memory
    from interp.models.handle import Model

    m = causal
    small = attribution_memory(m, 10, 1, "integrated_gradients", 50, None)
    assert small > 0
    # One row of the frame's tokens: a one-token answer adds none.
    public = interp.estimate_memory(m, "attribute", PROBE, answer="are", tolerance=None)
    assert public == attribution_memory(m, m.frame(PROBE).T, 1, "integrated_gradients", 50, None)
    assert interp.estimate_memory(m, "attribute", PROBE, answer="are", n_steps=400) > public
    _input_error(lambda: interp.estimate_memory(m, "attribute", PROBE, n_steps=10**9), "n_steps")
    assert attribution_memory(m, 100, 1, "integrated_gradients", 50, None) > small
    assert attribution_memory(m, 10, 2, "integrated_gradients", 50, None) > small
    assert attribution_memory(m, 10, 1, "saliency", 50, None) < small
    # A real machine has room for the zoo model's attribution.
    free = checks.available_memory(m.device)
    assert free is not None and free > small
    forwards = []
    real_forward = Model._forward
    monkeypatch.setattr(Model, "_forward", lambda self, *a: forwards.append(1) or real_forward(self, *a))
    monkeypatch.setattr(checks, "available_memory", lambda device: 2**16)  # a machine with 64 KiB free
    base = count_hooks(m.bridge)
    for method in ("integrated_gradients", "saliency", "occlusion", "input_x_gradient"):
        err = _error(lambda method=method: interp.attribute(m, PROBE, method=method))
        assert isinstance(err, errors.ResourceError) and isinstance(err, errors.InputError)
        assert "would need about" in str(err) and "only 64.0 KiB is available on cpu" in str(err), str(err)
        assert method in str(err)
    assert forwards == [], "the refusal came after a forward pass"
    assert count_hooks(m.bridge) == base
    need = interp.estimate_memory(m, "attribute", PROBE, answer="are", method="saliency")
    err = _error(lambda: interp.attribute(m, PROBE, answer="are", method="saliency"))
    assert f"would need about {checks.size(need)}" in str(err)
    monkeypatch.setattr(checks, "available_memory", lambda device: None)  # unmeasurable: no refusal
    assert interp.attribute(m, PROBE, answer="are", method="saliency").scores.shape[0] > 0


def test_over_long_text_is_refused_before_tokenizing(causal, bidirectional, monkeypatch):
    """The repro: a 10 MB text took 20 s and 1.4 GB before the length error, which repeated the whole input."""
    huge = "word " * 2_000_000
    calls = []
    for m in (causal, bidirectional):
        real = type(m.tokenizer).__call__

        def counted(self, *a, real=real, **k):
            calls.append(1)
            return real(self, *a, **k)

        monkeypatch.setattr(type(m.tokenizer), "__call__", counted)
        for call in (
            lambda m=m: interp.attention(m, huge),
            lambda m=m: interp.logit_lens(m, huge + " ___ ."),
            lambda m=m: interp.attribute(m, PROBE, answer=huge),
            lambda m=m: m.to_tokens(huge),
            lambda m=m: m.frame(huge),
        ):
            start = time.perf_counter()
            err = _input_error(call, "10,0", "characters", f"at most {m.n_ctx} tokens")
            assert time.perf_counter() - start < 1.0
            _echo_ok(err, huge)
        monkeypatch.undo()
    assert calls == []
    _input_error(lambda: interp.compare(causal, bidirectional, huge), "characters")
    # truncate=True reads what fits instead.
    assert causal.to_tokens(TEXT + " " + huge, truncate=True).shape[1] == causal.n_ctx


def test_no_message_quotes_more_than_200_characters_of_input(causal, bidirectional):
    c = causal
    calls = [
        lambda: interp.compare(c, bidirectional, LONG),  # split_probe: no slot
        lambda: c.frame(LONG + " ___ " + LONG + " ___"),  # two slots
        lambda: interp.attribute(c, PROBE, answer=LONG),  # an answer not in the vocabulary
        lambda: interp.attention(c, LONG),  # an unknown word
        lambda: interp.attention(c, " ".join(f"w{i}x" for i in range(1500))),  # many unknown words
        lambda: interp.attribute(c, PROBE, method=LONG),
        lambda: interp.ablate(c, PROBE, [(0, 0)], mode=LONG),
        lambda: interp.ablate(c, PROBE, [LONG]),
        lambda: interp.patch(c, PROBE, CORRUPT, hook=LONG),
        lambda: interp.patch(c, PROBE, CORRUPT, hook="{" + LONG + "}"),
        lambda: interp.compare_suite(c, bidirectional, [1] + [LONG]),
        lambda: interp.compare_suite(c, bidirectional, [LONG]),
        lambda: c.run_with_cache(TEXT, names=[LONG]),
        lambda: c.to_single_token(LONG),
        lambda: interp.induction_scores(c, seed=LONG),
        lambda: interp.ablate(c, PROBE, [(0, 0)], mode="mean", reference=LONG),
        lambda: interp.load(LONG),
        lambda: interp.load_result(LONG),
    ]
    for call in calls:
        _echo_ok(_error(call))
    split = _error(lambda: interp.compare(c, bidirectional, LONG))
    assert "found 0" in str(split) and "characters)" in str(split)


# ---- item 5: no silent wrong results --------------------------------------------------------------------------


def test_answer_equal_to_contrast(causal, bidirectional):
    for m in (causal, bidirectional):
        _input_error(lambda m=m: interp.attribute(m, PROBE, answer="are", contrast="are"), "same")
        same_id = m.to_single_token("are")  # the same token, given as an id
        _input_error(lambda m=m, i=same_id: interp.attribute(m, PROBE, answer="are", contrast=i), "same")
        _input_error(lambda m=m: interp.patch(m, PROBE, CORRUPT, answer="are", contrast="are"), "same")


def test_token_tensors_of_a_shape_the_function_does_not_take(causal):
    c = causal
    toks = c.to_tokens(TEXT)  # (1, T)
    two = torch.cat([toks, toks])  # (2, T): analysed as row 0 only before
    for call in (
        lambda: interp.attention(c, two),
        lambda: interp.logit_lens(c, two),
        lambda: interp.attribute(c, two, answer="are"),
        lambda: interp.ablate(c, two, [(0, 0)]),
        lambda: c.frame(two),
        lambda: c.to_str_tokens(two),
    ):
        _input_error(call, "(2, ")
    for bad in (toks[None], toks.float(), toks[:, :0], toks * 0 - 1, toks * 10**6, toks.to(torch.int16)):
        _input_error(lambda bad=bad: interp.attention(c, bad), "token")
        _input_error(lambda bad=bad: c(bad), "token")
    # (T,) and (1, T) are the same input; the batch API of run_with_cache is documented and kept.
    assert np.array_equal(interp.attention(c, toks[0]).patterns, interp.attention(c, toks).patterns)
    logits, _ = c.run_with_cache(two, names=[])
    assert logits.shape[0] == 2 and torch.equal(logits[0], logits[1])


def test_an_attention_mask_of_the_wrong_shape_or_values(causal):
    c = causal
    toks = c.to_tokens(TEXT)
    T = toks.shape[1]
    clean = c(toks)
    for mask, fragment in (
        (torch.ones(1, 3, dtype=torch.long), "shape (1, 3)"),
        (torch.ones(2, T, dtype=torch.long), "shape (2, "),
        (torch.ones(1, T), "bool or integer"),
        (torch.full((1, T), 2), "only 0"),
        (torch.zeros(1, T, dtype=torch.long), "at least one"),
        ([1] * T, "torch tensor"),
    ):
        _input_error(lambda mask=mask: c.run_with_cache(toks, names=[], attention_mask=mask), fragment)
        _input_error(lambda mask=mask: c.forward(toks, attention_mask=mask), fragment)
        _input_error(lambda mask=mask: c.final_resid(toks, attention_mask=mask), fragment)
    ones = torch.ones(1, T, dtype=torch.long)
    assert torch.equal(c.run_with_cache(toks, names=[], attention_mask=ones)[0], clean)
    assert torch.equal(c.forward(toks, attention_mask=ones[0].bool()), clean)


def test_answers_that_are_not_words_or_ids(causal):
    for answer in (True, False, 1.5, math.nan, [], [True], [1.0], {"a": 1}, b"are", [0] * 10_000):
        _input_error(lambda answer=answer: interp.attribute(causal, PROBE, answer=answer), "answer")
        _input_error(lambda answer=answer: interp.logit_lens(causal, PROBE, answer=answer), "answer")
    _input_error(lambda: interp.attribute(causal, PROBE, answer="are", contrast=True), "contrast")


@pytest.mark.parametrize(
    "hook",
    [
        "blocks.{x}.hook_resid_post",
        "blocks.{layer}.{x}",
        "blocks.{0}.hook_resid_post",
        "blocks.{layer}.hook_resid_post{",
        "blocks.{layer:>2}.hook_resid_post",
        "{}",
    ],
)
def test_patch_template_fields(causal, hook):
    err = _input_error(
        lambda: interp.patch(causal, PROBE, CORRUPT, hook=hook, answer="are", contrast="is", progress=False)
    )
    assert "the only valid field is {layer}" in str(err), str(err)


def test_patch_templates_that_work_and_names_that_do_not(causal):
    r = interp.patch(
        causal, PROBE, CORRUPT, hook="blocks.{layer}.hook_resid_post", answer="are", contrast="is"
    )
    short = interp.patch(causal, PROBE, CORRUPT, hook="resid_post", answer="are", contrast="is")
    assert np.array_equal(r.restored, short.restored)
    err = _error(lambda: interp.patch(causal, PROBE, CORRUPT, hook="blocks.{layer}.nope", answer="are"))
    assert isinstance(err, errors.HookNameError) and "blocks.0.nope" in str(err)
    _input_error(lambda: interp.patch(causal, PROBE, CORRUPT, hook=["resid_post"]), "hook must be a string")


def test_nan_weights_are_named_not_reported_as_broken_rollout_or_returned(tiny_folder):
    m = interp.load(tiny_folder("gpt2"))
    with torch.no_grad():
        m.bridge.original_model.transformer.h[0].attn.c_attn.bias[0] = math.nan
    for call in (
        lambda: interp.attention(m, PROBE),
        lambda: interp.patch(m, PROBE, CORRUPT, answer="are", contrast="is", progress=False),
        lambda: interp.head_importance(m, PROBE, progress=False),
        lambda: interp.induction_scores(m, seq_len=4, n_seqs=1),
    ):
        err = _error(call)
        assert isinstance(err, errors.NonFiniteError) and "rollout" not in str(err), str(err)
        assert "NaN or infinite" in str(err) and "h.0.attn" in str(err)


def test_reference_must_be_a_list_of_texts_not_one_string(causal):
    # One string was iterated as characters: a mean over single letters.
    _input_error(lambda: interp.ablate(causal, PROBE, [(0, 0)], mode="mean", reference="the keys are here ."))
    _input_error(lambda: interp.ablate(causal, PROBE, [(0, 0)], mode="mean", reference=[1, 2]))
    _input_error(lambda: interp.ablate(causal, PROBE, [(0, 0)], mode="mean", reference=[]))


# ---- item 9: one error type ------------------------------------------------------------------------------------


def test_raw_errors_are_now_interp_errors(causal, bidirectional):
    c = causal
    toks = c.to_tokens(TEXT)
    calls = [
        lambda: interp.induction_scores(c, seed="x"),  # RuntimeError from torch
        lambda: interp.induction_scores(c, seq_len=2.5),  # TypeError
        lambda: interp.attribute(c, PROBE, method=["x"]),  # TypeError: unhashable
        lambda: interp.patch(c, PROBE, CORRUPT, hook={}),  # TypeError: unhashable
        lambda: interp.patch(c, PROBE, CORRUPT, hook="blocks.{layer}.{x}"),  # KeyError
        lambda: interp.patch(c, PROBE, CORRUPT, hook="blocks.{0}"),  # IndexError
        lambda: interp.patch(c, PROBE, CORRUPT, hook="blocks.{layer"),  # ValueError
        lambda: c.run_with_cache(toks, names=5),  # TypeError: not iterable
        lambda: c.decode_resid("resid"),  # AttributeError
        lambda: c.decode_resid(torch.zeros(3)),  # a shape error deep in the head
        lambda: c.forward(torch.tensor([[10**6]])),  # IndexError in the embedding
        lambda: interp.attention("tiny-causal", TEXT),  # AttributeError: a name, not a model
        lambda: interp.logit_lens(None, PROBE, answer="are"),
        lambda: interp.attribute(object(), PROBE),
        lambda: interp.ablate(c.bridge, PROBE, [(0, 0)]),
        lambda: interp.patch(c.tokenizer, PROBE, CORRUPT),
        lambda: interp.compare(c, "tiny-bidirectional", PROBE),
        lambda: interp.compare_suite(c, bidirectional, 5),
        lambda: interp.compare_suite(c, bidirectional, "the ___ ."),
        lambda: interp.ablate(c, PROBE, 5),
        lambda: interp.ablate(c, PROBE, {(0, 0): 1}),
    ]
    for call in calls:
        _error(call)


MALFORMED = [  # --steps 1000000000 runs in a child process above: before, it took the whole process down
    'attribute c "the keys to the cabinet ___ here ." --steps -3',
    'attribute c "the keys to the cabinet ___ here ." --steps 2.5',
    'lens c "the keys to the cabinet ___ here ." --position 1.5',
    'lens c "the keys to the cabinet ___ here ." --position 99999999999999999999',
    'lens c "the keys to the cabinet ___ here ." --answer',
    'ablate c "the keys to the cabinet ___ here ." 0.9.1',
    'ablate c "the keys to the cabinet ___ here ." 0.99',
    'ablate c "the keys to the cabinet ___ here ." 0.1 --mode nope',
    'attention c "unclosed',
    'patch c "the key ___ ." "the keys ___ ." --hook blocks.{x}.hook_resid_post',
    "compare c c",
    "load",
    "load tiny-causal as",
    "load tiny-causal as 1x",
    'attention c "' + "zq" * 600 + '"',
    "x" * 5000,
    "--steps",
    'attention c "the keys" --bogus 1',
    'importance c "the keys to the cabinet ___ here ." --mode mean --answer are --answer',
]


def test_malformed_magic_lines_print_one_line(tiny_folder, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    sh.user_ns["c"] = interp.load("tiny-causal")
    try:
        for line in MALFORMED:
            capsys.readouterr()
            assert sh.run_line_magic("interp", line) is None, line
            out = capsys.readouterr()
            err = out.err
            assert err.startswith("interp: ") and err.count("\n") == 1, (line, err)
            assert "Traceback" not in err + out.out and len(err) < 1000, (line, err)
    finally:
        sh.run_line_magic("unload_ext", "interp")


def test_the_parameter_audit_covers_every_public_parameter():
    """docs/parameters.md names every parameter of every public function and Model method, and every magic."""
    import inspect
    from pathlib import Path

    from interp.analysis import __all__ as analyses
    from interp.ipython import COMMANDS

    doc = (Path(__file__).parent.parent / "docs" / "parameters.md").read_text()
    functions = [getattr(interp, name) for name in analyses] + [interp.load, interp.wrap, interp.load_result]
    methods = [
        getattr(interp.Model, name)
        for name in dir(interp.Model)
        if not name.startswith("_") and callable(getattr(interp.Model, name))
    ]
    missing = []
    for fn in functions + methods:
        for param in inspect.signature(fn).parameters:
            if param != "self" and f"`{param}`" not in doc and f"`{param}`," not in doc:
                missing.append(f"{fn.__qualname__}({param})")
    for fn in functions:
        if f"`{fn.__name__}`" not in doc and f"`interp.{fn.__name__}`" not in doc:
            missing.append(fn.__name__)
    for command in COMMANDS:
        if command != "help" and f"`{command} " not in doc:
            missing.append(f"%interp {command}")
    assert not missing, missing


def test_wrap_checks_name_and_revision(tiny_folder):
    import transformers

    folder = tiny_folder("gpt2")
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    for kwargs in ({"revision": 5}, {"name": 5}, {"device": 5}):
        err = _error(lambda kw=kwargs: interp.wrap(hf, tok, **kw))
        assert isinstance(err, errors.ModelLoadError) and next(iter(kwargs)) in str(err), str(err)


def test_figure_options_are_checked(causal):
    import widgets

    att = interp.attention(causal, TEXT)
    for opts, fragment in (
        ({"layer": True}, "layer must be an integer"),  # an IndexError before
        ({"layer": 0.5}, "layer must be an integer"),
        ({"head": 1.0}, "head must be an integer"),
        ({"kind": "model", "max_cells": 0}, "max_cells"),
        ({"bogus": 1}, "unknown figure option(s) bogus"),  # a TypeError before
    ):
        _input_error(lambda opts=opts: widgets.figure(att, **opts), fragment)
    assert len(widgets.figure(att, layer=1, head=2).data) > 0
