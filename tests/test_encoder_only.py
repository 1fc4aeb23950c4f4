"""Encoder-only checkpoints (BertModel, RobertaModel, sentence-transformers folders): they load without any head,
match Hugging Face exactly, answer objectives, and refuse what needs a language-model head with one error."""

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import count_hooks, tiny_config

import interp
from interp.errors import InputError, NoLMHeadError, NonFiniteError, UnsupportedArchitectureError

TEXT = "anna lives in oslo . ben lives in rome ."
OTHER = "ben lives in rome . anna lives in oslo ."
CORRUPT = "ben lives in rome . ben lives in rome ."
ENCODERS = {
    "bert": "BertModel",
    "roberta": "RobertaModel",
    "distilbert": "DistilBertModel",
    "electra": "ElectraModel",
    "modernbert": "ModernBertModel",
}


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory, word_tokenizer):
    """Factory: family -> folder of a tiny random encoder without a head (save_pretrained) and its tokenizer."""
    import transformers

    from interp.zoo.tokenizer import hf_tokenizer

    made = {}

    def make(family: str):
        if family not in made:
            config, _ = tiny_config(family, word_tokenizer.get_vocab_size())
            torch.manual_seed(0)
            folder = tmp_path_factory.mktemp(f"{family}-encoder")
            getattr(transformers, ENCODERS[family])(config).save_pretrained(folder)
            hf_tokenizer(word_tokenizer, "bidirectional").save_pretrained(folder)
            made[family] = folder
        return made[family]

    return make


@pytest.fixture(scope="module")
def encoder(encoder_folder):
    loaded = {}

    def get(family: str) -> interp.Model:
        if family not in loaded:
            loaded[family] = interp.load(encoder_folder(family))
        return loaded[family]

    return get


def hf_encoder(folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder, attn_implementation="eager").eval()


def mean_pooled(states: torch.Tensor) -> torch.Tensor:
    """The content tokens' mean of one [CLS] ... [SEP] sequence ``(1, T, d)``."""
    return states[0, 1:-1].mean(0)


@pytest.mark.parametrize("family", ENCODERS)
def test_an_encoder_folder_loads_encoder_only_and_matches_hugging_face(family, encoder, encoder_folder):
    m = encoder(family)
    assert (m.kind, m.has_lm_head) == ("bidirectional", False)
    assert "has_lm_head=False" in repr(m)
    assert not any(n.startswith(("unembed", "ln_final", "mlm_head")) for n in m.hook_names())
    tokens = m.to_tokens(TEXT)
    with torch.no_grad():
        ref = hf_encoder(encoder_folder(family))(tokens, output_attentions=True, output_hidden_states=True)
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(m.n_layers)]
    names += [f"blocks.{i}.hook_resid_post" for i in range(m.n_layers)]
    logits, cache = m.run_with_cache(tokens, names=names)
    assert logits is None  # no head, so no logits: the final states are in the cache
    assert set(cache) == set(names)
    for i in range(m.n_layers):
        resid = cache[f"blocks.{i}.hook_resid_post"]
        if family == "modernbert" and i == m.n_layers - 1:
            resid = m.bridge.final_norm(resid)  # the encoder's output is after its final norm
        assert (cache[f"blocks.{i}.attn.hook_pattern"] - ref.attentions[i]).abs().max() <= 1e-5
        assert (resid - ref.hidden_states[i + 1]).abs().max() <= 1e-5
    att = interp.attention(m, TEXT)
    assert att.position is None
    np.testing.assert_allclose(att.patterns, torch.stack([a[0] for a in ref.attentions]).numpy(), atol=1e-5)
    assert interp.induction_scores(m, seq_len=5, n_seqs=1).scores.shape == (m.n_layers, m.n_heads)


