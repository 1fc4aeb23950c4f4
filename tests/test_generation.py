"""interp.generate: causal greedy decoding equals Hugging Face's; masked generation commits every position once,
in the order asked, deterministically; the result's invariants hold and refuse broken ones; the lens is kept as
top-k; bad input raises InterpError and leaves no hooks."""

import dataclasses
import tracemalloc

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp.analysis.generation import generator_of
from interp.errors import InputError, InterpError, ResultError
from interp.results.generation import kendall_tau

PROMPT = "in the evening lena has a blue hat and xena has a red hat ."
PROBE = "the keys to the cabinet ___ on the table ."


@pytest.fixture(scope="module")
def runs(causal, bidirectional):
    return {
        "causal": interp.generate(causal, PROMPT, 10),
        **{
            o: interp.generate(bidirectional, PROMPT, 10, order=o, seed=3)
            for o in ("confidence", "random", "left_to_right")
        },
        "chunked": interp.generate(bidirectional, PROMPT, 10, steps=4),
    }


def test_fields_and_invariants(runs):
    for name, r in runs.items():
        S, T = r.tokens.shape[0] - 1, r.tokens.shape[1]
        g = r.generated
        assert len(g) == 10 and r.commit_step.shape == r.commit_prob.shape == (T,)
        assert np.all(r.tokens[0, g] == r.undecided) and not np.any(r.tokens[-1] == r.undecided)
        assert np.all(np.diff((r.tokens == r.undecided).sum(1)) < 0), name  # masks fall every step
        for p in g:  # committed exactly once, never changed afterwards
            s = r.commit_step[p]
            assert np.all(r.tokens[:s, p] == r.undecided) and np.all(r.tokens[s:, p] == r.tokens[-1, p]), name
        assert np.all(np.isnan(r.commit_prob[r.commit_step < 0])) and np.all(r.commit_prob[g] > 0)
        assert S == (4 if name == "chunked" else 10)
    assert (
        runs["causal"].undecided == -1
        and runs["confidence"].undecided == interp.load("tiny-bidirectional").mask_token_id
    )


def test_commit_step_semantics(runs, bidirectional):
    r = runs["confidence"]
    for s in range(1, r.steps + 1):  # row s is the first row holding what step s committed
        newly = np.flatnonzero(r.tokens[s] != r.tokens[s - 1])
        assert list(newly) == list(np.flatnonzero(r.commit_step == s))
    # the committed probability is the model's top-1 probability at that position, on that step's input
    p = int(np.flatnonzero(r.commit_step == 1)[0])
    probs = torch.softmax(bidirectional.forward(torch.tensor(r.tokens[:1]))[0, p], -1)
    probs[sorted(bidirectional.special_ids | {bidirectional.mask_token_id})] = 0
    assert r.commit_prob[p] == pytest.approx(float(probs.max()), rel=1e-5)
    assert np.bincount(runs["chunked"].commit_step[runs["chunked"].generated]).tolist()[1:] == [3, 3, 2, 2]


def test_orders(runs):
    ltr, conf = runs["left_to_right"], runs["confidence"]
    assert np.all(np.diff(ltr.commit_step[ltr.generated]) > 0) and ltr.order_stats()["kendall_tau"] == 1.0
    assert runs["causal"].order == "left_to_right" and runs["causal"].order_stats()["kendall_tau"] == 1.0
    # confidence: each step commits the most probable of the positions still open
    assert conf.commit_prob[conf.generated].max() > 0.5
    assert not np.array_equal(runs["random"].commit_step, ltr.commit_step)


def test_same_seed_same_result_other_seed_other_order(bidirectional):
    a, b = (interp.generate(bidirectional, PROMPT, 10, order="random", seed=7) for _ in range(2))
    c = interp.generate(bidirectional, PROMPT, 10, order="random", seed=8)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.commit_prob, b.commit_prob, equal_nan=True)
    assert not np.array_equal(a.commit_step, c.commit_step)


