"""The hook-point table is built once per model, follows the engine's switches and aliases, and
``Model.reset()`` keeps ``hook_attn_out``/``hook_resid_mid`` on the sublayers they name."""

import pytest
import torch
from conftest import count_hooks
from test_parity import ATTENTION_OUTPUT, POST_LN_MID

import interp
from interp.errors import HookNameError
from interp.models import hooks as _hooks

TEXT = "anna lives in oslo . ben lives in rome . anna lives in"


def sublayer_outputs(m: interp.Model, arch: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The cached ``hook_attn_out``/``hook_resid_mid`` and the same tensors read off the Hugging Face modules."""
    hf, seen, handles = m.bridge.original_model, {}, []

    def keep(key):
        return lambda mod, args, out: seen.__setitem__(
            key, (out[0] if isinstance(out, tuple) else out).detach()
        )

    for i in range(m.n_layers):
        handles.append(ATTENTION_OUTPUT[arch](hf, i).register_forward_hook(keep(f"blocks.{i}.hook_attn_out")))
        if arch in POST_LN_MID:
            handles.append(POST_LN_MID[arch](hf, i).register_forward_hook(keep(f"blocks.{i}.hook_resid_mid")))
    try:
        _, cache = m.run_with_cache(TEXT, names=list(seen.keys()) or None)
    finally:
        for h in handles:
            h.remove()
    return {k: cache[k] for k in seen}, seen


@pytest.mark.parametrize("arch", ["gpt2", "bert", "distilbert", "gemma2", "olmo2"])
def test_reset_keeps_the_sublayer_names_on_the_sublayers(arch, tiny_folder):
    m = interp.load(tiny_folder(arch))
    base = count_hooks(m.bridge)
    # The engine's own alias tables, as a rebuild of its components would leave them.
    for block in m.bridge.blocks:
        block.hook_aliases = dict(type(block).hook_aliases)
        object.__setattr__(block, "hook_attn_out", block.attn.hook_out)
        if arch in POST_LN_MID:
            object.__setattr__(block, "hook_resid_mid", block.ln2.hook_in)
    m.bridge.blocks[0].register_forward_hook(lambda mod, i, o: None)
    assert m.reset() == 1
    assert count_hooks(m.bridge) == base
    ours, theirs = sublayer_outputs(m, arch)
    assert set(ours) == set(theirs) and len(ours) == m.n_layers * (2 if arch in POST_LN_MID else 1)
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-6, rtol=0)
    if arch in POST_LN_MID:  # the attention's own output, not LayerNorm(residual + attention)
        assert not torch.allclose(ours["blocks.0.hook_attn_out"], ours["blocks.0.hook_resid_mid"])


def test_the_table_is_built_once_and_follows_the_engine(tiny_folder, monkeypatch):
    m = interp.load(tiny_folder("gpt2"))
    table = _hooks.hook_points(m)
    assert _hooks.hook_points(m) is table and "blocks.0.hook_attn_out" in table
    with pytest.raises(TypeError):
        table["blocks.0.mine"] = None  # read-only: a caller cannot corrupt the shared table
    # Nothing rebuilds it: count the engine's table builds over a cached run, the lens and a hook context.
    builds = []
    cls = type(m.bridge)
    original = cls.hook_dict
    monkeypatch.setattr(cls, "hook_dict", property(lambda self: builds.append(1) or original.fget(self)))
    m.run_with_cache(TEXT, names=["blocks.0.hook_resid_post"], stop_after="blocks.1.hook_resid_post")
    interp.logit_lens(m, TEXT)
    with m.hooks({"blocks.0.hook_resid_post": lambda t, hook: None}):
        m(TEXT)
    assert builds == []
    # A gated hook point appears when its switch is on and goes when it is off again.
    result = "blocks.0.attn.hook_result"
    assert result not in m.hook_names()
    m.bridge.set_use_attn_result(True)
    try:
        assert result in m.hook_names() and builds
        _, cache = m.run_with_cache(TEXT, names=[result])
        assert cache[result].shape[:2] == (1, m.to_tokens(TEXT).shape[1])
    finally:
        m.bridge.set_use_attn_result(False)
    assert result not in m.hook_names()
    with pytest.raises(HookNameError, match="set_use_attn_result"):
        m.hooks({result: lambda t, hook: None})
    # reset builds it again from the engine
    m.reset()
    assert _hooks.hook_points(m) is not table and dict(_hooks.hook_points(m)) == dict(table)


def test_a_second_handle_on_the_same_engine_sees_the_same_points(tiny_folder):
    m = interp.load(tiny_folder("bert"))
    first = dict(_hooks.hook_points(m))
    again = interp.wrap(m.bridge.original_model, m.tokenizer)
    assert again.bridge is m.bridge
    assert dict(_hooks.hook_points(again)) == first == dict(_hooks.hook_points(m))
    ours, theirs = sublayer_outputs(again, "bert")
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-6, rtol=0)
