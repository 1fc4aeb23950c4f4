"""decompose: the sum rule on every causal family, per-head shares from one forward pass, the masked LM's
linearisation error on the zoo probes, refusals that leave no hooks, persistence and views."""

import math

import numpy as np
import pytest
import torch
from conftest import ARCHS, MASKED, count_hooks

import interp
from interp.errors import InputError, InterpError

CAUSAL = [a for a in ARCHS if a not in MASKED]
TEXT = "anna lives in oslo . ben lives in rome . anna lives in"
PROBE = "anna lives in ___ ."


class EmbeddingCalls:
    """Counts forward passes by a hook on the token-embedding module (every pass starts there)."""

    def __init__(self, model):
        self.model, self.n = model, 0

    def __enter__(self):
        self.handle = self.model.bridge.embed.register_forward_hook(self._count)
        return self

    def _count(self, module, inputs, output):
        self.n += 1

    def __exit__(self, *exc):
        self.handle.remove()


def own_logits(model, text):
    """The model's own logits at the read position, from a plain forward pass; before the cap where the model
    soft-caps them (Gemma 2: ``cap * tanh(logit / cap)``), which is what decompose splits."""
    frame = model.frame(text)
    with torch.no_grad():
        logits = model(frame.tokens)[0, frame.position].double()
    cap = getattr(model.bridge.original_model.config, "final_logit_softcapping", None)
    return logits if cap is None else cap * torch.atanh(logits / cap)


def frozen_final_read(model, text, u):
    """An independent direct-logit read (HF's final norm module, its scale recomputed here and frozen):
    ``write -> (w * P(write) / s) . u``."""
    frame = model.frame(text)
    resid = model.run_with_cache(frame.tokens, names=["ln_final.hook_in"])[1]["ln_final.hook_in"]
    x = resid[0, frame.position].double()
    norm = model.bridge.ln_final.original_component
    centred = isinstance(norm, torch.nn.LayerNorm)
    eps = getattr(norm, "variance_epsilon", None) or norm.eps
    s = float(torch.sqrt(((x - x.mean()) if centred else x).pow(2).mean() + eps))
    w = norm.weight.detach().double()
    if type(norm).__name__.startswith("Gemma"):  # Gemma's RMSNorm scales by 1 + weight
        w = w + 1
    return lambda write: float(((write - write.mean()) if centred else write) * w / s @ u)


@pytest.mark.parametrize("arch", CAUSAL)
def test_contributions_sum_to_the_logit_on_every_causal_family(arch, tiny_model):
    m = tiny_model(arch)
    logits = own_logits(m, TEXT)
    top, second = logits.topk(2).indices.tolist()
    for answer, contrast in ((None, None), (top, second), (second, top)):
        r = interp.decompose(m, TEXT, answer=answer, contrast=contrast)
        expected = logits[top if answer is None else answer] - (0 if contrast is None else logits[contrast])
        assert abs(r.target - float(expected)) <= 1e-5
        assert abs(r.approximation_error) <= 1e-4
        assert abs(r.contributions.sum() + r.approximation_error - r.target) <= 1e-9
        assert r.answer_ids[0] == (top if answer is None else answer)
    # every head of every layer, and the position embedding exactly where the family has one
    assert int(r.kind_mask("head").sum()) == m.n_layers * m.n_heads
    assert ("position embedding" in r.labels) == (arch in ("gpt2", "opt"))
    assert "RMSNorm" in type(m.bridge.ln_final.original_component).__name__ or "final norm bias" in r.labels


