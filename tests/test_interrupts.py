"""Ctrl-C at any moment leaves no hook attached and the model as it was: a timer-driven interrupt storm over
the analyses on both zoo models, and each way a hook could be stranded, forced on purpose."""

import gc
import random
import signal
import time

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp.models import hooks as _hooks

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."
TEXT = "anna lives in oslo . anna lives in"


def _operations(m):
    """name -> a call returning a numpy array; together they cover every way the analyses attach hooks."""
    last = f"blocks.{m.n_layers - 1}.hook_resid_post"
    text = m.frame(PROBE).tokens

    def cached():
        _, cache = m.run_with_cache(text, names=["blocks.0.attn.hook_pattern", last], stop_after=last)
        return np.concatenate(
            [cache[last].numpy().ravel(), cache["blocks.0.attn.hook_pattern"].numpy().ravel()]
        )

    return {
        "run_with_cache": cached,
        "attention": lambda: interp.attention(m, PROBE).patterns,
        "logit_lens": lambda: interp.logit_lens(m, PROBE).top_probs,
        "attribute": lambda: interp.attribute(m, PROBE, answer="are", n_steps=8, tolerance=None).scores,
        "patch": lambda: (
            interp.patch(m, PROBE, CORRUPT, answer="are", contrast="is", progress=False).restored
        ),
    }


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def test_interrupt_storm_leaves_no_hook_and_the_same_results(causal, bidirectional):
    """>= 500 interrupts at random moments: no hook outlives the next call, every result is bit-identical."""
    rng = random.Random(0)
    previous = signal.signal(signal.SIGALRM, _interrupt)
    totals = {"interrupts": 0, "completed": 0, "immediate_leaks": 0, "repaired_by_next_call": 0}
    try:
        for m in (causal, bidirectional):
            base = count_hooks(m.bridge)
            ops = _operations(m)
            reference, duration = {}, {}
            for name, op in ops.items():
                op()
                start = time.perf_counter()
                reference[name] = op().copy()
                duration[name] = time.perf_counter() - start
            interrupts = 0
            for _ in range(2000):
                if interrupts >= 260:
                    break
                name = rng.choice(list(ops))
                try:
                    signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, 1.05 * duration[name]))
                    out = ops[name]()
                    signal.setitimer(signal.ITIMER_REAL, 0)
                except KeyboardInterrupt:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    interrupts += 1
                else:
                    totals["completed"] += 1
                    assert np.array_equal(out, reference[name]), name
                if count_hooks(m.bridge) != base:
                    totals["immediate_leaks"] += 1
                    # Model's own methods clean up in their own frame: nothing may ever be left by them
                    assert name != "run_with_cache", "run_with_cache left a hook behind"
                    m(TEXT)  # the next forward pass removes what an interrupted clean-up left
                    totals["repaired_by_next_call"] += 1
                assert count_hooks(m.bridge) == base, name
                torch.set_grad_enabled(True)
            totals["interrupts"] += interrupts
            for name, op in ops.items():  # after the storm: the same results, the same hooks as at load
                assert np.array_equal(op(), reference[name]), name
            assert count_hooks(m.bridge) == base
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    print(totals)
    assert totals["interrupts"] >= 500, totals


