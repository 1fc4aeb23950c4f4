"""User hooks are checked (what they return, what they are), and NaN or infinite values are named at the first
hook point where they appear, on every analysis's run path."""

import math
import re

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp.errors import HookError, HookNameError, InterpError, NonFiniteError
from interp.models import nonfinite

TEXT = "anna lives in oslo . anna lives in"
PROBE = "the keys to the cabinet ___ on the table ."
NAME = "blocks.1.hook_resid_post"


# ---- what a user hook may return -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "got"),
    [
        (lambda t: t[..., :3], r"shape \(1, 9, 3\)"),
        (lambda t: t[0], r"shape \(9, 32\)"),
        (lambda t: t.double(), "dtype torch.float64"),
        (lambda t: t.long(), "dtype torch.int64"),
        (lambda t: 3, "returned an int"),
        (lambda t: t.tolist(), "returned a list"),
        (lambda t: (t,), "returned a tuple"),
        (lambda t: t.numpy(), "returned a.? ndarray"),
    ],
    ids=["narrower", "no-batch", "float64", "int64", "int", "list", "tuple", "numpy"],
)
def test_a_hook_that_returns_the_wrong_thing(tiny_model, returned, got):
    m = tiny_model("gpt2")
    base, clean = count_hooks(m.bridge), m(TEXT)
    with pytest.raises(HookError) as info, m.hooks({NAME: lambda t, hook: returned(t)}):
        m(TEXT)
    message = str(info.value)
    assert NAME in message and "(1, 9, 32)" in message and "torch.float32" in message, message
    assert re.search(got, message), message
    assert count_hooks(m.bridge) == base and torch.equal(m(TEXT), clean)


def test_hooks_that_return_a_replacement_or_edit_in_place_still_work(tiny_model):
    m = tiny_model("gpt2")
    clean = m(TEXT)

    def replace(t, hook):
        return torch.zeros_like(t)

    def in_place(t, hook):
        t.zero_()

    with m.hooks({NAME: replace}):
        replaced = m(TEXT)
    with m.hooks({NAME: in_place}):
        edited = m(TEXT)
    assert torch.equal(replaced, edited) and not torch.equal(replaced, clean)
    z = "blocks.0.attn.hook_z"  # a converted hook point: fn sees (batch, pos, heads, d_head)
    shapes = []
    with m.hooks({z: lambda t, hook: shapes.append(tuple(t.shape)) or t.clone()}):
        assert torch.equal(m(TEXT), clean)
    assert shapes == [(1, 9, 4, 8)]


def test_bad_hook_arguments(tiny_model):
    m = tiny_model("gpt2")
    base = count_hooks(m.bridge)
    with pytest.raises(HookError, match="dict"):
        m.hooks([NAME])
    with pytest.raises(HookError, match="not a function"):
        m.hooks({NAME: 3})
    with pytest.raises(HookNameError, match="as a list"):
        m.run_with_cache(TEXT, names=NAME)
    with pytest.raises(HookNameError) as info:
        m.hooks({"x" * 5000: lambda t, h: None})
    assert len(str(info.value)) < 400
    ctx = m.hooks({NAME: lambda t, h: None})
    with ctx:
        pass
    with pytest.raises(HookError, match="only once"), ctx:
        pass
    assert count_hooks(m.bridge) == base


def test_a_raising_hook_is_reported_briefly(tiny_model):
    m = tiny_model("gpt2")

    def loud(t, hook):
        raise ValueError("y" * 10_000)

    with pytest.raises(HookError, match=f"{NAME}.*ValueError") as info, m.hooks({NAME: loud}):
        m(TEXT)
    assert len(str(info.value)) < 500 and isinstance(info.value.__cause__, ValueError)


# ---- NaN and infinity -----------------------------------------------------------------------------------------


@pytest.fixture
def fresh(tiny_folder):
    """A model of its own, whose weights a test may break."""
    return lambda arch: interp.load(tiny_folder(arch))


def test_nan_in_the_embeddings_is_named_at_the_first_hook_point(fresh):
    m = fresh("gpt2")
    base = count_hooks(m.bridge)
    ids = m.frame(PROBE).tokens[0].tolist()
    with torch.no_grad():
        m.bridge.original_model.transformer.wte.weight[ids[2], 0] = math.nan
    calls = {
        "forward": lambda: m(TEXT.replace("lives", "keys")),
        "attention": lambda: interp.attention(m, PROBE),
        "logit_lens": lambda: interp.logit_lens(m, PROBE),
        "attribute": lambda: interp.attribute(m, PROBE, n_steps=4, tolerance=None),
        "patch": lambda: interp.patch(m, PROBE, PROBE.replace("keys", "key"), answer="are", contrast="is"),
        "ablate": lambda: interp.ablate(m, PROBE, [(0, 0)], answer="are"),
        "run_with_cache": lambda: m.run_with_cache(
            PROBE.replace("___", "are"), stop_after="blocks.0.attn.hook_pattern"
        ),
    }
    for name, call in calls.items():
        with pytest.raises(NonFiniteError) as info:
            call()
        message = str(info.value)
        assert "NaN or infinite" in message and "first appear at hook point hook_embed" in message, (
            name,
            message,
        )
        assert "transformer.wte.weight" in message, message
        assert count_hooks(m.bridge) == base, name


def test_nan_late_in_the_model_spares_what_comes_before(fresh):
    m = fresh("gpt2")
    with torch.no_grad():
        m.bridge.original_model.transformer.h[1].mlp.c_fc.weight[0, 0] = math.nan
    patterns = interp.attention(m, PROBE).patterns  # every pattern is computed before block 1's MLP
    assert np.isfinite(patterns).all()
    with pytest.raises(NonFiniteError, match=r"first appear at hook point blocks\.1\.mlp") as info:
        interp.logit_lens(m, PROBE)
    assert "h.1.mlp.c_fc.weight" in str(info.value)


def test_nan_in_the_masked_lm_head(fresh):
    m = fresh("bert")
    with torch.no_grad():
        m.bridge.original_model.cls.predictions.transform.dense.weight[0, 0] = math.inf
    with pytest.raises(NonFiniteError, match="first appear at hook point mlm_head") as info:
        interp.logit_lens(m, PROBE)
    assert "cls.predictions.transform.dense.weight" in str(info.value)
    assert np.isfinite(interp.attention(m, PROBE).patterns).all()


def test_infinity_from_a_hook_is_named_at_that_hook(tiny_model):
    m = tiny_model("bert")
    base = count_hooks(m.bridge)
    name = "blocks.0.hook_resid_post"
    with pytest.raises(NonFiniteError, match=rf"first appear at hook point {name}") as info:
        with m.hooks({name: lambda t, hook: torch.full_like(t, math.inf)}):
            m("the [MASK] barked .")
    assert "the weights are all finite" in str(info.value) and isinstance(info.value, InterpError)
    assert count_hooks(m.bridge) == base


def test_masked_attention_scores_are_not_mistaken_for_infinities(tiny_model):
    for arch in ("gpt2", "bert"):
        m = tiny_model(arch)
        _, cache = m.run_with_cache(m.frame(PROBE).tokens, stop_after="blocks.0.attn.hook_attn_scores")
        assert nonfinite.nonfinite("blocks.0.attn.hook_attn_scores", torch.tensor([-math.inf, 0.0])) is False
        assert nonfinite.nonfinite("blocks.0.attn.hook_attn_scores", torch.tensor([math.nan])) is True
        assert "blocks.0.attn.hook_attn_scores" in cache
