"""Per-head activation patching: parity with TransformerLens's patching functions on causal models, a grid
computed by hand on a masked one, the metrics and the direction, and errors."""

import numpy as np
import pytest
import torch
from conftest import count_hooks
from transformer_lens import patching as tlp

import interp
from interp.errors import InputError

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."

# (hook, by) -> TransformerLens's function; its by-position grids are (layer, pos, head) except the pattern's
TL = {
    ("z", "head"): tlp.get_act_patch_attn_head_out_all_pos,
    ("q", "head"): tlp.get_act_patch_attn_head_q_all_pos,
    ("k", "head"): tlp.get_act_patch_attn_head_k_all_pos,
    ("v", "head"): tlp.get_act_patch_attn_head_v_all_pos,
    ("pattern", "head"): tlp.get_act_patch_attn_head_pattern_all_pos,
    ("z", "head_position"): tlp.get_act_patch_attn_head_out_by_pos,
    ("q", "head_position"): tlp.get_act_patch_attn_head_q_by_pos,
    ("k", "head_position"): tlp.get_act_patch_attn_head_k_by_pos,
    ("v", "head_position"): tlp.get_act_patch_attn_head_v_by_pos,
    ("pattern", "head_position"): tlp.get_act_patch_attn_head_pattern_by_pos,
}


@pytest.fixture(scope="module", params=["gpt2", "llama", "tiny-causal"])
def causal_model(request, tiny_model, causal):
    torch.set_num_threads(1)
    return causal if request.param == "tiny-causal" else tiny_model(request.param)


def _answers(m):
    return ("is", "are") if "is" in m.tokenizer.get_vocab() else (None, None)


def test_head_grids_equal_transformer_lens_patching(causal_model):
    m = causal_model
    answer, contrast = _answers(m)
    cf, xf = m.frame(CLEAN), m.frame(CORRUPT)
    first = interp.patch(
        m, CLEAN, CORRUPT, hook="z", by="head", answer=answer, contrast=contrast, progress=False
    )
    a, c = m.to_single_token(first.answer), m.to_single_token(first.contrast)
    pos = first.position
    _, cache = m.bridge.run_with_cache(cf.tokens)

    def metric(logits):
        return logits[0, pos, a] - logits[0, pos, c]

    for (hook, by), fn in TL.items():
        r = interp.patch(
            m, CLEAN, CORRUPT, hook=hook, by=by, answer=first.answer, contrast=first.contrast, progress=False
        )
        theirs = fn(m.bridge, xf.tokens, cache, metric).numpy()
        if by == "head_position" and hook != "pattern":
            theirs = theirs.transpose(0, 2, 1)  # (layer, pos, head) -> ours (layer, head, pos)
        assert r.raw.shape == theirs.shape, (hook, by)
        # batched and one-at-a-time float32 runs round differently, in proportion to the logits (here up to ~7)
        np.testing.assert_allclose(r.raw, theirs, atol=1e-5, rtol=1e-5, err_msg=f"{m.name} {hook} {by}")
        assert r.metric == "logit_diff" and r.by == by
        # a grouped-query model has fewer key/value heads than query heads
        kv = getattr(m.bridge.cfg, "n_key_value_heads", None) or m.n_heads
        assert r.raw.shape[1] == (kv if hook in ("k", "v") else m.n_heads)
        if hook == "z":  # the patches do move the metric (a random model's queries barely do)
            assert np.abs(r.raw - r.corrupt_diff).max() > 1e-4 * (1 + abs(r.corrupt_diff)), by


def _grid_by_hand(m, hooks_for) -> np.ndarray:
    """``(n_layers, n_heads, T)``: the corrupt run's is-minus-are logits at the slot with the hooks
    ``hooks_for(layer, head, position)`` attached, one cell at a time, unbatched."""
    a, c = m.to_single_token("is"), m.to_single_token("are")
    cf, xf = m.frame(CLEAN), m.frame(CORRUPT)
    hand = np.zeros((m.n_layers, m.n_heads, cf.T))
    with torch.no_grad():
        for l in range(m.n_layers):
            for h in range(m.n_heads):
                for t in range(cf.T):
                    with m.hooks(hooks_for(l, h, t)):
                        logits = m(xf.tokens)
                    hand[l, h, t] = float(logits[0, cf.position, a] - logits[0, cf.position, c])
    return hand


def test_a_masked_lm_grid_equals_one_computed_by_hand(tiny_model):
    m = tiny_model("bert")
    torch.set_num_threads(1)
    r = interp.patch(
        m, CLEAN, CORRUPT, hook="z", by="head_position", answer="is", contrast="are", progress=False
    )
    cf = m.frame(CLEAN)
    names = [f"blocks.{l}.attn.hook_z" for l in range(m.n_layers)]
    _, cache = m.run_with_cache(cf.tokens, names=names)

    def clean_head(l, h, t):
        def put(z, hook):
            z = z.clone()
            z[0, t, h] = cache[names[l]][0, t, h]
            return z

        return {names[l]: put}

    hand = _grid_by_hand(m, clean_head)
    np.testing.assert_allclose(r.raw, hand, atol=1e-5, rtol=0)
    gap = r.clean_diff - r.corrupt_diff  # a random model's gap is small: the fraction's tolerance scales
    np.testing.assert_allclose(r.restored, (hand - r.corrupt_diff) / gap, atol=2e-5 / abs(gap))
    # by head patches the head at every position at once: its own grid
    by_head = interp.patch(
        m, CLEAN, CORRUPT, hook="z", by="head", answer="is", contrast="are", progress=False
    )
    assert by_head.raw.shape == (m.n_layers, m.n_heads)