def _sentence_transformers(src, folder, legacy: bool):
    """A sentence-transformers folder: the transformer at the top (current) or in 0_Transformer (older)."""
    inner = folder / "0_Transformer" if legacy else folder
    shutil.copytree(src, inner)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    modules = [
        {
            "idx": 0,
            "name": "0",
            "path": "0_Transformer" if legacy else "",
            "type": "sentence_transformers.models.Transformer",
        },
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


@pytest.mark.parametrize("legacy", [False, True])
def test_a_sentence_transformers_folder_loads_its_transformer(legacy, encoder, encoder_folder, tmp_path):
    folder = _sentence_transformers(encoder_folder("bert"), tmp_path / "my-sentence-encoder", legacy)
    m = interp.load(folder)
    assert (m.name, m.has_lm_head) == ("my-sentence-encoder", False)
    _, mine = m.run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
    _, theirs = encoder("bert").run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
    assert torch.equal(mine["blocks.1.hook_resid_post"], theirs["blocks.1.hook_resid_post"])


@pytest.mark.parametrize("family", ["bert", "modernbert"])  # ModernBERT: its output is after a final norm
def test_similarity_is_the_cosine_of_mean_pooled_content_states(family, encoder, encoder_folder):
    m = encoder(family)
    hf = hf_encoder(encoder_folder(family))
    with torch.no_grad():
        mine = hf(m.to_tokens(TEXT)).last_hidden_state
        other = hf(m.to_tokens(OTHER)).last_hidden_state
    expected = F.cosine_similarity(mean_pooled(mine), mean_pooled(other), dim=0)
    sim = interp.objectives.similarity(m, OTHER, pooling="content")
    resid = m.final_resid(m.to_tokens(TEXT))
    assert abs(float(sim(resid)[0]) - float(expected)) <= 1e-5
    assert abs(float(sim(m.final_resid(m.to_tokens(OTHER)))[0]) - 1.0) <= 1e-5
    # a padded batch pools only the positions its mask keeps
    padded = torch.cat([resid, torch.randn(1, 3, m.d_model)], 1)
    mask = torch.zeros(1, padded.shape[1], dtype=torch.bool)
    mask[0, 1 : resid.shape[1] - 1] = True
    assert abs(float(sim(padded, mask)[0]) - float(expected)) <= 1e-5


@pytest.mark.parametrize("family", ENCODERS)
def test_attribution_toward_similarity_is_complete(family, encoder):
    m = encoder(family)
    sim = interp.objectives.similarity(m, OTHER)
    r = interp.attribute(m, TEXT, objective=sim, n_steps=32, tolerance=0.01)
    assert (r.objective_kind, r.position, r.slot, r.answer_ids) == ("objective", None, None, ())
    assert r.answer == f"similarity to {OTHER!r}"
    assert abs(r.objective - float(sim(m.final_resid(m.to_tokens(TEXT)))[0])) <= 1e-5
    gap = r.objective - r.baseline_objective
    assert abs(gap) > 1e-4
    assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap)  # completeness
    assert r.completeness_error <= 0.01
    special = np.array([t in ("[CLS]", "[SEP]") for t in r.tokens])
    assert np.all(r.scores[special] == 0) and np.any(r.scores[~special] != 0)
    assert "user objective" in repr(r)
    for method in ("saliency", "input_x_gradient", "occlusion"):
        assert interp.attribute(m, TEXT, objective=sim, method=method).scores.shape == (len(r.tokens),)
    assert interp.estimate_memory(m, "attribute", TEXT, objective=sim) > 0


def test_ablation_and_patching_move_the_objective(encoder):
    m = encoder("bert")
    sim = interp.objectives.similarity(m, OTHER)
    value = float(sim(m.final_resid(m.to_tokens(TEXT)))[0])
    a = interp.ablate(m, TEXT, [(0, 0), (1, 2)], objective=sim)
    assert type(a).__name__ == "ObjectiveAblationResult"
    assert abs(a.value_before - value) <= 1e-5 and abs(a.change) > 1e-6

    # the ablation itself, by hand: zero those heads' outputs and take the similarity
    def zero(heads):
        return lambda z, hook: z.index_fill(2, torch.tensor(heads), 0.0)

    with m.hooks({"blocks.0.attn.hook_z": zero([0]), "blocks.1.attn.hook_z": zero([2])}):
        by_hand = float(sim(m.final_resid(m.to_tokens(TEXT)))[0])
    assert abs(a.value_after - by_hand) <= 1e-5
    imp = interp.head_importance(m, TEXT, objective=sim, progress=False)
    assert imp.effects.shape == (m.n_layers, m.n_heads) and np.abs(imp.effects).max() > 1e-6
    single = interp.ablate(m, TEXT, [(1, 2)], objective=sim)
    assert abs(imp.effects[1, 2] - single.change) <= 1e-5
    # resid_pre of block 0 is each token's own embedding: an unchanged token patched in restores nothing
    p = interp.patch(m, TEXT, CORRUPT, hook="resid_pre", objective=sim, progress=False)
    assert (p.objective, p.position) == (sim.label, None)
    assert abs(p.clean_diff - value) <= 1e-5
    assert abs(p.corrupt_diff - float(sim(m.final_resid(m.to_tokens(CORRUPT)))[0])) <= 1e-5
    assert p.restored.shape == (m.n_layers, len(p.tokens))
    unchanged = [i for i in range(len(p.tokens)) if i not in p.changed]
    assert np.abs(p.restored[0, unchanged]).max() <= 1e-4
    assert np.abs(p.restored[0, p.changed]).max() > 0.01