@pytest.mark.parametrize("arch", CAUSAL)
def test_head_shares_add_up_to_each_attention_layers_own_share(arch, tiny_model):
    m = tiny_model(arch)
    logits = own_logits(m, TEXT)
    a, c = logits.topk(2).indices.tolist()
    r = interp.decompose(m, TEXT, answer=a, contrast=c)
    W_U = m.bridge.unembed.original_component.weight.detach().double()  # (d_vocab, d_model)
    read = frozen_final_read(m, TEXT, W_U[a] - W_U[c])
    frame = m.frame(TEXT)
    names = [f"blocks.{i}.hook_{s}_out" for i in range(m.n_layers) for s in ("attn", "mlp")]
    _, cache = m.run_with_cache(frame.tokens, names=names)
    shares = dict(zip(r.labels, r.contributions))
    for layer in range(m.n_layers):
        heads = r.head_matrix[layer].sum() + shares.get(f"L{layer} attention bias", 0.0)
        attn = read(cache[f"blocks.{layer}.hook_attn_out"][0, frame.position].double())
        assert abs(heads - attn) <= 1e-6 * (1 + abs(attn)), (layer, heads, attn)
        mlp = read(cache[f"blocks.{layer}.hook_mlp_out"][0, frame.position].double())
        assert abs(shares[f"L{layer} MLP"] - mlp) <= 1e-6 * (1 + abs(mlp))
    groups = dict(r.groups())
    assert groups["L0 attention"] == pytest.approx(
        r.head_matrix[0].sum() + shares.get("L0 attention bias", 0)
    )
    assert sum(groups.values()) == pytest.approx(r.contributions.sum())


@pytest.mark.parametrize("arch", ["gpt2", "llama", "bert"])
def test_one_forward_pass_gives_every_head(arch, tiny_model):
    m = tiny_model(arch)
    text = TEXT if m.kind == "causal" else PROBE
    with EmbeddingCalls(m) as calls:
        r = interp.decompose(m, text)
    assert calls.n == 1
    assert r.head_matrix.shape == (m.n_layers, m.n_heads) and np.any(r.head_matrix != 0)


@pytest.mark.parametrize("arch", MASKED)
def test_masked_families_state_their_linearisation_and_rebuild_the_logit(arch, tiny_model):
    m = tiny_model(arch)
    logits = own_logits(m, PROBE)
    a, c = logits.topk(2).indices.tolist()
    r = interp.decompose(m, PROBE, answer=a, contrast=c)
    assert abs(r.target - float(logits[a] - logits[c])) <= 1e-5
    assert abs(r.approximation_error) <= 1e-4
    assert "LayerNorm" in r.linearization and "gate" in r.linearization
    for label in MASKED_LABELS[arch]:
        assert label in r.labels, label
    assert int(r.kind_mask("head").sum()) == m.n_layers * m.n_heads


POST_LN_LABELS = (
    "embedding norm bias",
    "L0 norm 1 bias",
    "L1 norm 2 bias",
    "head dense bias",
    "decoder bias",
)
MASKED_LABELS = {  # the components each family's structure gives, beyond heads and MLPs
    "bert": ("token-type embedding", "position embedding", *POST_LN_LABELS),
    "roberta": ("token-type embedding", "position embedding", *POST_LN_LABELS),
    "distilbert": ("position embedding", *POST_LN_LABELS),
    "electra": ("token-type embedding", "embedding projection bias", *POST_LN_LABELS),
    "modernbert": ("token embedding", "decoder bias"),  # rotary positions; norms and head dense without bias
}


@pytest.mark.parametrize("name", ["tiny-causal", "tiny-bidirectional"])
def test_approximation_error_on_the_zoo_probes_is_small(name):
    """Measured on the shipped zoo (280 probes each): |error| median ~8e-7, max ~6e-6 logits for the masked
    model (targets ~6 logits); the same order for the causal one."""
    from interp.zoo import corpus, handwritten

    m = interp.load(name)
    errors, targets = [], []
    for probe in corpus.probes() + handwritten.probes():
        try:
            r = interp.decompose(m, probe.text, answer=probe.answer)
        except InputError:  # a word the shipped vocabulary lacks (the corpus may be newer than the weights)
            continue
        errors.append(abs(r.approximation_error))
        targets.append(abs(r.target))
    assert len(errors) >= 200
    assert np.median(errors) <= 1e-5 and max(errors) <= 1e-4, (np.median(errors), max(errors))
    assert np.median(targets) >= 1  # the zoo models read their answers with real logits, not rounding noise