def test_pattern_patches_on_every_family(tiny_model, bidirectional, monkeypatch):
    """hook_pattern was refused with a HookError, then on BERT-family models (their attention computes its
    output inside the Hugging Face module, so an edited pattern is ignored). There a patched pattern goes
    through the head's output, ``z = pattern @ v``: on GPT-2, where both routes exist, they agree, and on BERT
    the grid equals one computed by hand; a pattern's position is the query."""
    from interp.analysis import patching_grid

    m = tiny_model("gpt2")
    kw = dict(answer="is", contrast="are", progress=False)
    direct = {by: interp.patch(m, CLEAN, CORRUPT, hook="pattern", by=by, **kw) for by in BY_HEAD}
    r = direct["head_position"]
    # queries after the read position cannot change a causal read
    np.testing.assert_allclose(r.restored[:, :, r.position + 1 :], 0, atol=1e-6)
    assert np.abs(r.raw - r.corrupt_diff).max() > 0
    monkeypatch.setattr(patching_grid, "pattern_route", lambda *a: "pattern_z")
    for by in BY_HEAD:
        through_z = interp.patch(m, CLEAN, CORRUPT, hook="pattern", by=by, **kw)
        np.testing.assert_allclose(through_z.raw, direct[by].raw, atol=1e-5, rtol=0, err_msg=by)
    monkeypatch.undo()

    bert = tiny_model("bert")
    torch.set_num_threads(1)
    base = count_hooks(bert.bridge)
    r = interp.patch(bert, CLEAN, CORRUPT, hook="pattern", by="head_position", **kw)
    cf = bert.frame(CLEAN)
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(bert.n_layers)]
    _, cache = bert.run_with_cache(cf.tokens, names=pats)

    def clean_pattern(l, h, t):
        seen = {}

        def put(z, hook):
            z = z.clone()
            z[0, t, h] = cache[pats[l]][0, h, t] @ seen["v"][0, :, h]
            return z

        return {
            f"blocks.{l}.attn.hook_v": lambda v, hook: seen.update(v=v) or v,
            f"blocks.{l}.attn.hook_z": put,
        }

    hand = _grid_by_hand(bert, clean_pattern)
    np.testing.assert_allclose(r.raw, hand, atol=1e-5, rtol=0)
    # a random BERT's patterns barely depend on the words; a trained masked model's move its answer a little
    by_head = interp.patch(bidirectional, CLEAN, CORRUPT, hook="pattern", by="head", **kw)
    assert by_head.raw.shape == (bidirectional.n_layers, bidirectional.n_heads)
    assert np.abs(by_head.restored).max() > 0.01, by_head.restored  # 0.03: the number travels in values
    assert count_hooks(bert.bridge) == base  # the route through z leaves no hook behind


BY_HEAD = ("head", "head_position")


def test_metrics_are_named_and_a_multi_token_contrast_restores_exactly_one(tiny_model):
    for m in (tiny_model("gpt2"), tiny_model("bert")):
        vocab = sorted(w for w in m.tokenizer.get_vocab() if w.isalpha() and w.islower() and len(w) > 2)
        contrast = f"{vocab[2]} {vocab[3]}"
        r = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast=contrast, progress=False)
        assert r.metric == "logprob_diff" and "log-prob diff clean" in repr(r) and "logit diff" not in repr(r)
        assert r.restored[-1, r.position] == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(InputError, match="use metric='logprob_diff'"):
            interp.patch(
                m, CLEAN, CORRUPT, answer="is", contrast=contrast, metric="logit_diff", progress=False
            )
        single = interp.patch(
            m, CLEAN, CORRUPT, answer="is", contrast="are", metric="logprob_diff", progress=False
        )
        logit = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
        # one token each: the log-softmax's normaliser cancels in the difference
        np.testing.assert_allclose(single.raw, logit.raw, atol=1e-4)
        prob = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", metric="prob", progress=False)
        assert prob.metric == "prob" and (prob.raw >= 0).all() and (prob.raw <= 1).all()
        assert prob.restored[-1, prob.position] == pytest.approx(1.0, abs=1e-4)


def test_noising_copies_corrupt_activations_into_the_clean_run(tiny_model):
    m = tiny_model("gpt2")
    noise = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", direction="noise", progress=False)
    denoise = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
    assert noise.clean_diff == pytest.approx(denoise.clean_diff, abs=1e-5)
    # the corrupt read position at the last layer makes the clean run the corrupt one: 0 restored
    assert noise.restored[-1, noise.position] == pytest.approx(0.0, abs=1e-5)
    others = [t for t in range(len(noise.tokens)) if t != noise.position]
    np.testing.assert_allclose(noise.restored[-1, others], 1.0, atol=1e-5)
    assert "noising" in repr(noise)


def test_bad_settings_are_refused(tiny_model, tmp_path):
    m = tiny_model("gpt2")
    with pytest.raises(InputError, match="has no head axis"):
        interp.patch(m, CLEAN, CORRUPT, hook="resid_post", by="head")
    with pytest.raises(InputError, match="unknown by="):
        interp.patch(m, CLEAN, CORRUPT, by="layer")
    with pytest.raises(InputError, match="unknown metric="):
        interp.patch(m, CLEAN, CORRUPT, metric="kl")
    with pytest.raises(InputError, match="unknown direction="):
        interp.patch(m, CLEAN, CORRUPT, direction="up")
    r = interp.patch(
        m, CLEAN, CORRUPT, hook="v", by="head_position", answer="is", contrast="are", progress=False
    )
    back = interp.load_result(r.save(tmp_path / "r"))
    np.testing.assert_array_equal(back.raw, r.raw)
    assert (back.by, back.metric, back.direction) == ("head_position", "logit_diff", "denoise")
    assert len(r.to_dataframe()) == r.raw.size
