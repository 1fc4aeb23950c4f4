"""Head ablation and activation patching: values, exact restoration, errors, and an unchanged model after."""

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp.analysis import target as _target
from interp.analysis.patching import _values, patched_reads
from interp.errors import InputError

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."
REFERENCE = [
    "anna lives in oslo . ben lives in rome .",
    "the key to the cabinet is on the table .",
    "the keys to the cabinet are on the table .",
    "in the night the owl hooted .",
]


@pytest.fixture(scope="module")
def pair(tiny_model):
    return tiny_model("gpt2"), tiny_model("bert")


def _snapshot(m):
    return count_hooks(m.bridge), m("anna lives in oslo . the [MASK] barked .").clone()


def _unchanged(m, snap):
    hooks, logits = snap
    assert count_hooks(m.bridge) == hooks
    assert torch.equal(m("anna lives in oslo . the [MASK] barked ."), logits)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablate_changes_the_answer_and_restores_the_model(pair, mode):
    for m in pair:
        snap = _snapshot(m)
        all_heads = [(l, h) for l in range(m.n_layers) for h in range(m.n_heads)]
        r = interp.ablate(m, CLEAN, all_heads, mode=mode, answer="is", reference=REFERENCE)
        assert r.answer == "is" and r.heads == tuple(all_heads) and r.mode == mode
        assert abs(r.logit_change) > 1e-6
        assert r.change == pytest.approx(r.prob_after - r.prob_before)
        _unchanged(m, snap)


def test_ablation_reports_the_top1_before_and_after(pair):
    for m in pair:
        tokens = m.frame(CLEAN).tokens
        pos = m.frame(CLEAN).position
        all_heads = [(l, h) for l in range(m.n_layers) for h in range(m.n_heads)]
        r = interp.ablate(m, CLEAN, all_heads)
        with torch.no_grad():
            before = m(tokens)[0, pos].softmax(-1)

            def zero(z, hook):
                return torch.zeros_like(z)

            with m.hooks({f"blocks.{l}.attn.hook_z": zero for l in range(m.n_layers)}):
                after = m(tokens)[0, pos].softmax(-1)
        assert r.top1_before == m.tokenizer.decode([int(before.argmax())]).strip()
        assert r.top1_after == m.tokenizer.decode([int(after.argmax())]).strip()
        assert r.top1_prob_before == pytest.approx(float(before.max()), abs=1e-5)
        assert r.top1_prob_after == pytest.approx(float(after.max()), abs=1e-5)
        assert r.answer == r.top1_before  # no answer: the unablated top-1
        hi = interp.head_importance(m, CLEAN, progress=False)
        assert hi.top1_before == r.top1_before and hi.top1_after.shape == (m.n_layers, m.n_heads)
        single = interp.ablate(m, CLEAN, [(1, 2)])
        assert hi.top1_after[1, 2] == single.top1_after


def test_zero_ablating_a_head_equals_zeroing_its_z(pair):
    m = pair[0]
    r = interp.ablate(m, CLEAN, [(1, 2)], answer="is")
    tokens = m.to_tokens("the key to the cabinet")

    def zero_head(z, hook):
        z = z.clone()
        z[:, :, 2] = 0
        return z

    with m.hooks({"blocks.1.attn.hook_z": zero_head}):
        expected = m.forward(tokens)[0, -1].softmax(-1)[m.to_single_token("is")].item()
    assert r.prob_after == pytest.approx(expected, abs=1e-7)


def test_head_importance_matches_single_ablations(pair):
    for m in pair:
        snap = _snapshot(m)
        r = interp.head_importance(m, CLEAN, answer="is", progress=False)
        assert "top-1 before" in repr(r)
        assert r.effects.shape == (m.n_layers, m.n_heads)
        for layer, head in [(0, 1), (1, 3)]:
            single = interp.ablate(m, CLEAN, [(layer, head)], answer="is")
            assert r.effects[layer, head] == pytest.approx(single.change, abs=1e-6)
        _unchanged(m, snap)


