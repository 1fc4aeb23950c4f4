"""Results that once came back silently wrong: an objective attribution of a probe reported 0/0 left/right
masses; a table's ``head`` column shadowed ``DataFrame.head`` (``df[df.head == 2]`` was empty); a stop-after
in one thread and an attribution in another once saw each other's hooks (``StopForward``, ``HookError``)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_persistence import _same

import interp

PROBE = "the keys to the cabinet ___ on the table ."
OTHER = "the key to the cabinet is on the table ."


def _masses_by_hand(tokens, scores, slot, skip):
    """Shares of |scores| strictly left / right of ``slot`` over the tokens not in ``skip``."""
    keep = np.array([t not in skip for t in tokens])
    mass = np.abs(scores) * keep
    left, right = mass[:slot].sum(), mass[slot + 1 :].sum()
    return left / (left + right), right / (left + right)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency"])
def test_an_objective_attribution_of_a_probe_reports_its_masses(bidirectional, method):
    objective = interp.objectives.similarity(bidirectional, OTHER, pooling="content")
    r = interp.attribute(bidirectional, PROBE, objective=objective, method=method, n_steps=8, tolerance=None)
    assert r.objective_kind == "objective" and r.slot is None  # a user objective reads the whole text
    slot = r.tokens.index(bidirectional.tokenizer.mask_token)
    tok = bidirectional.tokenizer
    left, right = _masses_by_hand(r.tokens, r.scores, slot, {tok.cls_token, tok.sep_token, tok.mask_token})
    assert 0.05 < left < 0.95  # both sides hold mass: 0.0 / 0.0 was the silent result
    assert r.attr_left_mass == pytest.approx(left, abs=1e-6)
    assert r.attr_right_mass == pytest.approx(right, abs=1e-6)
    assert r.attr_left_mass + r.attr_right_mass == pytest.approx(1.0)


def test_a_causal_objective_attribution_is_all_left_and_plain_text_has_no_sides(causal, bidirectional):
    """A causal model reads the prefix before the slot: every mass is left of it. Plain text has no slot, so
    no sides (0 / 0), as the field's docstring says."""
    r = interp.attribute(
        causal,
        PROBE,
        objective=interp.objectives.similarity(causal, OTHER, pooling="content"),
        method="saliency",
    )
    assert (r.attr_left_mass, r.attr_right_mass) == (pytest.approx(1.0), 0.0)
    for m in (causal, bidirectional):
        plain = interp.attribute(
            m, OTHER, objective=interp.objectives.similarity(m, PROBE, pooling="content"), method="saliency"
        )
        assert (plain.attr_left_mass, plain.attr_right_mass) == (0.0, 0.0)
        assert np.abs(plain.scores).sum() > 0


def _tables(causal, bidirectional):
    sim = interp.objectives.similarity(causal, OTHER, pooling="content")
    return {
        "attention": interp.attention(causal, PROBE).to_dataframe(),
        "induction": interp.induction_scores(causal, seq_len=8, n_seqs=2).to_dataframe(),
        "head_importance": interp.head_importance(causal, PROBE, answer="are", progress=False).to_dataframe(),
        "objective importance": interp.head_importance(
            causal, OTHER, objective=sim, progress=False
        ).to_dataframe(),
        "decompose": interp.decompose(bidirectional, PROBE, answer="are").to_dataframe(),
    }


def test_no_table_has_a_head_column_that_shadows_dataframe_head(causal, bidirectional):
    for name, df in _tables(causal, bidirectional).items():
        assert "head" not in df.columns and "head_index" in df.columns, (name, list(df.columns))
        assert callable(df.head) and len(df.head(2)) == 2  # the method is the method again
        selected = df[df.head_index == 1]
        model = bidirectional if name == "decompose" else causal
        assert len(selected) == model.n_layers, name  # head 1 of every layer: once silently empty
        assert set(selected.layer) == set(range(model.n_layers))
    heads = _tables(causal, bidirectional)["decompose"]
    assert (heads[heads.kind != "head"].head_index == -1).all()


def test_a_stop_after_in_one_thread_and_attribute_in_another(causal):
    """logit_lens and a user's own ``run_with_cache(stop_after=...)`` (under ``model.lock``, as documented) stop
    the forward pass early with an internal exception; attribute runs gradients through hooks. Run together on
    one model, each gets what it gets alone: no StopForward or HookError reaches the other thread."""
    name = "blocks.0.hook_resid_post"

    def own_stop_after():
        with causal.lock:
            _, cache = causal.run_with_cache(PROBE.replace("___", "are"), names=[name], stop_after=name)
        return cache[name].clone()

    jobs = {
        "lens": lambda: interp.logit_lens(causal, PROBE),
        "attribute": lambda: interp.attribute(causal, PROBE, answer="are", n_steps=8, tolerance=None),
        "stop_after": own_stop_after,
    }
    alone = {key: job() for key, job in jobs.items()}
    start = threading.Barrier(3)

    def repeat(key):
        start.wait(60)
        return [jobs[key]() for _ in range(4)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(repeat, key) for key in jobs}
        got = {key: future.result(timeout=600) for key, future in futures.items()}  # re-raises any error
    for key, runs in got.items():
        for run in runs:
            if key == "stop_after":
                assert run.equal(alone[key])
            else:
                _same(run, alone[key], key)
    assert causal.lock.acquire(blocking=False)
    causal.lock.release()


def test_a_numpy_bool_is_a_flag(causal):
    """``checks.flag`` takes numpy's bool as its docstring says (numpy 2 renamed its type from bool_ to bool)."""
    from interp import checks

    assert checks.flag("lens", np.True_) is True and checks.flag("lens", np.bool_(False)) is False
    assert interp.generate(causal, "the owl", 1, lens=np.False_).lens_top_ids is None
    with pytest.raises(interp.InterpError, match="must be True or False"):
        checks.flag("lens", np.int64(1))
