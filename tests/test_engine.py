"""The Model handle: loading, tokens, hook names, hooks that never outlive their context, caching, errors."""

import ast
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp.errors import HookError, HookNameError, InputError, ModelLoadError, UnsupportedArchitectureError

TEXT = "anna lives in oslo . anna lives in"


def test_import_is_light_in_a_fresh_process():
    code = "import sys, interp; print(sorted(m for m in ('ipywidgets', 'plotly', 'widgets', 'transformer_lens', 'captum') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version_and_attributes(tiny_model):
    m = tiny_model("gpt2")
    assert isinstance(interp.__version__, str) and interp.__version__.count(".") == 2
    assert (m.kind, m.n_layers, m.n_heads, m.d_model, m.n_ctx) == ("causal", 2, 4, 32, 64)
    assert m.d_vocab == m.bridge.original_model.config.vocab_size
    assert m.bridge.original_model.config._attn_implementation == "eager"
    assert str(m.device) == "cpu"


def test_tokens_follow_each_kind_convention(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    ct, bt = c.to_tokens(TEXT), b.to_tokens(TEXT)
    assert ct.dtype == torch.long and ct.shape[0] == 1
    assert c.to_str_tokens(TEXT) == ["[BOS]", "anna", "lives", "in", "oslo", ".", "anna", "lives", "in"]
    assert b.to_str_tokens(TEXT) == [
        "[CLS]",
        "anna",
        "lives",
        "in",
        "oslo",
        ".",
        "anna",
        "lives",
        "in",
        "[SEP]",
    ]
    assert bt.shape[1] == ct.shape[1] + 1


def test_hook_names_are_transformer_lens_names(tiny_model):
    names = tiny_model("gpt2").hook_names()
    for expected in (
        "blocks.0.attn.hook_pattern",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_resid_post",
        "blocks.0.attn.hook_z",
    ):
        assert expected in names


def test_run_with_cache_keeps_only_what_was_asked(tiny_model):
    m = tiny_model("gpt2")
    logits, cache = m.run_with_cache(TEXT, names=["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"])
    assert set(cache) == {"blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"}
    assert cache["blocks.1.attn.hook_pattern"].shape == (1, 4, 9, 9)
    logits2, none = m.run_with_cache(TEXT, names=[])
    assert none == {} and torch.equal(logits, logits2)
    _, everything = m.run_with_cache(TEXT)
    assert len(everything) > 50 and "blocks.1.hook_resid_post" in everything
    assert torch.equal(everything["blocks.0.hook_resid_post"], cache["blocks.0.hook_resid_post"])


def test_hooks_can_edit_activations_and_are_removed(tiny_model):
    m = tiny_model("gpt2")
    before = count_hooks(m.bridge)
    clean = m(TEXT)

    def zero(t, hook):
        assert hook is not None
        return torch.zeros_like(t)

    with m.hooks({"blocks.1.hook_resid_post": zero}):
        assert count_hooks(m.bridge) > before
        edited = m(TEXT)
    assert count_hooks(m.bridge) == before
    assert not torch.allclose(edited, clean)
    assert torch.equal(m(TEXT), clean)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_no_hook_survives_a_raising_hook_or_an_interrupt(tiny_model, exc):
    m = tiny_model("bert")
    before, clean = count_hooks(m.bridge), m(TEXT)

    def bad(t, hook):
        raise exc

    expected = HookError if isinstance(exc, Exception) else KeyboardInterrupt
    with pytest.raises(expected) as info, m.hooks({"blocks.0.attn.hook_pattern": bad}):
        m(TEXT)
    if expected is HookError:
        assert "blocks.0.attn.hook_pattern" in str(info.value) and "boom" in str(info.value)
    assert count_hooks(m.bridge) == before
    assert torch.equal(m(TEXT), clean)


def test_unknown_hook_name_suggests_and_adds_nothing(tiny_model):
    m = tiny_model("gpt2")
    before = count_hooks(m.bridge)
    with pytest.raises(HookNameError, match="Did you mean 'blocks.0.hook_resid_post'"):
        with m.hooks(
            {"blocks.0.attn.hook_pattern": lambda t, h: None, "blocks.0.hook_resid_pst": lambda t, h: None}
        ):
            pass
    assert count_hooks(m.bridge) == before
    with pytest.raises(HookNameError):
        m.run_with_cache(TEXT, names=["nope"])
    with pytest.raises(HookNameError, match="set_use_attn_result"):
        m.run_with_cache(TEXT, names=["blocks.0.attn.hook_result"])


def test_text_errors(tiny_model):
    m = tiny_model("gpt2")
    for bad in ("", "   "):
        with pytest.raises(InputError, match="empty"):
            m.to_tokens(bad)
    with pytest.raises(InputError, match=r"70 tokens long but .* at most 64"):
        m.to_tokens(" ".join(["anna"] * 69))
    with pytest.raises(InputError, match="token ids must lie"):
        m.run_with_cache(torch.tensor([[0, 10_000]]))


def test_load_errors(tmp_path, tiny_folder):
    with pytest.raises(ModelLoadError, match="tiny-causal, tiny-bidirectional") as info:
        interp.load("tiny-causl")
    assert "Did you mean 'tiny-causal'" in str(info.value) and "hub" in str(info.value)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        interp.load(tmp_path)
    with pytest.raises(ModelLoadError, match="not a model folder"):
        interp.load(tmp_path / "notes.txt")


def test_unsupported_architecture_names_the_supported_ones(tmp_path):
    from transformers import BloomConfig, BloomForCausalLM

    from interp.models.families import FAMILIES

    config = BloomConfig(vocab_size=50, hidden_size=16, n_layer=1, n_head=2)
    BloomForCausalLM(config).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedArchitectureError, match="'bloom' is not supported") as info:
        interp.load(tmp_path)
    for family in FAMILIES:  # the one list, printed whole
        assert f"{family.label} ({family.model_type})" in str(info.value)