def _hf_greedy(folder, ids, n):
    """Hugging Face's own greedy decoding, on a model loaded afresh: the engine's wrapped copy is not used,
    since its modules no longer follow Hugging Face's key-value cache (its generate goes wrong with the cache)."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(folder)
    out = hf.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0].tolist()


def test_causal_equals_hugging_face_greedy(causal):
    from interp.zoo import ZOO_DIR

    r = interp.generate(causal, PROMPT, 12)
    assert r.tokens[-1].tolist() == _hf_greedy(ZOO_DIR / "tiny-causal", causal.to_tokens(PROMPT), 12)


def test_causal_never_stops_at_end_of_text(tiny_model, tiny_folder):
    m = tiny_model("gpt2")  # random weights: greedy decoding may pick the EOS id; it goes on regardless
    r = interp.generate(m, "the key is here", 20)
    assert r.tokens.shape == (21, m.to_tokens("the key is here").shape[1] + 20)
    eos = m.tokenizer.eos_token_id
    ref = _hf_greedy(tiny_folder("gpt2"), m.to_tokens("the key is here"), 20)
    # Hugging Face's min_new_tokens bans EOS until the end; where greedy would write it, the two part there
    if eos in r.tokens[-1].tolist():
        first = r.tokens[-1].tolist().index(eos)
        assert r.tokens[-1].tolist()[:first] == ref[:first]
    else:
        assert r.tokens[-1].tolist() == ref


def test_slots_are_generated_in_place(bidirectional):
    r = interp.generate(bidirectional, PROBE, 1)
    assert r.text == "the keys to the cabinet are on the table ."
    two = interp.generate(bidirectional, "the keys to the ___ ___ on the table .", 2, steps=2)
    assert len(two.generated) == 4 and two.steps == 2


def test_diffusion_generator_is_read_from_the_config(bidirectional, causal):
    assert generator_of(causal) == "causal" and generator_of(bidirectional) == "masked"


def test_lens_is_streamed_top_k(bidirectional, causal):
    r = interp.generate(bidirectional, PROMPT, 8, lens=True, top_k=3)
    plain = interp.generate(bidirectional, PROMPT, 8)
    assert np.array_equal(r.tokens, plain.tokens)
    assert r.lens_top_ids.shape == (8, bidirectional.n_layers + 1, 8, 3)
    for s in range(8):  # read exactly at the positions still masked before step s + 1
        open_ = r.commit_step[r.generated] > s
        assert np.all(r.lens_top_ids[s, :, open_] >= 0) and np.all(r.lens_top_ids[s, :, ~open_] == -1)
    c = interp.generate(causal, PROMPT, 5, lens=True)
    assert np.array_equal((c.lens_top_ids[:, -1, :, 0] >= 0), np.eye(5, dtype=bool))
    assert np.array_equal(c.lens_top_ids[np.arange(5), -1, np.arange(5), 0], c.tokens[-1, c.generated])


def test_lens_memory_does_not_grow_with_vocab_times_steps(tiny_model):
    m = tiny_model("bert")
    interp.generate(m, "the key is here .", 2, lens=True)  # warm-up
    tracemalloc.start()
    r = interp.generate(m, "the key is here .", 24, lens=True, top_k=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole = r.steps * (m.n_layers + 1) * r.tokens.shape[1] * m.d_vocab * 4  # what a stacked lens would take
    assert peak < whole / 4, (peak, whole)


def test_suite_returns_one_row_per_generation(causal, bidirectional):
    from interp.zoo.grammar import well_formed

    df = interp.generate_suite(
        [causal, bidirectional],
        [PROMPT, PROBE.replace("___", "is")],
        6,
        orders=("confidence", "random"),
        judge=well_formed,
        progress=False,
    )
    assert len(df) == 2 + 2 * 2
    assert set(df.order) == {"left_to_right", "confidence", "random"}
    assert (df[df.generator == "causal"].kendall_tau == 1.0).all() and df.judged.dtype == bool
    causal_rows = df[df.generator == "causal"]
    firsts = [interp.generate(causal, p, 1).text.split()[-1] for p in causal_rows.prompt]
    assert list(causal_rows.first_token) == firsts


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_tokens=0),
        dict(order="backwards"),
        dict(steps=11),
        dict(steps=0),
        dict(seed=-1),
        dict(prompt="the ___ and the ___ ."),
        dict(prompt="a glorpish blorf"),
        dict(n_tokens=500),
        dict(prompt=3),
    ],
)
def test_bad_input_raises_and_leaves_no_hooks(causal, bidirectional, kwargs):
    for m in (causal, bidirectional):
        if m is bidirectional and kwargs.get("prompt") == "the ___ and the ___ .":
            continue  # several slots are fine for a masked LM
        base = count_hooks(m.bridge)
        args = {"prompt": PROMPT, "n_tokens": 10, **kwargs}
        if m is causal and "steps" in kwargs and kwargs["steps"] == 11:
            args["steps"] = 3
        with pytest.raises(InterpError):
            interp.generate(m, **args)
        assert count_hooks(m.bridge) == base


def test_broken_results_are_refused(runs):
    r = runs["confidence"]
    g = r.generated
    changed = r.tokens.copy()
    changed[-1, g[0]] = (changed[-1, g[0]] + 1) % 50 + 6  # a committed token that changes afterwards
    bad_steps = r.commit_step.copy()
    bad_steps[g[0]] = r.steps + 1
    for edit in (dict(tokens=changed), dict(commit_step=bad_steps), dict(order="sideways")):
        with pytest.raises(ResultError):
            dataclasses.replace(r, **edit)
    assert r.order_stats()["kendall_tau"] < 1  # so its commit steps cannot pass for left to right
    with pytest.raises(ResultError):
        dataclasses.replace(r, order="left_to_right")


def test_kendall_tau():
    assert kendall_tau([0, 1, 2, 3], [1, 2, 3, 4]) == 1.0
    assert kendall_tau([0, 1, 2, 3], [4, 3, 2, 1]) == -1.0
    assert np.isnan(kendall_tau([0, 1, 2], [1, 1, 1]))


def test_views_draw_order_text_and_lens(runs, bidirectional):
    import widgets
    from widgets import generation as views

    r = interp.generate(bidirectional, PROMPT, 6, lens=True)
    heat = widgets.figure(r).data[0]
    for j, p in enumerate(r.generated):  # the token sits in the row of the step that committed it
        assert heat.text[r.commit_step[p] - 1][j] == r.str_tokens[p]
    assert views.generation_figure(r, "lens", 2).data[0].z is not None
    assert views.step_html(r, 0).count("&nbsp;") == 6 and "&nbsp;" not in views.step_html(r, r.steps)
    assert len(views.side_by_side(runs["causal"], runs["confidence"]).data) == 2
    view = widgets.view(r)
    slider = next(w for w in view.children if type(w).__name__ == "IntSlider")
    slider.value = 1
    assert "after step 1" in view.children[view.children.index(slider) + 1].value
    lens = view.children[-1]
    slider.value = 3
    assert lens.layout.title.text.endswith("lens before step 3")
    slider.value = 0  # the prompt: the lens that reads it, step 1's, not the last one shown
    assert lens.layout.title.text.endswith("lens before step 1")
    np.testing.assert_array_equal(
        np.array(lens.data[0].z, dtype=float), np.array(views.lens_trace(r, 1).z, dtype=float)
    )
    with pytest.raises(InterpError):
        views.generation_figure(runs["causal"], "lens")


def test_the_zoo_diffusion_model_generates_as_its_card_measures():
    """generate on tiny-diffusion is a diffusion generation, and writes what the card's batched check writes."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo import ZOO_DIR, diffusion

    m = interp.load("tiny-diffusion")
    assert generator_of(m) == "diffusion"
    prompts = diffusion.prompts(3)
    folder = ZOO_DIR / "tiny-diffusion"
    hf, tok = AutoModelForMaskedLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    batched = diffusion.unmask(hf, tok, prompts, n_tokens=8)
    for prompt, text in zip(prompts, batched):
        r = interp.generate(m, prompt, 8)
        assert r.generator == "diffusion" and r.text == text


