"""Loading untrusted folders: nothing runs from a folder, pickles are refused, and every bad argument is a
clear InterpError subclass. Wrapping is idempotent."""

import json
import shutil

import numpy as np
import pytest
import torch
import transformers
from conftest import count_hooks, tiny_config

import interp
from interp.errors import (
    DeviceError,
    InputError,
    InterpError,
    ModelLoadError,
    TokenizerError,
    UnsafeModelError,
    UnsupportedArchitectureError,
)

TEXT = "anna lives in oslo . anna lives in"
AUTO = ("AutoConfig", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoTokenizer", "AutoModel")


def _copy(folder, dst):
    shutil.copytree(folder, dst)
    return dst


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def transformers_untouched(monkeypatch):
    """Every transformers loader raises: a refusal must come before transformers is asked anything."""
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        raise AssertionError("transformers was asked to load something")

    for name in AUTO:
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", boom)
    return calls


@pytest.fixture
def says_yes(monkeypatch):
    """A user who answers "y" to transformers' "run the custom code? [y/N]" prompt."""
    monkeypatch.setattr("builtins.input", lambda *args: "y")


def _code_folder(tmp_path, config):
    """A folder whose config asks to run its own code; importing that code would leave a marker file."""
    folder = tmp_path / "evil"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    code = f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import PretrainedConfig\n"
    code += "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    (folder / "configuration_evil.py").write_text(code)
    (folder / "modeling_evil.py").write_text(code)
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


@pytest.mark.parametrize("model_type", ["evil", "gpt2"])
def test_a_folder_that_asks_to_run_code_is_refused_unrun(tmp_path, says_yes, model_type):
    folder, marker = _code_folder(
        tmp_path,
        {
            "model_type": model_type,
            "architectures": ["EvilForCausalLM"],
            "auto_map": {
                "AutoConfig": "configuration_evil.EvilConfig",
                "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
            },
        },
    )
    with pytest.raises(UnsafeModelError, match="auto_map.*never runs code"):
        interp.load(folder)
    assert not marker.exists()


def test_a_native_family_that_still_names_its_own_code_loads_the_built_in_class(tmp_path, tiny_folder):
    """Phi-3's hub checkpoints keep an auto_map from before transformers implemented the family: the config's
    model type and architectures are built in, so the built-in class loads, and the folder's code never runs."""
    folder = _copy(tiny_folder("gpt2"), tmp_path / "m")
    marker = tmp_path / "code-ran"
    (folder / "modeling_gpt2.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    _edit_json(folder / "config.json", auto_map={"AutoModelForCausalLM": "modeling_gpt2.GPT2LMHeadModel"})
    plain = interp.load(tiny_folder("gpt2"))
    with pytest.warns(UserWarning, match="never runs"):
        m = interp.load(folder)
    assert not marker.exists()
    assert torch.equal(m("the dog barked ."), plain("the dog barked ."))


def test_the_refusal_comes_before_transformers_reads_anything(tmp_path, transformers_untouched):
    folder, marker = _code_folder(
        tmp_path, {"model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}
    )
    with pytest.raises(UnsafeModelError):
        interp.load(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "bloom"}))
    with pytest.raises(UnsupportedArchitectureError, match=r"'bloom' is not supported.*GPT-2 \(gpt2\)"):
        interp.load(folder)
    assert transformers_untouched == [] and not marker.exists()


def test_a_tokenizer_that_asks_to_run_code_is_refused(tiny_folder, tmp_path, says_yes):
    folder = _copy(tiny_folder("gpt2"), tmp_path / "m")
    _edit_json(folder / "tokenizer_config.json", auto_map={"AutoTokenizer": ["tok_evil.EvilTokenizer", None]})
    (folder / "tok_evil.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    with pytest.raises(UnsafeModelError, match="tokenizer asks to run its own Python code"):
        interp.load(folder)
    assert not (tmp_path / "ran").exists()


def test_every_load_says_trust_remote_code_false(tiny_folder, monkeypatch):
    from transformer_lens.model_bridge import TransformerBridge

    seen = []
    for name in ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"):
        cls = getattr(transformers, name)
        original = cls.from_pretrained.__func__

        def spy(cls_, *args, _original=original, _name=name, **kwargs):
            seen.append((_name, kwargs.get("trust_remote_code", "missing"), kwargs.get("use_safetensors")))
            return _original(cls_, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    boot = TransformerBridge.boot_transformers

    def boot_spy(*args, **kwargs):
        seen.append(("boot_transformers", kwargs.get("trust_remote_code", "missing"), None))
        return boot(*args, **kwargs)

    monkeypatch.setattr(TransformerBridge, "boot_transformers", boot_spy)
    interp.load(tiny_folder("gpt2"))
    names = [s[0] for s in seen]
    assert {"AutoConfig", "AutoModelForCausalLM", "AutoTokenizer", "boot_transformers"} <= set(names), seen
    assert all(trust is False for _, trust, _ in seen), seen
    assert [s[2] for s in seen if s[0] == "AutoModelForCausalLM"] == [True]


def test_pickle_only_weights_are_refused_and_the_advice_converts_them(tiny_folder, tmp_path, monkeypatch):
    folder = _copy(tiny_folder("gpt2"), tmp_path / "pickled")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the legacy pickle format
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or {})
    with pytest.raises(UnsafeModelError, match="pickle.*safetensors") as info:
        interp.load(folder)
    assert loads == []  # nothing was unpickled
    monkeypatch.undo()
    advice = str(info.value).split("if you trust the file: ")[1]
    assert "weights_only=True" in advice
    exec(advice, {})  # the message's own conversion, run as written
    converted = interp.load(folder)
    reference = interp.load(tiny_folder("gpt2"))
    assert torch.equal(converted(TEXT), reference(TEXT))


def test_a_folder_without_tokenizer_files(tiny_folder, tmp_path):
    folder = _copy(tiny_folder("bert"), tmp_path / "notok")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(TokenizerError, match=r"no tokenizer files.*tokenizer\.save_pretrained"):
        interp.load(folder)


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2, 3]", "[" * 100_000 + "]" * 100_000, '"a string"', "\xff\xfe"],
    ids=["syntax", "list", "deep", "string", "binary"],
)
def test_unreadable_configs(tiny_folder, tmp_path, content):
    folder = _copy(tiny_folder("gpt2"), tmp_path / "bad")
    (folder / "config.json").write_text(content, encoding="latin-1")
    with pytest.raises(ModelLoadError, match="config"):
        interp.load(folder)