def test_the_how_to_lists_every_supported_family():
    from pathlib import Path

    from interp.models.families import FAMILIES

    howto = (Path(__file__).resolve().parents[1] / "docs" / "howto.md").read_text()
    missing = [f.model_type for f in FAMILIES if f"(`{f.model_type}`" not in howto]
    assert not missing, f"docs/howto.md does not list {missing}"


def test_wrap_a_live_model(tiny_folder):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    hf = AutoModelForMaskedLM.from_pretrained(tiny_folder("roberta"))
    tok = AutoTokenizer.from_pretrained(tiny_folder("roberta"))
    m = interp.wrap(hf, tok, name="my-roberta")
    assert (m.name, m.kind) == ("my-roberta", "bidirectional")
    logits, cache = m.run_with_cache("the [MASK] barked .", names=["blocks.1.attn.hook_pattern"])
    assert logits.shape[:2] == (1, 6)
    with pytest.raises(ModelLoadError):
        interp.wrap(object(), tok)


# ---- the engine interface -----------------------------------------------------------------------------------

PROBE = "the keys to the cabinet ___ on the table ."


def _members(protocol) -> list[str]:
    """The names an engine must have: the Protocol's annotated attributes, properties and methods."""
    own = [
        n
        for n, v in vars(protocol).items()
        if not n.startswith("_") and (callable(v) or isinstance(v, property))
    ]
    return sorted(set(own) | set(protocol.__annotations__))


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_both_engines_implement_the_interface_alike(arch, tiny_folder):
    from interp.models.engine import CAPABILITIES, WEIGHT_ROLES, Engine

    folder = tiny_folder(arch)
    bridge, nn = interp.load(folder, device="cpu"), interp.load(folder, device="cpu", engine="nnsight")
    members = _members(Engine)
    assert {"run", "attach", "decode", "weight", "capabilities", "dtype", "final_resid"} <= set(members)
    for m, name in ((bridge, "bridge"), (nn, "nnsight")):
        e = m.engine_impl
        assert isinstance(e, Engine) and m.engine == e.name == name
        missing = [n for n in members if not hasattr(e, n)]
        assert not missing, (name, missing)
        assert e.capabilities <= set(CAPABILITIES) and m.capabilities == e.capabilities
        assert all(e.lacks(c) is None for c in e.capabilities)
        assert m.bridge is e.native and m.dtype == torch.float32 and m.config is e.config
        assert isinstance(m.lock, type(threading.RLock())) and m.lock is not bridge.lock or m is bridge
    assert set(nn.hook_names()) <= set(bridge.hook_names())
    # the same weights, by role, whatever each engine calls them
    for role in WEIGHT_ROLES:
        layer = 0 if role in ("W_O", "b_O") else None  # the others belong to the whole model
        a, b = bridge.weight(role, layer), nn.weight(role, layer)
        if role == "encoder_norm":
            assert a is None and b is None
            continue
        if role in ("b_O", "b_U"):  # a missing bias reads as None or zeros, depending on the engine
            width = bridge.d_model if role == "b_O" else bridge.d_vocab
            a, b = (torch.zeros(width) if x is None else x for x in (a, b))
        assert a.shape == b.shape and torch.allclose(a, b), role
    assert bridge.weight("W_O", 0).shape == (bridge.n_heads, bridge.d_model // bridge.n_heads, bridge.d_model)
    assert bridge.weight("W_U").shape == (bridge.d_model, bridge.d_vocab)
    with pytest.raises(InputError, match="unknown weight role"):
        bridge.weight("W_Q", 0)
    # the same forward pass, cache, stop, decoding and final states through the interface
    tokens = bridge.to_tokens(PROBE)
    names = ["blocks.0.attn.hook_pattern", "blocks.1.hook_resid_post"]
    (la, ca), (lb, cb) = (m.engine_impl.run(tokens, None, names, None) for m in (bridge, nn))
    assert torch.allclose(la, lb, atol=1e-5) and all(torch.allclose(ca[n], cb[n], atol=1e-5) for n in names)
    stopped = nn.engine_impl.run(tokens, None, names, "blocks.1.hook_resid_post")
    assert stopped[0] is None and torch.allclose(stopped[1][names[1]], ca[names[1]], atol=1e-5)
    resid = ca[names[1]]
    assert torch.allclose(bridge.engine_impl.decode(resid), nn.engine_impl.decode(resid), atol=1e-5)
    assert torch.allclose(bridge.engine_impl.decode(resid), la, atol=1e-5)
    assert torch.allclose(bridge.final_resid(tokens), nn.final_resid(tokens), atol=1e-5)
    assert bridge.canonical_hook_name("blocks.0.hook_resid_post") == "blocks.0.hook_out"
    assert nn.canonical_hook_name("blocks.0.hook_resid_post") == "blocks.0.hook_resid_post"
    for m in (bridge, nn):
        with pytest.raises(HookNameError):
            m.engine_impl.check_names(["blocks.0.no_such_point"])


class _Toy:
    """A third engine: the bridge engine's machinery under another name with only a cache (no Model subclass,
    no stand-in bridge): what adding an engine takes."""

    name = "toy"
    where = "locally"
    capabilities = frozenset({"cache", "unembed"})

    def __init__(self, inner):
        self.inner, self.forwards = inner, 0

    def lacks(self, capability):
        return None if capability in self.capabilities else "the toy engine keeps no graph"

    def forward(self, tokens, attention_mask):
        self.forwards += 1
        return self.inner.forward(tokens, attention_mask)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_new_engine_needs_only_the_interface_and_refuses_before_any_work(tiny_folder):
    from interp.errors import EngineError
    from interp.models.bridge_engine import BridgeEngine
    from interp.models.engine import Engine

    ref = interp.load(tiny_folder("gpt2"), device="cpu")
    toy = _Toy(BridgeEngine(ref.bridge))
    m = interp.Model(toy, ref.tokenizer, name="toy-gpt2", kind="causal")
    assert isinstance(toy, Engine) and m.engine == "toy" and "engine='toy'" in repr(m)
    a, b = (
        interp.attention(ref, PROBE),
        interp.attention(m, PROBE),
    )  # what it has runs, through the toy engine
    assert toy.forwards > 0 and np.allclose(a.patterns, b.patterns, atol=1e-6)
    toy.forwards = 0
    for call in (lambda: interp.attribute(m, PROBE), lambda: interp.ablate(m, PROBE, [(0, 0)])):
        with pytest.raises(EngineError) as info:
            call()
        message = str(info.value)
        assert (
            "is not available with the toy engine running locally (the toy engine keeps no graph)" in message
        )
        assert "engine='bridge'" in message
    assert toy.forwards == 0  # refused before any forward pass
    with pytest.raises(EngineError, match="frobnicate is not available.*gradients through the forward pass"):
        m.require(["cache", "gradients"], "frobnicate")
    m.require(["cache"], "anything")  # what it has: no error
    with pytest.raises(InputError, match="unknown capabilities"):
        m.require(["gradient"], "typo")  # a declaration's typo is caught, not passed


def test_models_have_their_own_lock(tiny_model):
    a, b = tiny_model("gpt2"), tiny_model("bert")
    assert a.lock is not b.lock and a.lock.acquire(blocking=False)
    try:
        assert a.lock.acquire(blocking=False)  # re-entrant: an analysis may call another on the same model
        a.lock.release()
    finally:
        a.lock.release()


def test_kinds_are_decided_in_the_model_layer(causal, bidirectional):
    diffusion = interp.load("tiny-diffusion")
    assert [m.generator for m in (causal, bidirectional, diffusion)] == ["causal", "masked", "diffusion"]
    assert (causal.has_causal_mask, causal.reads_mask_token) == (True, False)
    for m in (bidirectional, diffusion):
        assert (m.has_causal_mask, m.reads_mask_token) == (False, True)


# ---- the seams hold in the library's source (strings and comments aside) ----------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _library_files():
    for package in ("interp", "widgets"):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def test_outside_the_model_layer_nothing_touches_an_engine():
    """No ``.bridge``, no branch on ``.engine``, no ``sys._getframe`` outside interp/models (the library's own
    code; users keep ``model.bridge`` as their escape hatch)."""
    found = []
    for path, tree in _library_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("interp/models/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("bridge", "engine", "_getframe"):
                found.append(f"{rel}:{node.lineno} .{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
            ):
                if any(
                    isinstance(a, ast.Constant) and a.value in ("bridge", "engine") for a in node.args[1:2]
                ):
                    found.append(f"{rel}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    assert not found, found


def test_analyses_compare_kinds_only_where_the_math_differs():
    """At most 8 comparisons of a model's ``.kind`` in interp/analysis: the rest ask the model what the math
    needs (``has_causal_mask``, ``reads_mask_token``, ``generator``)."""
    found = []
    for path, tree in _library_files():
        if not path.relative_to(ROOT).as_posix().startswith("interp/analysis/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides):
                    found.append(f"{path.name}:{node.lineno}")
    assert len(found) <= 8, found