def _head_based_calls(m, causal):
    probe = "anna lives in ___ ."
    return {
        "logit_lens": lambda: interp.logit_lens(m, probe),
        "tuned lens": lambda: interp.logit_lens(m, probe, lens="tuned"),
        "tuned_lens training": lambda: interp.tuned_lens(m, texts=[TEXT], steps=1, progress=False),
        "attribute with an answer": lambda: interp.attribute(m, probe, answer="oslo"),
        "attribute without anything": lambda: interp.attribute(m, TEXT),
        "estimate_memory": lambda: interp.estimate_memory(m, "attribute", probe),
        "ablate": lambda: interp.ablate(m, probe, [(0, 0)]),
        "head_importance": lambda: interp.head_importance(m, probe, progress=False),
        "patch": lambda: interp.patch(m, probe, "ben lives in ___ .", progress=False),
        "decompose": lambda: interp.decompose(m, probe, answer="oslo"),
        "compare": lambda: interp.compare(causal, m, probe),
        "compare_suite": lambda: interp.compare_suite(causal, m, [probe], progress=False),
        "forward": lambda: m(TEXT),
        "logits_at": lambda: m.logits_at(m.to_tokens(TEXT), 1),
        "decode_resid": lambda: m.decode_resid(torch.zeros(2, m.d_model)),
    }


def test_what_needs_a_head_raises_one_error_naming_it(encoder, tiny_model):
    m, causal = encoder("bert"), tiny_model("gpt2")
    before = count_hooks(m.bridge), count_hooks(causal.bridge)
    for label, call in _head_based_calls(m, causal).items():
        with pytest.raises(NoLMHeadError) as err:
            call()
        message = str(err.value)
        assert "language-model head" in message and "objective=" in message, label
        assert "interp.attention" in message and "run_with_cache" in message, label
        assert (count_hooks(m.bridge), count_hooks(causal.bridge)) == before, label


def test_bad_objectives_are_refused_and_leave_the_model_as_it_was(encoder):
    m = encoder("bert")
    sim = interp.objectives.similarity(m, OTHER)
    hooks = count_hooks(m.bridge)
    _, reference = m.run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
    cases = [
        (lambda: interp.attribute(m, TEXT, objective="similarity"), InputError, "must be a function"),
        (lambda: interp.attribute(m, TEXT, objective=sim, answer="oslo"), InputError, "not both"),
        (lambda: interp.attribute(m, TEXT, objective=sim, position=1), InputError, "not both"),
        (lambda: interp.ablate(m, TEXT, [(0, 0)], objective=lambda r: r.sum()), InputError, r"shape \(2,\)"),
        (
            lambda: interp.patch(m, TEXT, CORRUPT, objective=lambda r: 1 / 0, progress=False),
            InputError,
            "raised",
        ),
        (
            lambda: interp.head_importance(m, TEXT, objective=lambda r: r[:, 0, :2], progress=False),
            InputError,
            "shape",
        ),
        (
            lambda: interp.attribute(m, TEXT, objective=lambda r: r.sum((1, 2)) * np.nan),
            NonFiniteError,
            "NaN",
        ),
        (lambda: interp.attribute(m, TEXT, objective=lambda r: r.sum((1, 2)).long()), InputError, "float"),
        (lambda: interp.patch(m, TEXT, TEXT, objective=sim, progress=False), InputError, "same objective"),
        (lambda: interp.objectives.similarity(m, ""), InputError, "empty"),
    ]
    for call, error, fragment in cases:
        with pytest.raises(error, match=fragment):
            call()
        assert count_hooks(m.bridge) == hooks
    _, after = m.run_with_cache(TEXT, names=["blocks.1.hook_resid_post"])
    assert torch.equal(after["blocks.1.hook_resid_post"], reference["blocks.1.hook_resid_post"])