def test_mean_ablation_uses_the_reference_mean(pair):
    from interp.analysis.ablation import mean_head_outputs

    m = pair[0]
    texts = REFERENCE[:4]
    means = mean_head_outputs(m, texts)
    assert means.shape == (m.n_layers, m.n_heads, m.d_model // m.n_heads)
    _, cache = m.run_with_cache(m.to_tokens(texts[0], truncate=True), names=["blocks.0.attn.hook_z"])
    assert not torch.allclose(means[0], torch.zeros_like(means[0]))
    one = mean_head_outputs(m, texts[:1])
    torch.testing.assert_close(one[0], cache["blocks.0.attn.hook_z"][0].mean(0))


def test_reference_means_are_reused_until_the_reference_or_a_weight_changes(pair):
    from interp.analysis import ablation

    m = pair[0]
    first = ablation._means(m, "mean", list(REFERENCE))
    assert ablation._means(m, "mean", list(REFERENCE)) is first  # same texts, same weights: computed once
    assert ablation._means(m, "mean", REFERENCE[:2]) is not first
    torch.testing.assert_close(ablation._means(m, "mean", list(REFERENCE)), first)
    weight = next(m.bridge.parameters())
    with torch.no_grad():
        weight.add_(0.5)
    try:
        changed = ablation._means(m, "mean", list(REFERENCE))
        assert changed is not first and not torch.allclose(changed, first)
    finally:
        with torch.no_grad():
            weight.sub_(0.5)


def test_patching_last_layer_restores_exactly_and_nothing_restores_nothing(pair):
    for m in pair:
        snap = _snapshot(m)
        r = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
        T = len(r.tokens)
        assert r.restored.shape == (m.n_layers, T)
        assert r.changed == [2]
        # At the last layer only the read position feeds the answer: patching it restores everything.
        assert r.restored[-1, r.position] == pytest.approx(1.0, abs=1e-5)
        others = [t for t in range(T) if t != r.position]
        np.testing.assert_allclose(r.restored[-1, others], 0, atol=1e-5)
        # Patching every position of the last layer restores exactly; patching none restores nothing.
        name = f"blocks.{m.n_layers - 1}.hook_resid_post"
        aid, cid = (m.to_single_token("is"),), (m.to_single_token("are"),)
        clean_t = _target.make(m, m.frame(CLEAN), aid, cid)
        corrupt_t = _target.make(m, m.frame(CORRUPT), aid, cid)
        _, cache = m.run_with_cache(clean_t.rows, names=[name])
        diffs = _values(m, corrupt_t, patched_reads(m, corrupt_t, cache[name], name, [list(range(T)), []]))
        restored = (diffs - r.corrupt_diff) / (r.clean_diff - r.corrupt_diff)
        assert restored[0].item() == pytest.approx(1.0, abs=1e-5) and restored[1].item() == pytest.approx(
            0.0, abs=1e-6
        )
        _unchanged(m, snap)


@pytest.mark.parametrize("hook", ["attn_out", "mlp_out", "resid_pre"])
def test_patching_other_hooks(pair, hook):
    r = interp.patch(pair[0], CLEAN, CORRUPT, hook=hook, answer="is", contrast="are", progress=False)
    assert r.hook == hook and np.isfinite(r.restored).all()


def test_intervention_errors_leave_the_model_unchanged(pair):
    c, b = pair
    for m in pair:
        snap = _snapshot(m)
        with pytest.raises(InputError, match="same length: clean has"):
            interp.patch(m, CLEAN, "the big keys to the cabinet ___ on the table .")
        with pytest.raises(InputError, match="unknown patching hook"):
            interp.patch(m, CLEAN, CORRUPT, hook="nope")
        with pytest.raises(InputError, match="does not exist"):
            interp.ablate(m, CLEAN, [(9, 0)])
        with pytest.raises(InputError, match="unknown ablation mode"):
            interp.ablate(m, CLEAN, [(0, 0)], mode="noise")
        with pytest.raises(InputError, match="answer and contrast are the same"):
            interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="is")
        with pytest.raises(InputError, match="mean ablation needs reference texts for .*pass reference="):
            interp.ablate(m, CLEAN, [(0, 0)], mode="mean")
        _unchanged(m, snap)


def test_results_round_trip(pair, tmp_path):
    c = pair[0]
    for i, r in enumerate(
        [
            interp.ablate(c, CLEAN, [(0, 0)]),
            interp.ablate(c, CLEAN, [(0, 0)], answer="is is"),
            interp.head_importance(c, CLEAN, progress=False),
            interp.patch(c, CLEAN, CORRUPT, answer="is", contrast="are", progress=False),
        ]
    ):
        back = interp.load_result(r.save(tmp_path / f"x{i}"))
        assert repr(back) == repr(r)
        if hasattr(r, "top1_after"):
            np.testing.assert_array_equal(np.asarray(back.top1_after), np.asarray(r.top1_after))


def test_patching_decodes_only_the_read_position(pair):
    """Memory stays (rows, d_vocab): the vocabulary head never sees a (batch, T, d_model) input."""
    for m in pair:
        hf = m.bridge.original_model
        head = getattr(hf, "lm_head", None) or hf.cls
        shapes = []
        handle = head.register_forward_pre_hook(
            lambda mod, args, shapes=shapes: shapes.append(tuple(args[0].shape))
        )
        try:
            r = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
        finally:
            handle.remove()
        T = len(r.tokens)
        assert shapes and all(len(s) == 2 for s in shapes), shapes
        assert max(s[0] for s in shapes) == 2 + T


def test_patching_says_when_its_scores_mean_little(pair):
    import widgets
    from interp.analysis.patching import patch_warnings
    from interp.results.interventions import MIN_GAP

    assert patch_warnings(3.0, -2.0) == ()
    (wrong,) = patch_warnings(-1.0, -3.0)
    assert "does not prefer the answer" in wrong and "-1.00" in wrong
    (small,) = patch_warnings(2.0, 2.0 + MIN_GAP / 2)
    assert "only 0.050" in small and "mostly noise" in small
    for m in pair:
        good = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
        swapped = interp.patch(m, CLEAN, CORRUPT, answer="are", contrast="is", progress=False)
        assert swapped.clean_diff == pytest.approx(-good.clean_diff, abs=1e-5)
        assert any("does not prefer" in w for w in good.warnings) == (good.clean_diff <= 0)
        flagged = good if good.clean_diff <= 0 else swapped
        assert any("does not prefer the answer" in w for w in flagged.warnings)
        assert "warning: the clean run does not prefer" in repr(flagged)
        assert "warning: the clean run does not prefer" in widgets.figure(flagged).layout.title.text