def test_multi_token_answers_are_read_at_their_first_token(tiny_model):
    for arch, text in (("gpt2", TEXT), ("bert", PROBE)):
        m = tiny_model(arch)
        ids = m.frame(text).tokens[0, 1:3].tolist()
        r = interp.decompose(m, text, answer=ids)
        assert r.answer_ids == tuple(ids) and len(r.notes) == 1 and "first token" in r.notes[0]
        frame = m.frame(text, answer=ids)  # a masked LM reads it with one mask per token
        assert len(r.tokens) == frame.T and r.position == frame.position
        with torch.no_grad():
            first = m(frame.tokens)[0, frame.position, ids[0]]
        assert abs(r.target - float(first)) <= 1e-5


def test_a_soft_capped_model_decomposes_the_pre_cap_logit(tiny_model, monkeypatch):
    m = tiny_model("gemma2")  # Gemma 2 caps its logits: cap * tanh(logit / cap)
    # A cap of 0.1 (30 in the config) so that the tiny model's small logits are visibly bent by it.
    monkeypatch.setattr(m.bridge.original_model.config, "final_logit_softcapping", 0.1)
    frame = m.frame(TEXT)
    with torch.no_grad():
        capped = m(frame.tokens)[0, frame.position].double()
    r = interp.decompose(m, TEXT)
    assert r.softcap == 0.1 and any("pre-cap" in n for n in r.notes)
    assert abs(0.1 * math.tanh(r.target / 0.1) - float(capped.max())) <= 1e-5
    assert abs(r.target - float(capped.max())) >= 1e-2  # the target is the logit before the cap
    assert abs(r.approximation_error) <= 1e-4
    monkeypatch.undo()
    assert interp.decompose(m, TEXT).softcap == 30.0
    assert interp.decompose(tiny_model("llama"), TEXT).softcap is None