@pytest.mark.parametrize(
    "device",
    ["nope", "cuda:99", "meta", "cuda:x", 3, ["cpu"]]
    + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"]),
)
def test_bad_devices(tiny_folder, device):
    with pytest.raises(DeviceError, match="device") as info:
        interp.load(tiny_folder("gpt2"), device=device)
    assert isinstance(info.value, InterpError)


@pytest.mark.parametrize("dtype", ["int8", "float8", "auto", torch.int8, torch.bool, 3, "x" * 1000])
def test_bad_dtypes(tiny_folder, dtype):
    with pytest.raises(DeviceError, match="dtype.*float32") as info:
        interp.load(tiny_folder("gpt2"), dtype=dtype)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("bf16", torch.bfloat16), ("torch.float16", torch.float16), (torch.float64, torch.float64)],
)
def test_dtype_names(tiny_folder, dtype, expected):
    m = interp.load(tiny_folder("gpt2"), dtype=dtype)
    assert next(m.bridge.original_model.parameters()).dtype == expected


@pytest.mark.parametrize("name", [123, None, "x" * 10_000, "a\x00b", "../" * 50 + "nowhere"])
def test_bad_names_are_short_errors(name):
    with pytest.raises(ModelLoadError) as info:
        interp.load(name)
    assert isinstance(info.value, InterpError)
    assert len(str(info.value)) < 500 and "x" * 201 not in str(info.value)


def _in_memory(word_tokenizer, kind):
    from interp.zoo.tokenizer import hf_tokenizer

    config, cls = tiny_config("gpt2" if kind == "causal" else "bert", word_tokenizer.get_vocab_size())
    torch.manual_seed(0)
    return cls(config), hf_tokenizer(word_tokenizer, kind)


@pytest.mark.parametrize("kind", ["causal", "bidirectional"])
def test_wrap_is_idempotent(word_tokenizer, kind):
    hf, tok = _in_memory(word_tokenizer, kind)  # built in memory: no name_or_path anywhere
    text = TEXT if kind == "causal" else "anna lives in [MASK] ."
    first = interp.wrap(hf, tok)
    hooks, logits = count_hooks(hf), first(text)
    for _ in range(5):
        again = interp.wrap(hf, tok, name="again")
    assert again.bridge is first.bridge and again.name == "again"
    assert count_hooks(hf) == hooks
    assert torch.equal(again(text), logits) and torch.equal(first(text), logits)
    assert again.reset() == 0 and count_hooks(hf) == hooks