def test_objectives_work_on_language_models_too(tiny_model):
    m = tiny_model("gpt2")
    sim = interp.objectives.similarity(m, OTHER)
    r = interp.attribute(m, TEXT, objective=sim, n_steps=32)
    assert r.completeness_error <= 0.01 and r.scores[0] == 0  # [BOS] kept in the baseline
    assert interp.ablate(m, TEXT, [(0, 1)], objective=sim).value_before == pytest.approx(
        r.objective, abs=1e-5
    )


def test_wrap_an_encoder_in_memory(word_tokenizer):
    from transformers import BertForSequenceClassification, BertModel, GPT2Model

    from interp.zoo.tokenizer import hf_tokenizer

    tok = hf_tokenizer(word_tokenizer, "bidirectional")
    config, _ = tiny_config("bert", word_tokenizer.get_vocab_size())
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    classifier = BertForSequenceClassification(config)
    ref = BertForSequenceClassification(config)
    ref.load_state_dict(classifier.state_dict())
    m = interp.wrap(classifier, tok)
    assert (m.kind, m.has_lm_head) == ("bidirectional", False)
    tokens = m.to_tokens(TEXT)
    with torch.no_grad():
        expected = ref.eval().bert(tokens, output_attentions=True).attentions
    _, cache = m.run_with_cache(tokens, names=["blocks.1.attn.hook_pattern"])
    assert (cache["blocks.1.attn.hook_pattern"] - expected[1]).abs().max() <= 1e-5
    assert not interp.wrap(BertModel(config), tok).has_lm_head
    gpt2_config, _ = tiny_config("gpt2", word_tokenizer.get_vocab_size())
    with pytest.raises(UnsupportedArchitectureError, match="no language-model head.*encoder-only"):
        interp.wrap(GPT2Model(gpt2_config), hf_tokenizer(word_tokenizer, "causal"))


def test_an_encoder_missing_more_than_its_head_is_still_refused(encoder_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "damaged"
    shutil.copytree(encoder_folder("bert"), folder)
    weights = load_file(folder / "model.safetensors")
    weights.pop(next(k for k in weights if "layer.1.output.dense" in k))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(interp.errors.ModelLoadError, match="newly initialised"):
        interp.load(folder)


HEADS = {"distilbert": ("vocab_",), "electra": ("generator_",), "modernbert": ("head.", "decoder.")}


@pytest.mark.parametrize("family", HEADS)
def test_a_masked_lm_cut_from_its_head_loads_encoder_only(family, tiny_folder, tmp_path):
    """The families with adapters of interp's own: a masked-LM checkpoint without its head weights loads
    encoder-only (never with a random head); one missing an encoder weight is refused."""
    from safetensors.torch import load_file, save_file

    weights = load_file(f"{tiny_folder(family)}/model.safetensors")
    for cut, keep in (
        ("head", lambda k: not k.startswith(HEADS[family])),
        ("layer", lambda k: "1." not in k),
    ):
        folder = tmp_path / cut
        shutil.copytree(tiny_folder(family), folder)
        kept = {k: v for k, v in weights.items() if keep(k)}
        assert len(kept) < len(weights)
        save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
        if cut == "head":
            m = interp.load(folder)
            assert not m.has_lm_head and not any(
                n.startswith(("unembed", "mlm_head")) for n in m.hook_names()
            )
            assert m.run_with_cache(TEXT, names=[])[0] is None
        else:
            with pytest.raises(interp.errors.ModelLoadError, match="newly initialised"):
                interp.load(folder)


def test_an_electra_discriminator_loads_encoder_only(word_tokenizer, tmp_path):
    """ElectraForPreTraining (the discriminator, what most ELECTRA checkpoints are) has no masked-LM head."""
    from transformers import ElectraForPreTraining

    from interp.zoo.tokenizer import hf_tokenizer

    config, _ = tiny_config("electra", word_tokenizer.get_vocab_size())
    ElectraForPreTraining(config).save_pretrained(tmp_path)
    hf_tokenizer(word_tokenizer, "bidirectional").save_pretrained(tmp_path)
    m = interp.load(tmp_path)
    assert (m.kind, m.has_lm_head) == ("bidirectional", False)
    assert interp.attention(m, TEXT).patterns.shape[:2] == (m.n_layers, m.n_heads)