def test_an_interrupt_inside_the_clean_up_is_finished_by_the_second_pass(causal, monkeypatch):
    m = causal
    base, clean = count_hooks(m.bridge), m(TEXT)
    calls = []
    close = _hooks.Attachment.close

    def interrupted_close(self, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # lands before anything was removed
        return close(self, **kwargs)

    monkeypatch.setattr(_hooks.Attachment, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt), m.hooks({"blocks.0.hook_resid_post": lambda t, h: t * 2}):
        assert count_hooks(m.bridge) == base + 1
    assert count_hooks(m.bridge) == base
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        m.run_with_cache(TEXT, names=["blocks.0.hook_resid_post"])
    monkeypatch.undo()
    assert count_hooks(m.bridge) == base and torch.equal(m(TEXT), clean)


def _abandon(m, fns):
    """Enter a hook context and leave without exiting it: what an interrupt at the very start of
    ``__exit__`` does. The caller's frame is gone afterwards, the context object is still referenced."""
    ctx = m.hooks(fns)
    ctx.__enter__()
    return ctx


def test_a_context_whose_exit_never_ran_is_swept_by_the_next_forward(causal):
    m = causal
    base, clean = count_hooks(m.bridge), m(TEXT)
    kept = _abandon(m, {"blocks.1.hook_resid_post": lambda t, h: torch.zeros_like(t)})
    assert count_hooks(m.bridge) == base + 1
    assert torch.equal(m(TEXT), clean)  # the stranded hook is gone before this forward pass runs
    assert count_hooks(m.bridge) == base and kept.closed


def test_a_dropped_context_removes_its_hooks_when_collected(causal):
    m = causal
    base = count_hooks(m.bridge)
    _abandon(m, {"blocks.0.hook_resid_pre": lambda t, h: None})
    gc.collect()
    assert count_hooks(m.bridge) == base


def test_live_contexts_survive_the_sweep(causal):
    """The sweep keeps hooks whose with-block is still running, also across nested calls and generators."""
    m = causal
    base, clean = count_hooks(m.bridge), m(TEXT)

    def zero(t, h):
        return torch.zeros_like(t)

    def inside_a_generator():
        with m.hooks({"blocks.1.hook_resid_post": zero}):
            yield

    gen = inside_a_generator()
    next(gen)  # suspended inside its with-block: its frame is on no stack, yet its context is open
    edited = m(TEXT)
    with m.hooks({"blocks.0.hook_resid_post": lambda t, h: None}):
        _, cache = m.run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
        assert count_hooks(m.bridge) == base + 2
    assert not torch.equal(edited, clean) and torch.all(cache["blocks.1.hook_resid_post"] == 0)
    gen.close()
    assert count_hooks(m.bridge) == base and torch.equal(m(TEXT), clean)


def test_a_stranded_captum_hook_is_removed_once_no_captum_call_runs(causal):
    m = causal
    base, clean = count_hooks(m.bridge), m(TEXT)

    def layer_forward_hook(module, inputs, output):  # stands in for captum's layer hook, left by an interrupt
        return torch.zeros_like(output)

    layer_forward_hook.__module__ = "captum.attr._core.layer.layer_integrated_gradients"
    m.bridge.embed.register_forward_hook(layer_forward_hook)
    assert torch.equal(m(TEXT), clean)
    assert count_hooks(m.bridge) == base


def test_reset_restores_the_state_at_load(bidirectional):
    m = bidirectional
    base = count_hooks(m.bridge)
    clean = m("the [MASK] barked .")
    m.bridge.blocks[0].register_forward_hook(lambda mod, i, o: None)  # by hand, on the escape hatch
    m.bridge.blocks[1].attn.register_forward_pre_hook(lambda mod, i: None)
    m.bridge.add_hook("blocks.0.hook_resid_post", lambda t, hook: t * 0)  # TransformerLens's own way
    kept = _abandon(m, {"blocks.1.hook_resid_pre": lambda t, h: None})
    m.bridge.train()
    assert count_hooks(m.bridge) == base + 4
    assert m.reset() == 4
    assert count_hooks(m.bridge) == base and not m.bridge.training and kept.closed
    assert not m.bridge.list_hooks(including_permanent=False)
    assert torch.equal(m("the [MASK] barked ."), clean)
    assert m.reset() == 0


def test_an_interrupt_at_any_line_before_an_analysis_starts_never_leaves_a_lock_held(causal, bidirectional):
    """An interrupt raised at each line boundary in turn (where a signal handler's exception can land), from the
    call of ``compare`` until its body starts, that is through the wrapper that takes both models' locks. A lock
    left held by the interrupted (main) thread is invisible to it (the lock is reentrant) and stops every other
    thread's analysis of that model for ever: a test suite once hung in test_threads after an interrupt storm."""
    import sys

    body = interp.compare.__wrapped__.__code__
    boundaries = 0
    for k in range(10_000):

        def tracer(frame, event, arg, seen=[0], at=k + 1):  # noqa: B006 (one counter per run)
            if frame.f_code is body:
                sys.settrace(None)  # the analysis itself has started: this run is not interrupted
                return None
            seen[0] += 1
            if seen[0] == at:
                raise KeyboardInterrupt
            return tracer

        sys.settrace(tracer)
        try:
            interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
        except KeyboardInterrupt:
            boundaries += 1
        else:
            break  # k is past the last boundary before the body
        finally:
            sys.settrace(None)
        for m in (causal, bidirectional):
            assert not m.lock._is_owned(), f"an interrupt at boundary {k} left {m.name}'s lock held"
    assert boundaries >= 10, boundaries  # the wrapper's lines were reached
