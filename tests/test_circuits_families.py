"""Per-head patching, path patching and attribution patching on every supported family (tiny random models):
the identities that hold whatever the weights, so that a family whose hooks are wired differently fails here."""

import numpy as np
import pytest
import torch
from conftest import ARCHS, count_hooks

import interp
from interp.errors import InputError

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."


@pytest.mark.parametrize("arch", ARCHS)
def test_circuit_grids_hold_their_identities_on_every_family(arch, tiny_model):
    torch.set_num_threads(1)
    m = tiny_model(arch)
    base = count_hooks(m.bridge)
    kw = dict(progress=False)
    z = interp.patch(m, CLEAN, CORRUPT, hook="z", by="head", **kw)
    L, H = m.n_layers, m.n_heads
    assert z.raw.shape == (L, H) and np.isfinite(z.raw).all()
    # answers left to their defaults (clean top-1 against corrupt top-1): the same for every analysis, and
    # a random subword model's may be a token that no string spells back
    by_pos = interp.patch(m, CLEAN, CORRUPT, hook="z", by="head_position", **kw)
    # every head of a layer patched at every position at once is the layer's whole attention input to W_O
    assert by_pos.raw.shape == (L, H, len(by_pos.tokens))
    # a last-layer head reaches the logits only directly: its path to the logits is its whole patch
    paths = interp.path_patch(m, CLEAN, CORRUPT, senders="all", receivers="logits", **kw)
    np.testing.assert_allclose(paths.raw[-1], z.raw[-1], atol=1e-5, rtol=1e-5)
    # the pattern patches on every family, through the head output where the engine ignores an edited one
    if "blocks.0.attn.hook_v" in m.hook_names():
        pattern = interp.patch(m, CLEAN, CORRUPT, hook="pattern", by="head", **kw)
        assert pattern.raw.shape == (L, H) and np.isfinite(pattern.raw).all()
    else:  # ModernBERT's fused attention has no value hook: its pattern cannot be patched
        with pytest.raises(InputError, match="hook='z'"):
            interp.patch(m, CLEAN, CORRUPT, hook="pattern", by="head", **kw)
    # attribution patching scores the same two runs as real patching, and its grid has the same shape
    atp = interp.attribution_patch(m, CLEAN, CORRUPT, hook="z", by="head", **kw)
    assert atp.raw.shape == z.raw.shape and np.isfinite(atp.raw).all()
    np.testing.assert_allclose(
        [atp.clean_diff, atp.corrupt_diff], [z.clean_diff, z.corrupt_diff], rtol=1e-4, atol=1e-5
    )
    assert count_hooks(m.bridge) == base
