"""The in-place no-gradient forms of GPT-2's GELU and the engine's LayerNorm (interp.models.handle) give the
same values to the bit as the original forms, in a capture, with gradients and with hooks on the inner hook
points; and capture's shorter path (tokens checked once, one sweep) leaves no hook behind, after a run or an
error."""

from contextlib import contextmanager

import pytest
import torch
from conftest import count_hooks

import interp
from interp.errors import HookError, InputError, NonFiniteError
from interp.models import handle as _handle

TEXT = "anna lives in oslo . ben lives in rome . anna lives in"
ARCHS = ["gpt2", "gpt_neox", "llama", "bert"]


def fast_modules(m: interp.Model) -> list[torch.nn.Module]:
    return [mod for mod in m.bridge.modules() if type(mod).__name__.startswith("InPlace")]


@contextmanager
def original_forms(m: interp.Model):
    """The GELUs and LayerNorms back in their original classes for the block (the path before the change)."""
    mods = fast_modules(m)
    classes = [type(mod) for mod in mods]
    for mod, cls in zip(mods, classes):
        mod.__class__ = cls.__mro__[1]
    try:
        yield
    finally:
        for mod, cls in zip(mods, classes):
            mod.__class__ = cls


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.contiguous().view(ints), b.contiguous().view(ints))
    return torch.equal(a, b)


def same_capture(before, after) -> bool:
    (l0, c0), (l1, c1) = before, after
    logits = (l0 is None and l1 is None) or same_bits(l0, l1)
    return logits and c0.keys() == c1.keys() and all(same_bits(c0[k], c1[k]) for k in c0)


def test_gpt2_gets_the_inplace_forms(tiny_model):
    m = tiny_model("gpt2")
    kinds = {type(mod).__name__ for mod in fast_modules(m)}
    assert kinds == {"InPlaceNewGELU", "InPlaceNormalizationBridge"}
    n_norms = 2 * m.n_layers + 1  # ln1, ln2 of every block and ln_final
    assert sum(type(mod).__name__ == "InPlaceNormalizationBridge" for mod in fast_modules(m)) == n_norms


@pytest.mark.parametrize("arch", ARCHS)
def test_capture_is_bit_identical_to_the_original_forms(arch, tiny_model):
    m = tiny_model(arch)
    tokens = m.to_tokens(TEXT)
    L = m.n_layers
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(L)] + [
        f"blocks.{i}.hook_resid_post" for i in range(L)
    ]
    for which in (names, None):  # None hooks every point, LayerNorm's inner ones too (the original form runs)
        with original_forms(m):
            before = m.run_with_cache(tokens, names=which)
        assert same_capture(before, m.run_with_cache(tokens, names=which))
    if m.has_lm_head:
        with original_forms(m):
            logits = m(tokens)
        assert same_bits(logits, m(tokens))


def test_gradients_take_the_original_forms(tiny_model):
    m = tiny_model("gpt2")
    tokens = m.to_tokens(TEXT)

    def grad_of_embedding() -> tuple[torch.Tensor, torch.Tensor]:
        box = {}

        def keep(t, hook):
            t.requires_grad_(True)
            box["x"] = t

        with torch.enable_grad(), m.hooks({"hook_embed": keep}):
            resid = m.final_resid(tokens)
            resid.square().sum().backward()
        return resid.detach(), box["x"].grad

    with original_forms(m):
        r0, g0 = grad_of_embedding()
    r1, g1 = grad_of_embedding()
    assert same_bits(r0, r1) and same_bits(g0, g1)


def test_an_edit_at_a_layernorm_inner_point_still_counts(tiny_model):
    m = tiny_model("gpt2")
    tokens = m.to_tokens(TEXT)

    def halve(t, hook):
        return t * 0.5

    with original_forms(m), m.hooks({"blocks.0.ln1.hook_normalized": halve}):
        before = m.run_with_cache(tokens, names=["blocks.0.hook_resid_post"])
    with m.hooks({"blocks.0.ln1.hook_normalized": halve}):
        after = m.run_with_cache(tokens, names=["blocks.0.hook_resid_post"])
    plain = m.run_with_cache(tokens, names=["blocks.0.hook_resid_post"])
    assert same_capture(before, after)
    assert not torch.equal(after[1]["blocks.0.hook_resid_post"], plain[1]["blocks.0.hook_resid_post"])


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


def test_inplace_paths_leave_other_engines_and_own_forwards_alone(tiny_model):
    _handle._inplace_paths(object())  # another engine's stand-in: nothing to do, no error
    m = tiny_model("gpt2")
    n = len(fast_modules(m))
    _handle._inplace_paths(m.bridge)  # idempotent
    assert len(fast_modules(m)) == n


def test_a_pickled_inplace_module_loads_again(tiny_model):
    import pickle

    m = tiny_model("gpt2")
    gelu = next(mod for mod in fast_modules(m) if type(mod).__name__ == "InPlaceNewGELU")
    again = pickle.loads(pickle.dumps(gelu))
    assert type(again) is type(gelu)
    x = torch.randn(3, 5)
    with torch.no_grad():
        assert same_bits(again(x), gelu(x))
    assert _handle.InPlaceNewGELU is type(gelu)
