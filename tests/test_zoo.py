"""The embedded zoo: corpus, tokenizer, training smoke test, shipped weights, held-out accuracy."""

import collections
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.zoo import ZOO_DIR, corpus


def test_corpus_is_deterministic_and_seeded():
    assert corpus.generate(20, seed=3) == corpus.generate(20, seed=3)
    assert corpus.generate(20, seed=3) != corpus.generate(20, seed=4)
    assert [p.text for p in corpus.probes(seed=5, n_per_kind=10)] == [
        p.text for p in corpus.probes(seed=5, n_per_kind=10)
    ]


def test_probes_have_one_slot_a_word_before_it_and_one_word_answers():
    probes = corpus.probes(n_per_kind=50)
    assert {p.phenomenon for p in probes} == set(corpus.PHENOMENA)
    for p in probes:
        assert p.text.count(corpus.SLOT) == 1
        assert p.text.split(corpus.SLOT)[0].strip(), p
        assert len(p.answer.split()) == 1
        assert p["answer"] == p.answer  # records work as mappings too


@pytest.fixture(scope="module")
def training_sample():
    """A large sample of training text from both models' mixes, with the constructions of its slots."""
    import random

    from interp.zoo.train import SETTINGS

    rng = random.Random(0)
    passages, constructions = [], []
    for kind in ("causal", "bidirectional"):
        for _ in range(8000):
            passages.append(corpus.passage(rng, mix=SETTINGS[kind]["mix"], constructions=constructions)[0])
    return passages, collections.Counter(constructions)


def test_held_out_constructions_and_windows_never_occur_in_training(training_sample):
    """Held out by construction: no evaluation probe's construction is ever produced in training, and no
    evaluation probe's five-word window around the slot (answer filled in; four words where the probe ends one
    word after the slot) occurs in 16,000 training passages;
    every production left or right of an evaluation slot does occur in training, in other combinations."""
    passages, constructions = training_sample
    assert not set(constructions) & corpus.HELD_OUT
    grams = {tuple(w[i : i + n]) for w in passages for n in (4, 5) for i in range(len(w) - n + 1)}
    probes = corpus.probes(n_per_kind=150) + corpus.probes(seed=77, n_per_kind=150)
    assert {p.construction for p in probes} == corpus.HELD_OUT
    for p in probes:
        words = p.text.split()
        i = words.index(corpus.SLOT)
        words[i] = p.answer
        window = tuple(words[i - 2 : i + 3])  # four words where the slot's word is followed only by "."
        assert len(window) >= 4 and window not in grams, p
    for held in corpus.HELD_OUT:
        phenomenon, pair = held.split(":")
        left, right = pair.split("+")
        seen = [c.split(":")[1].split("+") for c in constructions if c.startswith(phenomenon)]
        assert any(a == left for a, _ in seen) and any(b == right for _, b in seen), held


def test_the_masked_models_starting_text_holds_no_evaluation_window():
    """The masked model starts from grammar v1's weights: v1's training text must not contain the held-out
    probes' five-word windows either (measured: none of 800, in 16,000 passages of v1's masked-model mix)."""
    import importlib.util
    import random

    from interp.zoo.train import V1_MASKED

    data = Path(__file__).parent / "data"  # grammar v1 and its mix, frozen from the commit V1_MASKED names
    assert V1_MASKED.split()[1].startswith("0b865e9:")
    mix = json.loads((data / "grammar_v1_mix.json").read_text())["mix"]
    spec = importlib.util.spec_from_file_location("v1corpus", data / "grammar_v1_corpus.py")
    v1 = importlib.util.module_from_spec(spec)
    sys.modules["v1corpus"] = v1  # its dataclasses look their module up
    try:
        spec.loader.exec_module(v1)
        rng = random.Random(0)
        passages = [v1.passage(rng, mix=mix)[0] for _ in range(16000)]
    finally:
        del sys.modules["v1corpus"]
    grams = {tuple(w[i : i + n]) for w in passages for n in (4, 5) for i in range(len(w) - n + 1)}
    for p in corpus.probes(n_per_kind=200):
        words = p.text.split()
        i = words.index(corpus.SLOT)
        words[i] = p.answer
        assert tuple(words[i - 2 : i + 3]) not in grams, p


