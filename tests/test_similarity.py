"""interp.objectives.similarity reproduces a sentence-transformers folder's pooling and normalisation, checked
against the same computation in plain transformers (AutoModel + the pooling written out) on tiny folders built
here; a model without such a config pools the mean over all tokens and says so."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
import transformers
from conftest import tiny_config

import interp
from interp.errors import InputError, InterpWarning

TEXT = "anna lives in oslo . ben lives in rome ."
OTHER = "ben lives in rome . anna lives in oslo ."
TRANSFORMER = "sentence_transformers.models.Transformer"


@pytest.fixture(scope="module")
def encoder_files(tmp_path_factory, word_tokenizer):
    """A tiny random BertModel and its tokenizer, saved as save_pretrained writes them."""
    from interp.zoo.tokenizer import hf_tokenizer

    config, _ = tiny_config("bert", word_tokenizer.get_vocab_size())
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert-encoder")
    transformers.BertModel(config).save_pretrained(folder)
    hf_tokenizer(word_tokenizer, "bidirectional").save_pretrained(folder)
    return folder


def sentence_folder(files, dst, mode, *, normalize=False, legacy=False):
    """A sentence-transformers folder: the transformer at the top (or in 0_Transformer), 1_Pooling, 2_Normalize."""
    inner = dst / "0_Transformer" if legacy else dst
    shutil.copytree(files, inner)
    modules = [{"idx": 0, "name": "0", "path": "0_Transformer" if legacy else "", "type": TRANSFORMER}]
    (dst / "1_Pooling").mkdir()
    pooling = {f"pooling_mode_{m}": False for m in ("cls_token", "mean_tokens", "max_tokens", "lasttoken")}
    pooling.update({"word_embedding_dimension": 32, "include_prompt": True})
    pooling[
        {"cls": "pooling_mode_cls_token", "lasttoken": "pooling_mode_lasttoken"}.get(
            mode, f"pooling_mode_{mode}_tokens"
        )
    ] = True
    (dst / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    modules.append(
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    )
    if normalize:
        (dst / "2_Normalize").mkdir()
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    (dst / "modules.json").write_text(json.dumps(modules))
    return dst


def reference(files, mode, normalize=False):
    """Sentence-transformers' computation in plain transformers: encode both texts, pool by the attention mask,
    normalise, cosine."""
    tok = transformers.AutoTokenizer.from_pretrained(files)
    hf = transformers.AutoModel.from_pretrained(files, attn_implementation="eager").eval()

    def embed(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            h = hf(**enc).last_hidden_state.double()  # (1, T, d)
        mask = enc["attention_mask"][..., None].double()
        if mode == "mean":
            v = (h * mask).sum(1) / mask.sum(1)
        elif mode == "cls":
            v = h[:, 0]
        elif mode == "max":
            v = h.masked_fill(mask == 0, float("-inf")).max(1).values
        else:  # lasttoken
            v = h[:, int(mask.sum()) - 1]
        return F.normalize(v, dim=-1) if normalize else v

    return float(F.cosine_similarity(embed(TEXT), embed(OTHER)))


@pytest.mark.parametrize(
    "mode, normalize, legacy",
    [
        ("mean", True, False),
        ("mean", False, True),
        ("cls", False, False),
        ("max", True, False),
        ("lasttoken", False, False),
    ],
)
def test_a_sentence_transformers_folder_is_pooled_as_it_says(
    encoder_files, tmp_path, mode, normalize, legacy
):
    folder = sentence_folder(encoder_files, tmp_path / "st", mode, normalize=normalize, legacy=legacy)
    m = interp.load(folder, device="cpu")
    assert m.pooling["mode"] == mode and m.pooling["normalize"] is normalize
    sim = interp.objectives.similarity(m, OTHER)
    assert (sim.pooling, sim.normalize) == (mode, normalize)
    got = float(sim(m.final_resid(m.to_tokens(TEXT)))[0])
    assert abs(got - reference(encoder_files, mode, normalize)) <= 1e-5
    # the same number through an analysis: attribution's objective value
    r = interp.attribute(m, TEXT, objective=sim, method="saliency")
    assert abs(r.objective - got) <= 1e-5


def test_a_plain_encoder_pools_the_mean_over_all_tokens_and_says_so(encoder_files):
    m = interp.load(encoder_files, device="cpu")
    assert m.pooling is None
    with pytest.warns(InterpWarning, match="mean over all tokens, special tokens included"):
        sim = interp.objectives.similarity(m, OTHER)
    assert sim.pooling == "mean"
    resid = m.final_resid(m.to_tokens(TEXT))
    assert abs(float(sim(resid)[0]) - reference(encoder_files, "mean")) <= 1e-5
    # content-only pooling stays available, and differs: it leaves [CLS] and [SEP] out
    content = interp.objectives.similarity(m, OTHER, pooling="content")
    tokens = m.to_tokens(TEXT)
    other = m.final_resid(m.to_tokens(OTHER))[0, 1:-1].mean(0)
    expected = F.cosine_similarity(resid[0, 1:-1].mean(0), other, dim=0)
    assert abs(float(content(m.final_resid(tokens))[0]) - float(expected)) <= 1e-5
    assert abs(float(content(resid)[0]) - float(sim(resid)[0])) > 1e-6


def test_an_explicit_pooling_wins_and_a_bad_one_is_refused(encoder_files, tmp_path):
    m = interp.load(sentence_folder(encoder_files, tmp_path / "st", "mean"), device="cpu")
    cls = interp.objectives.similarity(m, OTHER, pooling="cls")
    assert abs(float(cls(m.final_resid(m.to_tokens(TEXT)))[0]) - reference(encoder_files, "cls")) <= 1e-5
    with pytest.raises(InputError, match="unknown pooling 'median'"):
        interp.objectives.similarity(m, OTHER, pooling="median")


def test_a_pooling_config_with_two_modes_is_refused(encoder_files, tmp_path):
    folder = sentence_folder(encoder_files, tmp_path / "st", "mean")
    config = json.loads((folder / "1_Pooling" / "config.json").read_text())
    config["pooling_mode_cls_token"] = True
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    with pytest.raises(interp.InterpError, match="turns on 2 pooling modes"):
        interp.load(folder, device="cpu")


def test_an_objective_of_another_model_is_refused(encoder_files, tmp_path):
    m = interp.load(encoder_files, device="cpu")
    other = interp.load(sentence_folder(encoder_files, tmp_path / "st", "mean"), device="cpu")
    sim = interp.objectives.similarity(other, OTHER)
    with pytest.raises(InputError, match=r"was built for st, not bert-encoder\d*: .*Build it with this one"):
        interp.attribute(m, TEXT, objective=sim, method="saliency")
    same = interp.attribute(other, TEXT, objective=sim, method="saliency")
    assert abs(same.objective - float(sim(other.final_resid(other.to_tokens(TEXT)))[0])) <= 1e-6


def test_modules_similarity_does_not_apply_are_named(encoder_files, tmp_path):
    folder = sentence_folder(encoder_files, tmp_path / "st", "mean")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    m = interp.load(folder, device="cpu")
    assert m.pooling["unapplied"] == ["Dense"]
    with pytest.warns(InterpWarning, match="also include Dense, which similarity does not apply"):
        interp.objectives.similarity(m, OTHER)


def test_a_pooling_config_outside_the_folder_or_special_is_refused(encoder_files, tmp_path):
    from interp.errors import UnsafeModelError

    folder = sentence_folder(encoder_files, tmp_path / "st", "mean")
    (folder / "1_Pooling" / "config.json").unlink()
    (folder / "1_Pooling" / "config.json").symlink_to("/dev/zero")
    with pytest.raises(UnsafeModelError, match=r"1_Pooling/config\.json leads outside the model folder"):
        interp.load(folder, device="cpu")
    shutil.rmtree(folder / "1_Pooling")
    (tmp_path / "elsewhere").mkdir()
    (folder / "1_Pooling").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeModelError, match="1_Pooling leads outside the model folder"):
        interp.load(folder, device="cpu")