def test_bad_input_raises_interp_errors_and_leaves_no_hooks(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    top = int(own_logits(c, TEXT).argmax())
    bad = [
        (c, TEXT, dict(answer="zzzqqq"), "vocabulary"),
        (c, TEXT, dict(answer=top, contrast=top), "the same"),
        (c, TEXT, dict(contrast=top), "the same"),  # the default answer is the top-1
        (c, TEXT, dict(answer=[top, 7], contrast=[top, 9]), "start with the same token"),
        (c, TEXT, dict(position=99), "out of range"),
        (c, TEXT, dict(answer=True), "answer"),
        (b, "anna lives in oslo .", {}, "no slot"),
        (b, PROBE, dict(answer="zzzqqq"), "vocabulary"),
        (c, "", {}, "empty"),
    ]
    for model, text, kwargs, fragment in bad:
        before = count_hooks(model.bridge)
        with pytest.raises(InterpError, match=fragment):
            interp.decompose(model, text, **kwargs)
        assert count_hooks(model.bridge) == before, (text, kwargs)
    with pytest.raises(InputError):
        interp.decompose("not a model", TEXT)


def test_save_and_load_round_trip(tiny_model, tmp_path):
    m = tiny_model("bert")
    logits = own_logits(m, PROBE)
    a, c = logits.topk(2).indices.tolist()
    r = interp.decompose(m, PROBE, answer=a, contrast=c)
    back = interp.load_result(r.save(tmp_path / "d.npz"))
    assert type(back) is interp.DecompositionResult
    for field in ("labels", "component_kinds", "target", "approximation_error", "contrast", "linearization"):
        assert getattr(back, field) == getattr(r, field), field
    for field in ("contributions", "layers", "heads"):
        assert np.array_equal(getattr(back, field), getattr(r, field)), field
    assert back.summary_text() == r.summary_text()
    assert len(r.to_dataframe()) == len(r.labels)


def test_invariants_refuse_an_inconsistent_result(tiny_model):
    import dataclasses

    r = interp.decompose(tiny_model("gpt2"), TEXT)
    with pytest.raises(InterpError, match="approximation_error"):
        dataclasses.replace(r, approximation_error=r.approximation_error + 1)
    with pytest.raises(InterpError, match="one entry per label"):
        dataclasses.replace(r, heads=r.heads[:-1])


def test_views_have_the_right_shapes(tiny_model):
    import widgets
    from widgets.decomposition import decomposition_figure, side_by_side

    c, b = tiny_model("gpt2"), tiny_model("bert")
    rc, rb = interp.decompose(c, "anna lives in"), interp.decompose(b, PROBE)
    layers = decomposition_figure(rc, "layers").data[0]
    assert list(layers.x) == [name for name, _ in rc.groups()]
    assert np.allclose(layers.y, [v for _, v in rc.groups()])
    heads = decomposition_figure(rc, "heads").data[0]
    assert np.array(heads.z).shape == (c.n_layers, c.n_heads) and np.allclose(heads.z, rc.head_matrix)
    top = decomposition_figure(rc, "top", k=4).data[0]
    assert len(top.y) == 4 and abs(top.x[-1]) == np.abs(rc.contributions).max()  # largest drawn on top
    assert len(decomposition_figure(rb, "top", k=500).data[0].y) == len(rb.labels)
    assert [t.type for t in widgets.figure(rc).data] == ["bar", "heatmap", "bar"]
    pair = side_by_side(rc, rb)
    z = [np.array(t.z).shape for t in pair.data if t.type == "heatmap"]
    assert z == [(c.n_layers, c.n_heads), (b.n_layers, b.n_heads)]
    assert pair.layout.coloraxis.cmid == 0 and pair.layout.coloraxis2.cmid == 0
    swapped = side_by_side(rb, rc)  # the causal model goes left, whichever comes first
    assert [a.text for a in swapped.layout.annotations] == [a.text for a in pair.layout.annotations]
    with pytest.raises(InterpError):
        decomposition_figure(rc, "pie")
    with pytest.raises(InterpError):
        decomposition_figure(rc, "top", k=0)
    with pytest.raises(InterpError):
        side_by_side(rc, "x")
    assert widgets.view(rc) is not None


def test_magic(tiny_model):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    try:
        sh.user_ns["c"] = tiny_model("gpt2")
        r = sh.run_line_magic("interp", 'decompose c "anna lives in" --answer oslo')
        assert isinstance(r, interp.DecompositionResult) and r.answer == "oslo"
    finally:
        sh.run_line_magic("unload_ext", "interp")


def test_random_arguments_give_a_result_or_an_interp_error(tiny_model):
    """Valid arguments, except for up to two drawn from anything: a result or an InterpError, never a hook left."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    models = [tiny_model("gpt2"), tiny_model("bert")]
    base = [count_hooks(m.bridge) for m in models]
    outcomes = {"result": 0, "error": 0}
    anything = st.one_of(
        st.sampled_from(
            ["", " ", "___", "a ___ b ___", "[MASK]", "anna ____ .", "zzz", 10**9, -1, True, 1.5]
        ),
        st.sampled_from([[], [1, 2], [3, 3], None, "1", b"x", object()]),
        st.text(max_size=30),
    )
    valid = {
        "text": st.sampled_from([TEXT, PROBE]),
        "answer": st.sampled_from([None, "oslo", "rome", 3, [3, 4]]),
        "contrast": st.sampled_from([None, "rome", 7]),
        "position": st.none(),
        "allow_unknown": st.booleans(),
    }

    @settings(
        max_examples=200,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data):
        model = models[data.draw(st.integers(0, 1))]
        bad = data.draw(st.sets(st.sampled_from(sorted(valid)), max_size=2))
        kwargs = {k: data.draw(anything if k in bad else v) for k, v in valid.items()}
        if model.kind == "bidirectional" and "text" not in bad:
            kwargs["text"] = PROBE
        try:
            r = interp.decompose(model, **kwargs)
            assert abs(r.approximation_error) <= 1e-4
            outcomes["result"] += 1
        except InterpError as err:
            assert str(err)
            outcomes["error"] += 1
        assert [count_hooks(m.bridge) for m in models] == base

    fuzz()
    assert min(outcomes.values()) >= 20, outcomes  # both outcomes well represented