def test_training_covers_every_other_construction(training_sample):
    _, constructions = training_sample
    pairs = {
        "left_recall": corpus.LEFT_RECALL_PAIRS,
        "induction": corpus.INDUCTION_PAIRS,
        "agreement": corpus.AGREEMENT_PAIRS,
        "right_cloze": corpus.CLOZE_PAIRS,
    }
    allowed = {f"{ph}:{a}+{b}" for ph, ps in pairs.items() for a, b in ps} - corpus.HELD_OUT
    assert set(constructions) == allowed
    assert min(constructions.values()) >= 100


def test_grammar_checker_accepts_the_grammar_and_rejects_broken_text():
    import random

    texts = corpus.generate(300, seed=5)
    for p in corpus.probes(n_per_kind=50):
        texts.append(p.text.replace(corpus.SLOT, p.answer))
    assert all(corpus.well_formed(t) for t in texts)
    rng = random.Random(3)
    broken = 0
    for p in corpus.probes(seed=8, n_per_kind=25):
        wrong = {
            "left_recall": rng.choice([w for w in corpus.NOUNS if w != p.answer]),
            "induction": "is",
            "agreement": "are" if p.answer == "is" else "is",
            "right_cloze": rng.choice([a for a in corpus.ANIMALS if a != p.answer]),
        }[p.phenomenon]
        broken += not corpus.well_formed(p.text.replace(corpus.SLOT, wrong))
    assert broken == 100
    for bad in (
        "",
        "anna lives in oslo",
        "oslo lives in anna .",
        "the dog meowed .",
        "red blue green . red blue .",
        "we saw a dog . it mooed .",
        "the keys near the door is old .",
    ):
        assert not corpus.well_formed(bad), bad
    assert corpus.well_formed("red blue green . red blue green .")
    assert corpus.well_formed("we saw a dog . it barked .")


def test_sentence_frames_vary():
    """Facts are queried 0-4 sentences later with or without a lead word; agreement crosses 0-3 attractors;
    the cloze cue stands 1-8 words after the slot or in the next sentence."""
    import random

    rng = random.Random(11)
    cue_distances, attractors, query_openers = set(), set(), set()
    nouns = set(corpus.NOUNS) | set(corpus.PLURALS)
    for _ in range(400):
        words, slots = corpus.passage(rng, mix={"right_cloze": 0.5, "agreement": 0.5})
        for i in slots:
            if words[i] in corpus.ANIMALS:
                cue_distances.add(words.index(corpus.ANIMAL_SOUNDS[words[i]], i) - i)
            else:
                start = max([j + 1 for j in range(i) if words[j] == "."], default=0)
                attractors.add(sum(w in nouns for w in words[start:i]) - 1)
    for _ in range(300):
        words, slots = corpus.passage(rng, mix={"left_recall": 1.0})
        for i in slots:
            start = max([j + 1 for j in range(i) if words[j] == "."], default=0)
            query_openers.add(words[start] if words[start] in corpus.NAMES else "lead")
    assert set(range(1, 9)) <= cue_distances
    assert {0, 1, 2, 3} <= attractors
    assert "lead" in query_openers and len(query_openers) > 10  # a name opens most facts: no lead word


def test_training_copy_slots_are_answered_by_the_left_context_and_not_by_position():
    """Every induction slot copies the surname last seen after the same first name (a passage keeps its facts
    consistent), and the person named again is not always the first one introduced, so only real copying
    lowers the loss."""
    import random

    rng = random.Random(7)
    first_repeated = total = 0
    for _ in range(200):
        words, slots = corpus.passage(rng, mix={"induction": 1.0})
        for i in slots:
            name, surname = words[i - 1], words[i]
            earlier = [j for j in range(i - 1) if words[j] == name and words[j + 1] in corpus.SURNAMES]
            assert earlier and words[earlier[-1] + 1] == surname, " ".join(words[: i + 1])
            intro = words[: words.index(".")]
            people = [w for w in intro if w in corpus.NAMES]
            if i < len(intro) + 12:  # the first repeat after a block's introduction
                first_repeated += name == people[0]
                total += 1
    assert total > 50 and first_repeated / total < 0.6