def test_wrap_checks_its_arguments(word_tokenizer):
    hf, tok = _in_memory(word_tokenizer, "causal")
    with pytest.raises(ModelLoadError, match="Hugging Face model"):
        interp.wrap(object(), tok)
    with pytest.raises(TokenizerError, match="tokenizer"):
        interp.wrap(hf, "not a tokenizer")
    with pytest.raises(ModelLoadError, match="tokenizer"):
        interp.wrap(hf, None)
    with pytest.raises(DeviceError):
        interp.wrap(hf, tok, device="cuda:99")


def test_wrap_refuses_a_tokenizer_without_ordinary_tokens(word_tokenizer):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    hf, _ = _in_memory(word_tokenizer, "causal")
    empty = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"[BOS]": 0, "[UNK]": 1}, unk_token="[UNK]")),
        bos_token="[BOS]",
        unk_token="[UNK]",
    )
    hooks = count_hooks(hf)
    with pytest.raises(TokenizerError, match="no ordinary tokens"):
        interp.wrap(hf, empty)
    assert count_hooks(hf) == hooks  # refused before the engine touched the model


def test_a_checkpoint_without_its_head_loads_encoder_only_never_with_a_random_head(tiny_folder, tmp_path):
    """A BERT encoder saved without its masked-LM head once loaded with a random head whose 'beliefs' were
    noise; it loads encoder-only now: no head at all, so answers are refused and nothing random is read."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig, BertModel

    import interp

    folder = _copy(tiny_folder("bert"), tmp_path / "encoder")
    (folder / "model.safetensors").unlink()
    BertModel(AutoConfig.from_pretrained(folder)).save_pretrained(folder)
    m = interp.load(folder)
    assert not m.has_lm_head and not any(n.startswith("unembed") for n in m.hook_names())
    with pytest.raises(interp.errors.NoLMHeadError, match="no language-model head"):
        interp.logit_lens(m, "anna lives in ___ .")
    # an MLM checkpoint whose head weights were cut out (config still says BertForMaskedLM): the same
    masked = _copy(tiny_folder("bert"), tmp_path / "cut")
    weights = load_file(masked / "model.safetensors")
    save_file(
        {k: v for k, v in weights.items() if not k.startswith("cls.")},
        masked / "model.safetensors",
        metadata={"format": "pt"},
    )
    assert not interp.load(masked).has_lm_head


@pytest.mark.parametrize(
    "arch, key, said",
    [
        (
            "gpt2",
            "transformer.h.1.mlp.c_fc.weight",
            r"\(transformer\.h\.1\.\*\): the checkpoint is incomplete",
        ),
        ("llama", "lm_head.weight", r"\(lm_head\.\*\): this checkpoint has no language-model head"),
    ],
)
def test_a_checkpoint_missing_weights_is_refused(tiny_folder, tmp_path, arch, key, said):
    from safetensors.torch import load_file, save_file

    import interp

    folder = _copy(tiny_folder(arch), tmp_path / arch)
    weights = load_file(folder / "model.safetensors")
    if key not in weights:
        pytest.fail(f"{key} is not in the tiny {arch} checkpoint: {sorted(weights)[:8]}")
    weights.pop(key)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(interp.errors.ModelLoadError, match=said):
        interp.load(folder)
    # the intact folder still loads
    assert interp.load(tiny_folder(arch)).n_layers == 2


def test_wrap_says_when_it_switches_the_attention_implementation(word_tokenizer):
    import warnings

    from interp.errors import InterpWarning

    hf, tok = _in_memory(word_tokenizer, "causal")
    hf.set_attn_implementation("sdpa")
    with pytest.warns(InterpWarning, match="switched .* from 'sdpa' to eager attention, in place"):
        interp.wrap(hf, tok)
    assert hf.config._attn_implementation == "eager"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: wrapping again (or an eager model) says nothing
        interp.wrap(hf, tok, name="again")
        eager, _ = _in_memory(word_tokenizer, "causal")
        eager.set_attn_implementation("eager")
        interp.wrap(eager, tok)


def _classifier(word_tokenizer, tmp_path, cls_name="BertForSequenceClassification", family="bert"):
    import transformers

    from interp.zoo.tokenizer import hf_tokenizer

    config, _ = tiny_config(family, word_tokenizer.get_vocab_size())
    config.id2label, config.label2id = {0: "NEGATIVE", 1: "POSITIVE"}, {"NEGATIVE": 0, "POSITIVE": 1}
    torch.manual_seed(0)
    clf = getattr(transformers, cls_name)(config)
    tok = hf_tokenizer(word_tokenizer, "bidirectional")
    clf.save_pretrained(tmp_path / family)
    tok.save_pretrained(tmp_path / family)
    return clf.eval(), tok, tmp_path / family


def test_a_classifier_keeps_its_head_and_offers_its_labels(word_tokenizer, tmp_path):
    import warnings

    from captum.attr import LayerIntegratedGradients

    clf, tok, folder = _classifier(word_tokenizer, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", interp.errors.InterpWarning
        )  # nothing is dropped: nothing to warn about
        m = interp.load(folder, device="cpu")
    assert (m.kind, m.has_lm_head, m.labels) == ("bidirectional", False, {0: "NEGATIVE", 1: "POSITIVE"})
    text = "anna lives in oslo ."
    ids = m.to_tokens(text)
    with torch.no_grad():
        expected = clf(ids).logits[0]  # (n_labels,)
        resid = m.final_resid(ids)
    for which, index in (("POSITIVE", 1), ("label:NEGATIVE", 0), (1, 1)):
        objective = interp.objectives.label(m, which)
        assert abs(float(objective(resid)[0]) - float(expected[index])) <= 1e-5
    # attribution to a class logit, checked against captum on the same classifier
    r = interp.attribute(
        m, text, objective=interp.objectives.label(m, "POSITIVE"), n_steps=64, tolerance=None
    )
    assert r.answer == "logit of class 'POSITIVE'" and abs(r.objective - float(expected[1])) <= 1e-5
    special = torch.tensor([t in tok.all_special_ids for t in ids[0].tolist()])
    baseline = torch.where(special, ids[0], torch.tensor(tok.pad_token_id))[None]
    lig = LayerIntegratedGradients(lambda x: clf(x).logits[:, 1], clf.bert.embeddings.word_embeddings)
    theirs = lig.attribute(ids, baselines=baseline, n_steps=64, method="riemann_middle").sum(-1)[0]
    assert np.abs(r.scores - theirs.detach().numpy()).max() <= 1e-4
    with pytest.raises(InputError, match="has no class 'MAYBE': its classes are 0: NEGATIVE, 1: POSITIVE"):
        interp.objectives.label(m, "MAYBE")
    with pytest.raises(InputError, match="has no sequence-classification head"):
        interp.objectives.label(interp.load("tiny-bidirectional", device="cpu"), "POSITIVE")


def test_a_classifier_whose_head_interp_cannot_read_says_it_is_dropped(word_tokenizer, tmp_path):
    from interp.errors import InterpWarning

    clf, tok, folder = _classifier(
        word_tokenizer, tmp_path, "DistilBertForSequenceClassification", "distilbert"
    )
    with pytest.warns(
        InterpWarning, match="DistilBertForSequenceClassification: its task head is not loaded"
    ):
        m = interp.load(folder, device="cpu")
    assert (m.kind, m.has_lm_head, m.classifier_head) == ("bidirectional", False, None)
    clf.config._attn_implementation = "eager"
    with pytest.warns(InterpWarning, match="has a task head that interp does not read"):
        interp.wrap(clf, tok)


def test_a_model_without_layers_is_refused_when_wrapped(word_tokenizer):
    from transformers import GPT2LMHeadModel

    from interp.zoo.tokenizer import hf_tokenizer

    config, _ = tiny_config("gpt2", word_tokenizer.get_vocab_size())
    config.n_layer = 0
    with pytest.raises(ModelLoadError, match="has 0 layers .*needs at least one"):
        interp.wrap(GPT2LMHeadModel(config), hf_tokenizer(word_tokenizer, "causal"))


def test_objective_label_string_reads_the_class_logit(word_tokenizer, tmp_path):
    clf, tok, folder = _classifier(word_tokenizer, tmp_path)
    m = interp.load(folder, device="cpu")
    text = "anna lives in oslo ."
    with torch.no_grad():
        expected = float(clf(m.to_tokens(text)).logits[0, 1])
    r = interp.attribute(m, text, objective="label:POSITIVE", method="saliency")
    assert r.answer == "logit of class 'POSITIVE'" and abs(r.objective - expected) <= 1e-5
    with pytest.raises(InputError, match="has no class 'MAYBE'"):
        interp.attribute(m, text, objective="label:MAYBE")
