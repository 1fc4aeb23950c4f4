"""Path patching against a hand-written two-pass implementation on 2-layer models of both kinds."""

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."


def _hand(m, sender, receivers):
    """One sender at a time, unbatched: pass 1 with every other head frozen at its corrupt value, pass 2 with
    the receivers' inputs from pass 1 (or pass 1 scored, for the logits)."""
    a, c = m.to_single_token("is"), m.to_single_token("are")
    cf, xf = m.frame(CLEAN), m.frame(CORRUPT)
    z = [f"blocks.{l}.attn.hook_z" for l in range(m.n_layers)]
    _, clean = m.run_with_cache(cf.tokens, names=z)
    _, corrupt = m.run_with_cache(xf.tokens, names=z)
    sl, sh = sender

    def frozen(l):
        def fn(act, hook):
            out = corrupt[z[l]].clone()
            if l == sl:
                out[:, :, sh] = clean[z[l]][:, :, sh]
            return out

        return fn

    first = {z[l]: frozen(l) for l in range(m.n_layers)}
    with torch.no_grad():
        if receivers == "logits":
            with m.hooks(first):
                logits = m(xf.tokens)
        else:
            names = {f"blocks.{l}.attn.hook_{x}" for l, _, x in receivers}
            seen = {}
            for n in names:
                first[n] = lambda act, hook, n=n: seen.__setitem__(n, act.clone())
            with m.hooks(first):
                m(xf.tokens)
            second = {}
            for n in names:
                heads = [h for l, h, x in receivers if f"blocks.{l}.attn.hook_{x}" == n]

                def put(act, hook, n=n, heads=heads):
                    act = act.clone()
                    act[:, :, heads] = seen[n][:, :, heads]
                    return act

                second[n] = put
            with m.hooks(second):
                logits = m(xf.tokens)
    pos = cf.position
    return float(logits[0, pos, a] - logits[0, pos, c])


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_path_patching_equals_the_two_pass_hand_computation(tiny_model, arch):
    torch.set_num_threads(1)
    m = tiny_model(arch)
    assert m.n_layers == 2
    into_logits = interp.path_patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
    assert into_logits.raw.shape == (m.n_layers, m.n_heads) and into_logits.receivers == ("logits",)
    hand = np.array([[_hand(m, (l, h), "logits") for h in range(m.n_heads)] for l in range(m.n_layers)])
    np.testing.assert_allclose(into_logits.raw, hand, atol=1e-5)
    assert "frozen at its corrupt-run value" in into_logits.rule and into_logits.passes_per_sender == 1
    assert into_logits.n_passes == 3  # clean, corrupt, and one batched pass for the 8 senders

    receivers = [(1, 0, "k"), (1, 2, "q")]
    senders = [(0, 0), (0, 3), (1, 1)]
    into_heads = interp.path_patch(
        m, CLEAN, CORRUPT, senders=senders, receivers=receivers, answer="is", contrast="are", progress=False
    )
    assert into_heads.raw.shape == (3,) and into_heads.receivers == ("L1H0.k", "L1H2.q")
    np.testing.assert_allclose(into_heads.raw, [_hand(m, s, receivers) for s in senders], atol=1e-5)
    # a sender in the receivers' own layer has no path to them
    assert into_heads.restored[2] == pytest.approx(0.0, abs=1e-5)
    assert into_heads.n_passes == 4 and into_heads.passes_per_sender == 2
    assert into_heads.receiver_heads == [(1, 0, "k"), (1, 2, "q")]


def test_path_patching_refuses_bad_heads_and_round_trips(tiny_model, tmp_path):
    m = tiny_model("gpt2")
    m.reset()  # the session's shared model, as earlier tests left it
    with pytest.raises(InputError, match="senders must be 'all' or a list"):
        interp.path_patch(m, CLEAN, CORRUPT, senders=[(5, 0)])
    with pytest.raises(InputError, match="receivers must be 'logits' or a list"):
        interp.path_patch(m, CLEAN, CORRUPT, receivers=[(1, 0, "z")])
    with pytest.raises(InputError, match=r"sender \(0, 1\) is given twice"):
        interp.path_patch(m, CLEAN, CORRUPT, senders=[(0, 1), (1, 0), (0, 1)])
    with pytest.raises(InputError, match=r"receiver \(1, 0, 'k'\) is given twice"):
        interp.path_patch(m, CLEAN, CORRUPT, senders=[(0, 1)], receivers=[(1, 0, "k"), (1, 0, "k")])
    assert m.reset() == 0
    r = interp.path_patch(m, CLEAN, CORRUPT, senders=[(0, 1)], answer="is", contrast="are", progress=False)
    back = interp.load_result(r.save(tmp_path / "p"))
    assert repr(back) == repr(r) and back.rule == r.rule
    np.testing.assert_array_equal(back.senders, [[0, 1]])
    # heads read as integers wherever they are shown, in the tables' head_index column
    import widgets

    assert back.sender_heads == [(0, 1)] and "L0H1" in repr(back)
    assert list(widgets.figure(back).data[0].x) == ["L0H1"]
    table = back.to_dataframe()
    assert list(table.columns[:2]) == ["layer", "head_index"] and table.head_index.dtype.kind == "i"
    by_position = interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
    columns = list(by_position.to_dataframe().columns)
    assert len(set(columns)) == len(by_position.tokens) and columns[1] == f"1·{by_position.tokens[1]}"


def test_grouped_query_receivers_and_the_magics(tiny_model, tiny_folder):
    from IPython.core.interactiveshell import InteractiveShell

    llama = tiny_model("llama")  # 4 query heads, 2 key/value heads
    r = interp.path_patch(llama, CLEAN, CORRUPT, senders=[(0, 3)], receivers=[(1, 1, "v")], progress=False)
    assert r.raw.shape == (1,) and np.isfinite(r.raw).all()
    with pytest.raises(InputError, match="block 1 has 2 k heads"):
        interp.path_patch(llama, CLEAN, CORRUPT, senders=[(0, 3)], receivers=[(1, 3, "k")], progress=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    try:
        sh.user_ns["g"] = tiny_model("gpt2")
        line = f'g "{CLEAN}" "{CORRUPT}" --answer is --contrast are'
        p = sh.run_line_magic("interp", f"path_patch {line}")
        assert isinstance(p, interp.PathPatchingResult) and p.raw.shape == (2, 4)
        a = sh.run_line_magic("interp", f"attribution_patch {line} --hook v --by head_position --method atp*")
        assert (
            isinstance(a, interp.AttributionPatchingResult) and a.method == "atp*" and a.by == "head_position"
        )
        h = sh.run_line_magic("interp", f"patch {line} --hook z --by head --metric prob --direction noise")
        assert (h.by, h.metric, h.direction) == ("head", "prob", "noise")
    finally:
        sh.run_line_magic("unload_ext", "interp")