def test_checkpoint_margin_is_the_weakest_phenomenon_over_its_bar():
    from interp.zoo.evaluate import BARS, margin

    acc = {"left_recall": 0.99, "induction": 0.95, "agreement": 1.0, "right_cloze": 0.895}
    assert margin("bidirectional", acc) == pytest.approx(-0.005)
    assert margin("causal", {**acc, "right_cloze": 0.0}) == pytest.approx(0.05)  # no cloze bar for causal
    # the bars, the same ones the accuracy tests below assert, choose the masked model's checkpoint
    assert BARS == {
        "causal": {"left_recall": 0.9, "induction": 0.9, "agreement": 0.9},
        "bidirectional": {"left_recall": 0.9, "induction": 0.9, "agreement": 0.9, "right_cloze": 0.9},
    }


def test_training_facts_are_consistent_within_a_passage():
    import random

    rng = random.Random(8)
    for _ in range(100):
        words, _ = corpus.passage(rng, mix={"left_recall": 1.0})
        city: dict[str, str] = {}
        for j in range(len(words) - 3):
            if words[j + 1 : j + 3] == ["lives", "in"]:
                assert city.setdefault(words[j], words[j + 3]) == words[j + 3]


def test_agreement_probes_put_modifiers_and_only_disagreeing_nouns_between_subject_and_verb():
    """Every evaluation agreement probe has 1-3 modifiers (prepositional phrases, relative clauses) between
    subject and verb; every noun among them has the other number (a relative clause may have a pronoun or a
    name as its subject, so 0-3 nouns)."""
    nouns = set(corpus.NOUNS) | set(corpus.PLURALS)
    counts = set()
    for p in corpus.probes(n_per_kind=80, phenomena=("agreement",)):
        words = p.text.split()
        subject_at = next(i for i, w in enumerate(words) if w in nouns)
        between = words[subject_at + 1 : words.index(corpus.SLOT)]
        attractors = [w for w in between if w in nouns]
        plural = words[subject_at] in corpus.PLURALS
        assert between and all((a in corpus.PLURALS) != plural for a in attractors), p
        assert p.answer == ("are" if plural else "is")
        counts.add(len(attractors))
    assert {0, 1, 2, 3} <= counts


def test_tokenizer_is_word_level_and_shared():
    from transformers import AutoTokenizer

    c = AutoTokenizer.from_pretrained(ZOO_DIR / "tiny-causal")
    b = AutoTokenizer.from_pretrained(ZOO_DIR / "tiny-bidirectional")
    assert c.get_vocab() == b.get_vocab()
    for p in corpus.probes(n_per_kind=20):
        words = p.text.replace(corpus.SLOT, p.answer).split()
        assert c.tokenize(" ".join(words)) == words  # one token per word, no unknowns
    assert b("the dog")["input_ids"][0] == b.cls_token_id and b("the dog")["input_ids"][-1] == b.sep_token_id
    assert c("the dog")["input_ids"][0] == c.bos_token_id


def test_training_smoke(tmp_path):
    from interp.zoo.train import train

    for kind in ("causal", "bidirectional", "diffusion"):
        model, tok, acc = train(
            kind, tmp_path / kind, steps=3, tokenizer_texts=200, progress=False, eval_per_kind=4
        )
        assert set(acc) == set(corpus.PHENOMENA)
        assert (tmp_path / kind / "model.safetensors").exists() and (tmp_path / kind / "README.md").exists()
        assert not list((tmp_path / kind).glob("*.bin"))