def test_mask_tokens_written_in_the_prompt_are_refused(bidirectional):
    """``n_tokens`` means what it says: typed mask tokens would be filled too (4 tokens for n_tokens=2), so they
    are refused with a message saying to write slots; the same places written as slots give n_tokens each."""
    mask = bidirectional.tokenizer.mask_token
    with pytest.raises(InputError, match="___") as info:
        interp.generate(bidirectional, f"the {mask} {mask} hooted", 2)
    assert f"2 {mask} token(s)" in str(info.value)
    with pytest.raises(InputError, match="of its own"):
        interp.generate(bidirectional, f"the ___ on the {mask} .", 1)
    assert len(interp.generate(bidirectional, "the owl hooted", 2).generated) == 2
    assert (
        len(interp.generate(bidirectional, "the ___ ___ hooted", 2).generated) == 4
    )  # 2 per slot, as promised


@pytest.mark.parametrize("bad", ["no", 1, 0, None])
def test_allow_unknown_must_be_a_bool(causal, bidirectional, bad):
    for m in (causal, bidirectional):
        with pytest.raises(InputError, match="allow_unknown must be True or False"):
            interp.generate(m, "the owl hooted", 2, allow_unknown=bad)


def test_an_unknown_word_stays_visible_in_the_text(causal, bidirectional):
    for m in (causal, bidirectional):
        with pytest.raises(InputError, match="'glorpish'"):
            interp.generate(m, "the glorpish owl hooted", 2)
        r = interp.generate(m, "the glorpish owl hooted", 2, allow_unknown=True)
        unk = m.tokenizer.unk_token
        assert r.text.startswith(f"the {unk} owl hooted"), r.text
        assert not any(
            s in r.text for s in (m.tokenizer.cls_token, m.tokenizer.sep_token, m.tokenizer.bos_token) if s
        )


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(orders=[]), "orders is empty"),
        (dict(orders=["bogus"]), "bogus"),
        (dict(orders=("confidence", "sideways")), "sideways"),
        (dict(orders=3), "orders"),
        (dict(progress="no"), "progress must be True or False"),
        (dict(progress=1), "progress must be True or False"),
        (dict(judge="well_formed"), "judge must be None or a function"),
        (dict(prompts="one string"), "pass ['one string']"),
        (dict(prompts=[]), "non-empty list"),
        (dict(models="tiny-causal"), "models must be a model"),
    ],
)
def test_suite_bad_input_is_refused_for_every_model(causal, bidirectional, kwargs, fragment):
    """Unknown or empty orders are refused with a causal model alone too (it would ignore them); a single
    string of prompts is refused saying what to pass, never split into letters."""
    for models in ([causal], [bidirectional], [causal, bidirectional]):
        args = {"models": models, "prompts": [PROMPT], "n_tokens": 2, "progress": False, **kwargs}
        with pytest.raises(InputError) as info:
            interp.generate_suite(**args)
        assert fragment in str(info.value), str(info.value)


def test_a_judge_must_return_a_bool(causal, bidirectional):
    for verdict in ("no", 1, None, np.float64(0.0)):
        with pytest.raises(InputError) as info:
            interp.generate_suite(
                [causal, bidirectional], [PROMPT], 2, judge=lambda text, v=verdict: v, progress=False
            )
        assert ("returned 'no' (str)" in str(info.value)) == (verdict == "no")
        assert type(verdict).__name__ in str(info.value) and "True or False" in str(info.value)
    df = interp.generate_suite(
        [causal, bidirectional], [PROMPT], 2, judge=lambda text: np.bool_("owl" in text), progress=False
    )
    assert df.judged.dtype == bool and len(df) == 2

    def broken(text):
        return 1 / 0

    with pytest.raises(
        InputError, match="the judge 'broken' raised ZeroDivisionError: division by zero on the text"
    ):
        interp.generate_suite([causal], [PROMPT], 2, judge=broken, progress=False)
    assert causal.reset() == 0
