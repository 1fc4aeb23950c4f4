"""The Model handle: loading, tokens, hook names, hooks that never outlive their context, caching, errors."""

import subprocess
import sys

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
