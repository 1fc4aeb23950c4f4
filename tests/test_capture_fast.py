"""Capture's short path (tokens and mask checked once, left-over hooks swept once, as the hook context opens)
leaves no hook behind, after a run or an error."""

import pytest
import torch
from conftest import count_hooks

from interp.errors import HookError, InputError, NonFiniteError

TEXT = "anna lives in oslo . ben lives in rome . anna lives in"


def test_no_hook_survives_a_capture_or_its_errors(tiny_model):
    m = tiny_model("gpt2")
    tokens = m.to_tokens(TEXT)
    base = count_hooks(m.bridge)
    names = ["blocks.0.attn.hook_pattern", "blocks.1.hook_resid_post"]
    m.run_with_cache(tokens, names=names)
    assert count_hooks(m.bridge) == base
    m.run_with_cache(tokens, names=names, stop_after="blocks.0.hook_resid_post")
    assert count_hooks(m.bridge) == base

    def boom(t, hook):
        raise ValueError("boom")

    with pytest.raises(HookError), m.hooks({"blocks.0.hook_resid_pre": boom}):
        m.run_with_cache(tokens, names=names)
    assert count_hooks(m.bridge) == base

    def poison(t, hook):
        return torch.full_like(t, float("nan"))

    with pytest.raises(NonFiniteError), m.hooks({"blocks.1.hook_resid_pre": poison}):
        m.run_with_cache(tokens, names=names)
    assert count_hooks(m.bridge) == base
    with pytest.raises(InputError):
        m.run_with_cache(torch.tensor([[0, m.d_vocab]]), names=names)
    with pytest.raises(InputError):
        m.run_with_cache(tokens, names=names, attention_mask=torch.zeros_like(tokens))
    assert count_hooks(m.bridge) == base