def test_shipped_weights_are_safetensors_and_small():
    total = sum(f.stat().st_size for f in ZOO_DIR.rglob("*") if f.is_file())
    assert total < 20 * 2**20
    for name in ("tiny-causal", "tiny-bidirectional", "tiny-diffusion"):
        files = {f.name for f in (ZOO_DIR / name).iterdir()}
        assert "model.safetensors" in files and "README.md" in files
        assert not {f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pth"))}
        from safetensors.torch import load_file

        assert len(load_file(ZOO_DIR / name / "model.safetensors")) > 10


def test_load_is_fast_once_transformer_lens_is_imported(causal):
    import interp

    start = time.perf_counter()
    m = interp.load("tiny-bidirectional")
    assert time.perf_counter() - start < 2.0
    assert m.kind == "bidirectional" and causal.kind == "causal"


def test_the_diffusion_models_weights_are_its_own():
    from safetensors.torch import load_file

    own = load_file(ZOO_DIR / "tiny-diffusion" / "model.safetensors")
    start = load_file(ZOO_DIR / "tiny-bidirectional" / "model.safetensors")
    assert own.keys() == start.keys()
    changed = [k for k in own if not torch.equal(own[k], start[k])]
    assert len(changed) > 0.9 * len(own), f"only {len(changed)} of {len(own)} tensors differ"


@pytest.fixture(scope="module")
def accuracy():
    from interp.zoo.evaluate import main

    return main(n_per_kind=200, verbose=False)


@pytest.fixture(scope="module")
def fresh_accuracy():
    """The same bars on a fresh seed of 100 official probes per phenomenon."""
    from interp.zoo.evaluate import main

    return main(n_per_kind=100, seed=2026, verbose=False)


@pytest.mark.parametrize("seed", ["official", "fresh"])
@pytest.mark.parametrize("name", ["tiny-causal", "tiny-bidirectional", "tiny-diffusion"])
@pytest.mark.parametrize("phenomenon", ["left_recall", "induction", "agreement"])
def test_copying_and_agreement_at_least_90(accuracy, fresh_accuracy, seed, name, phenomenon):
    acc = accuracy if seed == "official" else fresh_accuracy
    assert acc[name][phenomenon] >= 0.9


@pytest.mark.parametrize("seed", ["official", "fresh"])
def test_right_cloze_separates_the_two_kinds(accuracy, fresh_accuracy, seed):
    acc = accuracy if seed == "official" else fresh_accuracy
    c, b = acc["tiny-causal"], acc["tiny-bidirectional"]
    assert b["right_cloze"] >= 0.9
    assert c["right_cloze"] <= 0.2  # near chance (14 animals): the prefix never names the animal
    assert b["right_cloze"] - c["right_cloze"] >= 0.4
    assert acc["tiny-diffusion"]["right_cloze"] >= 0.9  # a masked LM too


@pytest.mark.parametrize("variant", ["left_recall, lead none", "left_recall, lead filler"])
@pytest.mark.parametrize("name", ["tiny-causal", "tiny-bidirectional", "tiny-diffusion"])
def test_left_recall_does_not_depend_on_the_lead_word(accuracy, name, variant):
    assert accuracy[name][variant] >= 0.85


V3_MODELS = {
    "tiny-causal": "causal",
    "tiny-bidirectional": "bidirectional",
    "tiny-diffusion": "bidirectional",
}


def test_model_cards_report_the_measured_tables():
    """Each card shows its training record's held-out tables (grammar v3) and, for the diffusion model, the
    strict judge's share of its generations and how many repeat something."""
    from interp.zoo import corpus_v3

    for name in V3_MODELS:
        info = json.loads((ZOO_DIR / name / "training.json").read_text())
        card = (ZOO_DIR / name / "README.md").read_text()
        assert info["seed"] == 0 and info["n_ctx"] == 256 and "Held-out accuracy" in card
        assert info["grammar_version"] == corpus_v3.GRAMMAR_VERSION == 3
        assert info["held_out"] == sorted(corpus_v3.HELD_OUT)
        for ph, (acc, n) in info["evaluation"]["held-out"].items():
            assert f"| {ph} | {acc:.1%} | {n} |" in card, (name, ph)
    generation = json.loads((ZOO_DIR / "tiny-diffusion" / "training.json").read_text())["generation"]
    assert generation["n"] >= 50 and generation["n_tokens"] == 24
    card = (ZOO_DIR / "tiny-diffusion" / "README.md").read_text()
    assert f"**{generation['well_formed']:.1%}**" in card
    assert f"**{generation['with_a_repeat']} of {generation['n']}**" in card


@pytest.fixture(scope="module")
def held_out_1234():
    """Seed 1234's held-out v3 probes (200 per phenomenon), as the cards' tables drew them."""
    from interp.zoo import corpus_v3

    return corpus_v3.probes(seed=1234, n_per_kind=200)


@pytest.mark.parametrize("name", list(V3_MODELS))
def test_held_out_tables_reproduce_from_the_shipped_weights(held_out_1234, name):
    """The card's seed-1234 table (top-1, and agreement as the is-vs-are choice), recomputed."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo.evaluate import prefers, slot_logits, top1
    from interp.zoo.evaluate_v3 import CHOICE, readable

    torch.set_num_threads(1)
    kind = V3_MODELS[name]
    auto = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
    model, tok = auto.from_pretrained(ZOO_DIR / name), AutoTokenizer.from_pretrained(ZOO_DIR / name)
    probes = readable(held_out_1234, kind)
    hits, choices = collections.defaultdict(list), []
    for p, row in zip(probes, slot_logits(model, tok, kind, probes)):
        hits[p.phenomenon].append(top1(tok, p, row))
        if (c := prefers(tok, p, row)) is not None:
            choices.append(c)
    recorded = json.loads((ZOO_DIR / name / "training.json").read_text())["evaluation"]
    assert {ph: [sum(v) / len(v), len(v)] for ph, v in hits.items()} == recorded["seed 1234"]
    assert [sum(choices) / len(choices), len(choices)] == recorded[CHOICE]["seed 1234"]["agreement"]


def _bars_missed(name: str) -> list[str]:
    from interp.zoo.evaluate_v3 import bars_met

    info = json.loads((ZOO_DIR / name / "training.json").read_text())
    res = {**info["evaluation"], **({"generation": info["generation"]} if "generation" in info else {})}
    return [k for k, ok in bars_met(name, res).items() if not ok]


@pytest.mark.parametrize("name", ["tiny-causal", "tiny-bidirectional"])
def test_the_shipped_models_meet_the_bars_of_grammar_v3(name):
    """Held-out constructions >= 90% per phenomenon the model can see, in every position band, and induction
    after an unrelated sentence (issue #27), on the tables that the test above reproduces."""
    assert _bars_missed(name) == []


@pytest.mark.xfail(
    strict=True,
    reason="zoo v3 tiny-diffusion misses bars of issue #27 (open): held-out left recall 80% (70-88% by band), "
    "induction in the 100-200 band 84%, strict-judge generation 39% of 200 (bar 85%)",
)
def test_the_diffusion_model_meets_the_bars_of_grammar_v3():
    assert _bars_missed("tiny-diffusion") == []


def test_the_diffusion_models_generation_share_reproduces():
    """The card's share of generations the strict judge accepts, recomputed from the shipped weights."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo import diffusion

    torch.set_num_threads(1)
    folder = ZOO_DIR / "tiny-diffusion"
    info = json.loads((folder / "training.json").read_text())["generation"]
    model, tok = AutoModelForMaskedLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    share, texts = diffusion.quality(model, tok, n=info["n"], n_tokens=info["n_tokens"], grammar=3)
    assert share == pytest.approx(info["well_formed"]) and texts[:5] == info["examples"]


def test_shipped_models_were_trained_with_the_current_settings():
    """`make zoo` reproduces the shipped models only if the settings in the code are the ones they were
    trained with (the time budget then decides the step a run stops at)."""
    from interp.zoo.train_v3 import MAX_MINUTES, SETTINGS

    for name in V3_MODELS:
        kind = name.removeprefix("tiny-")
        info = json.loads((ZOO_DIR / name / "training.json").read_text())
        assert {k: info[k] for k in SETTINGS[kind]} == SETTINGS[kind], name
        assert info["schedule"] == f"cosine over max(step / steps, minutes / {MAX_MINUTES[kind]})", name
        assert info["checkpoint_step"] <= info.get("stopped_at_step", info["steps"]) <= info["steps"], name
        assert (ZOO_DIR.parents[2] / SETTINGS[kind]["init_from"] / "model.safetensors").is_file(), name


def test_cold_load_in_a_fresh_process():
    code = "import time; t = time.perf_counter(); import interp; m = interp.load('tiny-causal'); print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    seconds = float(out.stdout.strip().splitlines()[-1])
    assert seconds < 30  # import of transformer_lens dominates (~5 s here); reported in the closing note
    torch.set_num_threads(1)


def test_ig_completeness_on_the_zoo_models(causal, bidirectional):
    """|sum(scores) - (f(x) - f(baseline))| <= 1% of the gap from n_steps=50, probe by probe (40 per model).

    A copying head that switches its attention part-way along the path makes the integrand sharp, and 50
    midpoint steps then miss by several percent on some probes (17 of 40 for the grammar-v2 causal model, 3 of
    40 for the masked one); those, and only those, get more steps, and never more than 4x."""
    import interp

    for model in (causal, bidirectional):
        used = []
        for p in corpus.probes(n_per_kind=10):
            f = model.frame(p.text)
            r = interp.attribute(model, f.tokens, answer=p.answer, position=f.position, n_steps=50)
            gap = r.objective - r.baseline_objective
            assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap), (model.name, p.text, r.settings)
            used.append(r.settings["steps_used"])
        assert sorted(used)[len(used) // 2] == 50 and max(used) <= 200, (model.name, used)
