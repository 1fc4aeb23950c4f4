"""Zoo grammar v3 (interp.zoo.corpus_v3): breadth, held-out novelty, position bands, one answer per probe, and
the strict judge. Fast: no model is loaded."""

import collections
import json
import random
import re
from pathlib import Path

import pytest

from interp.zoo import corpus, corpus_v3, judge_v3
from interp.zoo.corpus_v3 import BANDS, HELD_OUT, SLOT

HANDWRITTEN = Path(__file__).parent / "data" / "zoo_v3_handwritten.jsonl"


@pytest.fixture(scope="module")
def training_sample():
    """2,500 training passages (~440,000 words) and the constructions of their slots."""
    rng = random.Random(0)
    passages, constructions = [], []
    for _ in range(2500):
        passages.append(corpus_v3.passage(rng, constructions=constructions)[0])
    return passages, collections.Counter(constructions)


@pytest.fixture(scope="module")
def official():
    return corpus_v3.probes(n_per_kind=60)


def test_public_shape_matches_v2():
    for name in ("PHENOMENA", "HELD_OUT", "Probe", "Piece", "passage", "generate", "probes", "well_formed"):
        assert hasattr(corpus_v3, name) and hasattr(corpus, name), name
    assert corpus_v3.GRAMMAR_VERSION == 3 and corpus_v3.PHENOMENA == corpus.PHENOMENA
    assert issubclass(corpus_v3.Probe, corpus.Probe) and issubclass(corpus_v3.Piece, corpus.Piece)
    # the v2 grammar and its callers are untouched
    assert corpus.GRAMMAR_VERSION == 2


def test_generation_is_seeded_and_passages_reach_200_words():
    assert corpus_v3.generate(5, seed=3) == corpus_v3.generate(5, seed=3)
    assert corpus_v3.generate(5, seed=3) != corpus_v3.generate(5, seed=4)
    lengths = [len(t.split()) for t in corpus_v3.generate(200, seed=1)]
    assert max(lengths) <= 200 and sum(lengths) / len(lengths) > 160
    short = [len(t.split()) for t in corpus_v3.generate(50, seed=1, max_words=40)]
    assert max(short) <= 40 and min(short) > 0


def test_training_slots_of_every_phenomenon_fill_every_position_band():
    """Accuracy must not depend on absolute position: training puts each phenomenon's slots in every band, the
    last one (words 100-200, beyond v2's texts) included."""
    rng = random.Random(2)
    bands = collections.Counter()
    for _ in range(300):
        words, slots = corpus_v3.passage(rng)
        for i in slots:
            if words[i] in corpus_v3.CENTERS:
                band = next(b for b, (lo, hi) in BANDS.items() if lo <= i < hi)
                bands[corpus_v3.CENTERS[words[i]], band] += 1
    for ph in corpus_v3.PHENOMENA:
        counts = [bands[ph, b] for b in BANDS]
        assert min(counts) >= 60 and bands[ph, "100-200"] >= 0.5 * bands[ph, "0-50"], (ph, counts)


def test_probes_are_seeded():
    assert corpus_v3.probes(seed=5, n_per_kind=8) == corpus_v3.probes(seed=5, n_per_kind=8)
    assert corpus_v3.probes(seed=5, n_per_kind=8) != corpus_v3.probes(seed=6, n_per_kind=8)


def test_vocabulary_is_v2_plus_the_declared_new_words(training_sample):
    passages, _ = training_sample
    used = {w for p in passages for w in p}
    v2 = corpus_v3.vocabulary() - set(corpus_v3.NEW_WORDS)
    assert used <= corpus_v3.vocabulary()
    assert set(corpus_v3.NEW_WORDS) <= used  # every new word is needed by some construction
    assert not set(corpus_v3.NEW_WORDS) & v2 and len(v2) == 243  # the shipped tokenizer's words


def test_held_out_windows_never_occur_in_training(training_sample):
    """No held-out construction is a training slot's, no held-out window occurs anywhere in training text, no
    evaluation probe's five-word window around the slot (answer filled in; four where the probe's sentence ends
    right after it) occurs in the training sample, and each half of every held-out window occurs in training
    in other combinations."""
    passages, constructions = training_sample
    assert not set(constructions) & HELD_OUT
    anywhere = {
        corpus_v3.construction(p, i) for p in passages for i, w in enumerate(p) if w in corpus_v3.CENTERS
    }
    assert not anywhere & HELD_OUT
    # a passage starts a sentence: "." before it, as before every other sentence
    grams = {
        tuple(w[i : i + n])
        for p in passages
        for w in [[".", *p]]
        for n in (4, 5)
        for i in range(len(w) - n + 1)
    }
    probes = corpus_v3.probes(n_per_kind=100) + corpus_v3.probes(seed=77, n_per_kind=100)
    assert {p.construction for p in probes} == HELD_OUT
    for p in probes:
        words = [".", *p.text.split()]
        i = words.index(SLOT)
        words[i] = p.answer
        assert corpus_v3.construction(words, i) == p.construction, p
        right = words[i + 1 : i + 3]
        right = right[: right.index(".") + 1] if "." in right else right
        window = tuple(words[max(0, i - 2) : i + 1] + right)
        assert len(window) >= 4 and window not in grams, p
    for held in HELD_OUT:
        phenomenon, pair = held.split(":")
        left, right = pair.split(" ___ ")
        seen = [c.split(":")[1].split(" ___ ") for c in constructions if c.startswith(phenomenon + ":")]
        assert any(a == left for a, _ in seen) and any(b == right for _, b in seen), held


def test_held_out_windows_never_occurred_in_the_lineages_training_text():
    """v3 models start from v2's weights (the masked lineage from v1's): v2's and v1's training text must not
    hold a v3 held-out window either (measured: none in 16,000 passages of each, 6,000 checked here; v2 text
    held three windows of an earlier choice, e.g. "met N ___ today ." 1,033 times in 16,000 passages, which
    were replaced)."""
    import importlib.util
    import sys

    from interp.zoo.train import SETTINGS

    def held(passages):
        return {
            corpus_v3.construction(w, i) for w in passages for i, x in enumerate(w) if x in corpus_v3.CENTERS
        } & HELD_OUT

    rng = random.Random(0)
    v2 = [
        corpus.passage(rng, mix=SETTINGS[k]["mix"])[0]
        for k in ("causal", "bidirectional")
        for _ in range(3000)
    ]
    assert not held(v2)
    data = Path(__file__).parent / "data"  # grammar v1, frozen from the commit train.V1_MASKED names
    mix = json.loads((data / "grammar_v1_mix.json").read_text())["mix"]
    spec = importlib.util.spec_from_file_location("v1corpus_v3test", data / "grammar_v1_corpus.py")
    v1 = importlib.util.module_from_spec(spec)
    sys.modules["v1corpus_v3test"] = v1  # its dataclasses look their module up
    try:
        spec.loader.exec_module(v1)
        rng = random.Random(0)
        assert not held([v1.passage(rng, mix=mix)[0] for _ in range(6000)])
    finally:
        del sys.modules["v1corpus_v3test"]


def test_each_phenomenon_has_several_held_out_constructions():
    per = collections.Counter(c.split(":")[0] for c in HELD_OUT)
    assert per == {ph: 5 for ph in corpus_v3.PHENOMENA}


def test_training_covers_every_environment():
    """Every fact form, query syntax, induction role, subject kind and cue frame occurs in training pieces."""
    from interp.zoo import constructions_v3 as c3
    from interp.zoo import copying_v3, cues_v3

    rng = random.Random(5)
    envs = collections.Counter()
    for builder in corpus_v3.BUILDERS.values():
        for _ in range(600):
            world = c3.World(rng)
            try:
                piece = builder(rng, world)
            except c3.Retry:
                continue
            envs.update(part for e in piece.envs for part in e.split(";"))
    expected = {f"fact={f}" for forms in c3.FACTS.values() for f in forms}
    expected |= {f"query={q}" for forms in c3.QUERIES.values() for q in forms}
    expected |= {f"role={r}" for r in copying_v3.AGAIN_LEFT} | {"asked=first", "asked=second"}
    expected |= {f"subject={s}" for s in cues_v3.SUBJECTS} | {"inverted", "number=plural"}
    expected |= {f"frame={f}" for f in cues_v3.FRAMES} | {"gap=2", "names=full>short", "names=short>full"}
    assert expected <= set(envs), sorted(expected - set(envs))
    assert any(e.startswith("mods=") and "rc2" in e and "paren" in e for e in envs)


def test_probes_have_one_slot_and_one_word_answers(official):
    assert {p.phenomenon for p in official} == set(corpus_v3.PHENOMENA)
    for p in official:
        assert p.text.count(SLOT) == 1 and p.text.split(SLOT)[0].strip(), p
        assert len(p.answer.split()) == 1 and p.answer in corpus_v3.vocabulary()
        assert len(p.text.split()) <= 215
    # causal models cannot see an inverted subject or a cue after the slot; they can see every other answer
    assert {p.sees_left for p in official if p.phenomenon in ("left_recall", "induction")} == {True}
    assert {p.sees_left for p in official if p.phenomenon == "agreement"} == {True, False}
    assert {p.sees_left for p in official if p.phenomenon == "right_cloze"} == {True, False}


@pytest.mark.parametrize("band", list(BANDS))
def test_probes_put_the_slot_in_the_band_asked_for(band):
    lo, hi = BANDS[band]
    probes = corpus_v3.probes(n_per_kind=15, band=band)
    assert {p.band for p in probes} == {band}
    for p in probes:
        assert lo <= p.text.split().index(SLOT) < hi, p
    assert len({p.construction for p in probes}) == len(HELD_OUT)


def test_official_probes_spread_over_the_bands_and_report_their_environment(official):
    for ph in corpus_v3.PHENOMENA:
        mine = [p for p in official if p.phenomenon == ph]
        assert collections.Counter(p.band for p in mine) == {b: 20 for b in BANDS}
        assert all(p.environment for p in mine)


def test_the_unrelated_sentence_variant_puts_one_fact_between_mention_and_repeat():
    probes = corpus_v3.probes(n_per_kind=30, phenomena=("induction",), gap="unrelated")
    plain = corpus_v3.probes(n_per_kind=30, phenomena=("induction",), gap="none")
    assert {p.variant for p in probes} == {"gap unrelated"} and {p.variant for p in plain} == {"gap none"}
    fact = re.compile(r"^\w+ (lives in \w+|has a \w+ \w+)$")
    for p in probes:
        words = p.text.split()
        name = words[words.index(SLOT) - 1]
        sents = [s.strip() for s in " ".join(words[: words.index(SLOT)]).split(" . ")]
        first = max(k for k, s in enumerate(sents[:-1]) if re.search(rf"\b{name} \w+\b", s))
        between = sents[first + 1 : -1]
        assert len(between) == 1 and fact.match(between[0]), (p.text, between)
        assert name not in between[0].split()


def test_lead_variants_of_left_recall():
    for lead in ("none", "filler"):
        probes = corpus_v3.probes(n_per_kind=10, phenomena=("left_recall",), lead=lead)
        assert {p.variant for p in probes} == {f"lead {lead}"}
    # a variant names only what changed for its own phenomenon
    other = corpus_v3.probes(n_per_kind=5, phenomena=("left_recall", "agreement"), gap="none")
    assert {p.variant for p in other} == {""}
    with pytest.raises(ValueError, match="lead must be"):
        corpus_v3.probes(lead="sometimes")
    with pytest.raises(ValueError, match="band must be"):
        corpus_v3.probes(band="200-300")
    with pytest.raises(ValueError, match="gap must be"):
        corpus_v3.probes(gap="two")


# ---- one answer per probe ---------------------------------------------------------------------------------------


def _consistent(text: str) -> bool:
    return all(len(v) == 1 for v in judge_v3.facts(text).values())


def test_left_recall_probes_have_exactly_one_consistent_answer():
    """Of every city (or colour) that could fill the slot, only the answer keeps each person's facts single-
    valued: the text states the queried fact, and no other person's fact matches the query."""
    probes = corpus_v3.probes(n_per_kind=80, phenomena=("left_recall",)) + corpus_v3.probes(
        seed=9, n_per_kind=40, phenomena=("left_recall",), band="100-200"
    )
    for p in probes:
        pool = corpus.CITIES if p.answer in corpus.CITIES else corpus.COLORS
        fits = [v for v in pool if _consistent(p.text.replace(SLOT, v))]
        assert fits == [p.answer], (p.text, fits)
    # the issue's hard case is in the set: the second of two attributes queried after both were stated
    assert any("asked=second" in p.environment for p in probes)


def test_training_queries_are_answered_by_their_own_piece():
    """In training too, a left-recall query asks for a fact its piece states (pieces share one world, as in a
    passage, where earlier pieces may have been drawn and rejected): any other value contradicts it."""
    from interp.zoo import constructions_v3 as c3

    rng = random.Random(4)
    world = c3.World(rng)
    checked = 0
    while checked < 300:
        try:
            piece = c3.left_recall(rng, world)
        except c3.Retry:
            continue
        words = list(piece.words)
        i = piece.slots[piece.probe]
        pool = corpus.CITIES if words[i] in corpus.CITIES else corpus.COLORS
        words[i] = next(v for v in pool if v != words[i])
        assert not _consistent(" ".join(words)), " ".join(piece.words)
        checked += 1


def test_induction_probes_copy_the_only_surname_said_after_that_name():
    probes = corpus_v3.probes(n_per_kind=80, phenomena=("induction",)) + corpus_v3.probes(
        n_per_kind=30, phenomena=("induction",), gap="unrelated"
    )
    for p in probes:
        words = p.text.replace(SLOT, p.answer).split()
        i = p.text.split().index(SLOT)
        name = words[i - 1]
        surnames = {
            words[j + 1]
            for j in range(len(words) - 1)
            if words[j] == name and j != i - 1 and words[j + 1] in corpus.SURNAMES
        }
        assert surnames == {p.answer}, p.text
        assert name in corpus.NAMES and i > words.index(name)  # said in full earlier


def test_agreement_answers_follow_the_subjects_number_rule():
    """The judge accepts the answer and rejects the other verb; coordination with "and" is plural."""
    probes = corpus_v3.probes(n_per_kind=100, phenomena=("agreement",))
    for p in probes:
        other = "are" if p.answer == "is" else "is"
        assert judge_v3.well_formed(p.text.replace(SLOT, p.answer)), p.text
        assert not judge_v3.well_formed(p.text.replace(SLOT, other)), p.text
    assert {p.answer for p in probes} == {"is", "are"}
    coordinated = [p for p in probes if "subject=coord" in p.environment or "and N ___" in p.construction]
    assert coordinated and {p.answer for p in coordinated} == {"are"}
    for text, answer in (
        ("the key and the box ___ here .", "are"),
        ("anna and ben ___ at the park .", "are"),
        ("one of the keys ___ old .", "is"),
        ("here ___ the keys to the box .", "are"),
        ("anna , i think , ___ at the park .", "is"),
        ("the letters that the teacher that we saw left ___ gone .", "are"),
    ):
        assert judge_v3.well_formed(text.replace(SLOT, answer)), text
        assert not judge_v3.well_formed(text.replace(SLOT, "is" if answer == "are" else "are")), text


def test_right_cloze_probes_fit_only_their_animal():
    probes = corpus_v3.probes(n_per_kind=80, phenomena=("right_cloze",))
    for p in probes:
        fits = [a for a in corpus.ANIMALS if judge_v3.well_formed(p.text.replace(SLOT, a))]
        assert fits == [p.answer], (p.text, fits)
    assert any(p.sees_left for p in probes) and any("frame=next" in p.environment for p in probes)


# ---- the strict judge -------------------------------------------------------------------------------------------


def test_the_judge_accepts_every_generated_passage_and_probe(training_sample, official):
    passages, _ = training_sample
    assert all(judge_v3.well_formed(" ".join(p)) for p in passages[:600])
    assert all(judge_v3.well_formed(p.text.replace(SLOT, p.answer)) for p in official)


@pytest.mark.parametrize(
    "text",
    [
        "ben has a green hat and a blue cup .",
        "it is in oslo that hana lives . hana lives in oslo today .",
        "anna has a car . it is red .",
        "the car that anna has is red , i think .",
        "rosa , i think , lives in rome .",
        "where does anna live ? in oslo .",
        "here are the keys to the box .",
        "two keys are on the table .",
        "we saw a picture of anna berg at the park .",
        "the animal that barked was a dog .",
        "we saw a dog . it was night . it barked .",
        "the dog sat down and barked .",
        "red blue green . red blue green .",
    ],
)
def test_the_judge_accepts_v3_sentences(text):
    assert judge_v3.well_formed(text) and corpus_v3.well_formed(text)


@pytest.mark.parametrize(
    "text",
    [
        "sam and sam talked at the park .",  # a name coordinated with itself
        "zoe frost , zoe frost and ben lund went home .",
        "we saw zoe frost , zoe frost , zoe frost .",
        "ben has a red car and a red car .",  # the same item listed twice
        "red blue red . red blue red .",
        "the key and the key are here .",
        "we went to the park . anna lives in oslo . we went to the park .",  # a sentence said twice
        "anna lives in oslo . anna lives in oslo .",
        "red blue green . red blue green . red blue green .",
    ],
)
def test_the_judge_rejects_degenerate_text(text):
    assert judge_v3.degenerate(text) and not judge_v3.well_formed(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "anna lives in oslo",
        "the key and the box is here .",
        "here is the keys to the box .",
        "one of the keys are old .",
        "we saw a dog . it mooed .",
        "the animal that barked was a cat .",
        "it is red .",  # a pronoun fact with nothing before it
        "it barked .",
        "oslo lives in anna .",
        "xena has a red hat . the dog barked . xena has a blue hat .",  # a fact contradicted
        "it is in oslo that hana lives . hana , i think , lives in rome .",
    ],
)
def test_the_judge_rejects_ungrammatical_text(text):
    assert not judge_v3.well_formed(text)


# ---- hand-written probes in new frames --------------------------------------------------------------------------


def _handwritten():
    return [json.loads(line) for line in HANDWRITTEN.read_text().splitlines() if line.strip()]


def test_handwritten_probes_use_the_vocabulary_and_one_slot(training_sample):
    rows = _handwritten()
    assert len(rows) == 30
    assert collections.Counter(r["phenomenon"] for r in rows).keys() == set(corpus_v3.PHENOMENA)
    vocab = corpus_v3.vocabulary()
    passages, _ = training_sample
    said = {s for p in passages for s in " ".join(p).split(" . ")}
    for r in rows:
        assert set(r) == {"text", "answer", "phenomenon"}, r
        words = r["text"].split()
        assert words.count(SLOT) == 1 and r["text"].count(SLOT) == 1, r
        assert set(words) - {SLOT} <= vocab and r["answer"] in vocab, set(words) - vocab
        # not generated verbatim: the sentence holding the slot is no v3 production and no training sentence
        slot_sentence = next(s for s in r["text"].split(" . ") if SLOT in s).replace(SLOT, r["answer"])
        assert not judge_v3.well_formed(slot_sentence.strip(" .") + " ."), r
        assert slot_sentence.strip(" .") not in said, r


# ---- training v3 (interp.zoo.train_v3): warm starts from the v2 lineage, no training run ------------------------


@pytest.fixture(scope="module")
def lineage():
    from interp.zoo import ZOO_DIR
    from interp.zoo.train_v3 import LINEAGE

    return ZOO_DIR, LINEAGE


def test_the_shipped_models_lineage_is_in_the_tree(lineage):
    """A warm start reads its folder from the tree (a shallow clone has no history): each shipped model's
    starting folder is there, and so is the one that folder started from, down to zoo/lineage/v2."""
    from interp.zoo.train_v3 import ROOT

    weights, kept = lineage
    for name in ("tiny-causal", "tiny-bidirectional", "tiny-diffusion"):
        start = json.loads((weights / name / "training.json").read_text())["init_from"]
        assert start.startswith("zoo/lineage/v3a/") and (ROOT / start / "model.safetensors").is_file(), name
        first = json.loads((ROOT / start / "training.json").read_text())["init_from"]
        assert (ROOT / first).parent == kept and (ROOT / first / "model.safetensors").is_file(), name


def test_v3_tokenizer_keeps_v2_ids_and_appends_the_new_words(lineage):
    from interp.zoo.train_v3 import N_CTX, tokenizer

    _, kept = lineage
    old = json.loads((kept / "tiny-causal" / "tokenizer.json").read_text())["model"]["vocab"]
    for kind in ("causal", "bidirectional"):
        _, hf = tokenizer(kind)
        vocab = hf.get_vocab()
        assert {w: vocab[w] for w in old} == old
        assert [vocab[w] for w in corpus_v3.NEW_WORDS] == list(range(len(old), len(old) + 8))
        assert hf.model_max_length == N_CTX == 256
        ids = hf("where does anna live ? in rome .")["input_ids"]
        assert hf.unk_token_id not in ids and len(ids) == 8 + (1 if kind == "causal" else 2)
        # the special tokens are v2's added special tokens, matched as written
        tokens = hf.convert_ids_to_tokens(hf("[BOS] [CLS] [SEP] [MASK] anna")["input_ids"])
        assert tokens[1:6] == [
            "[BOS]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "anna",
        ]


@pytest.mark.parametrize("kind", ["causal", "bidirectional"])
def test_grown_model_computes_the_v2_function_within_128_tokens(lineage, kind):
    """Context 128 -> 256 (wpe[128 + i] = wpe[i]) and 8 new words: on v2 text that fits 128 tokens the logits over
    v2's words are v2's (to float rounding) and so are the top-1 words; the new positions start as copies of the
    old ones."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from interp.zoo.train_v3 import grown

    _, kept = lineage
    name = f"tiny-{kind}"
    auto = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
    old, old_tok = auto.from_pretrained(kept / name), AutoTokenizer.from_pretrained(kept / name)
    new, new_tok = grown(kind, kept / name)
    texts = [p.text.replace(SLOT, "is") for p in corpus.probes(n_per_kind=3)]
    texts.append(" ".join(["anna", "smiled", "."] * 42))  # 126 words: up to the last v2 position
    old.eval(), new.eval()
    with torch.no_grad():
        for text in texts:
            ids = old_tok(text, return_tensors="pt")["input_ids"]
            assert ids.shape[1] <= 128 and torch.equal(ids, new_tok(text, return_tensors="pt")["input_ids"])
            a, b = old(input_ids=ids).logits, new(input_ids=ids).logits  # (1, T, V)
            assert b.shape[-1] == a.shape[-1] + 8
            # equal up to float rounding (the unembedding's matrix product has 8 more columns)
            torch.testing.assert_close(b[..., : a.shape[-1]], a, rtol=1e-5, atol=1e-4)
            # the new words outrank v2's top word nowhere ([CLS]/[SEP] excepted, where v2 predicts nothing)
            inner = slice(None) if kind == "causal" else slice(1, -1)
            assert torch.equal(a[0, inner].argmax(-1), b[0, inner].argmax(-1)), text
    table = {
        k: v for k, v in new.state_dict().items() if k.endswith(("wpe.weight", "position_embeddings.weight"))
    }
    (w,) = table.values()
    assert w.shape[0] == 256 and torch.equal(w[128:], w[:128])


def test_v2_settings_and_defaults_are_untouched():
    """Grammar 3 is a separate set of settings: v2's (which the shipped cards record) and its defaults stay."""
    from interp.zoo import train, train_v3

    assert train.N_CTX == 128 and train_v3.N_CTX == 256
    assert train.SETTINGS["causal"]["mix"] == corpus.MIX and "init_from" not in train.SETTINGS["causal"]
    assert train.SETTINGS["bidirectional"]["init_from"] == train.V1_MASKED
    assert train.build_model("causal", 249).config.n_positions == 128
    for kind, cfg in train_v3.SETTINGS.items():
        start = (
            "bidirectional" if kind == "diffusion" else kind
        )  # the diffusion model starts from a masked one
        assert cfg["init_from"] == f"zoo/lineage/v3a/tiny-{start}"
        assert (train_v3.ROOT / cfg["init_from"] / "model.safetensors").is_file()
    with pytest.raises(SystemExit):
        train.main(["--grammar", "4"])


def test_evaluation_sets_round_trip_and_the_causal_reads_only_what_it_sees(tmp_path):
    from interp.zoo import evaluate_v3

    sets = {"seed 1": corpus_v3.probes(seed=1, n_per_kind=5), "hand-written v3": evaluate_v3.handwritten_v3()}
    evaluate_v3.save_sets(sets, tmp_path / "sets.json")
    assert evaluate_v3.load_sets(tmp_path / "sets.json") == sets
    assert len(sets["hand-written v3"]) == 30
    causal = evaluate_v3.readable(sets["seed 1"], "causal")
    assert all(p.sees_left for p in causal) and len(causal) < len(sets["seed 1"])
    assert evaluate_v3.readable(sets["seed 1"], "bidirectional") == sets["seed 1"]


def test_bars_of_issue_27():
    from interp.zoo.evaluate_v3 import bars_met

    good = {ph: (0.95, 100) for ph in corpus_v3.PHENOMENA}
    res = {"held-out": good, "gap unrelated": {"induction": (0.9, 100)}}
    res |= {f"band {b}": good for b in BANDS}
    assert all(bars_met("tiny-bidirectional", res).values())
    res["band 100-200"] = {**good, "agreement": (0.89, 100)}
    assert [k for k, v in bars_met("tiny-bidirectional", res).items() if not v] == ["band 100-200 agreement"]
    # the causal model has no right-cloze bar; a diffusion model's generation has one
    res["band 100-200"] = {**good, "right_cloze": (0.0, 100)}
    assert all(bars_met("tiny-causal", res).values())
    res["generation"] = {"well_formed": 0.84}
    assert bars_met("tiny-diffusion", res)["generation"] is False


def test_agreement_bars_read_the_choice_between_the_two_verb_forms():
    """A slot that admits another word ("anna and ben ___ at the park": "talked") fails top-1 without an
    agreement error: the agreement bars read the two forms' order where the results hold it, and only then."""
    import torch

    from interp.zoo.evaluate import prefers
    from interp.zoo.evaluate_v3 import CHOICE, bars_met

    class Vocab:
        ids = {"is": 0, "are": 1, "talked": 2, "red": 3}

        def convert_tokens_to_ids(self, tokens):
            return [self.ids[t] for t in tokens]

    plural = corpus_v3.Probe("anna and ben ___ at the park .", "are", "agreement")
    row = torch.tensor([0.5, 1.0, 3.0, 0.0])  # top-1 "talked", then "are", then "is"
    assert prefers(Vocab(), plural, row) is True
    assert prefers(Vocab(), corpus_v3.Probe("ben ___ here .", "is", "agreement"), row) is False
    assert prefers(Vocab(), corpus_v3.Probe("a ___ car", "red", "left_recall"), row) is None

    good = {ph: (0.95, 100) for ph in corpus_v3.PHENOMENA}
    top1 = {**good, "agreement": (0.8, 100)}
    res = {"held-out": top1, "gap unrelated": {"induction": (0.9, 100)}} | {f"band {b}": top1 for b in BANDS}
    missed = [k for k, v in bars_met("tiny-bidirectional", res).items() if not v]
    assert missed == ["held-out agreement"] + [f"band {b} agreement" for b in BANDS]
    res[CHOICE] = {t: {"agreement": (1.0, 100)} for t in ["held-out"] + [f"band {b}" for b in BANDS]}
    assert all(bars_met("tiny-bidirectional", res).values())
    res[CHOICE]["band 50-100"] = {"agreement": (0.85, 100)}
    assert [k for k, v in bars_met("tiny-bidirectional", res).items() if not v] == ["band 50-100 agreement"]


def test_validation_accuracy_reads_agreement_as_the_choice_between_the_verb_forms():
    """Training chooses checkpoints on this reading: top-1 there would count "talked" as an agreement error."""
    import types

    import torch

    from interp.zoo.evaluate import accuracy

    vocab = {"[PAD]": 0, "[MASK]": 1, "is": 2, "are": 3, "talked": 4, "rome": 5, "anna": 6}

    class Batch(dict):
        def to(self, device):
            return self

    class Tokenizer:
        mask_token, mask_token_id = "[MASK]", 1

        def convert_tokens_to_ids(self, tokens):  # one token or a list, as Hugging Face's
            return vocab[tokens] if isinstance(tokens, str) else [vocab[t] for t in tokens]

        def __call__(self, texts, **_):
            rows = [[vocab.get(w, 0) for w in t.split()] for t in texts]
            ids = torch.tensor([r + [0] * (max(map(len, rows)) - len(r)) for r in rows])  # (B, T)
            return Batch(input_ids=ids, attention_mask=(ids > 0).long())

    class Model:  # every position ranks talked > are > rome > the rest
        device = "cpu"

        def eval(self):
            return self

        def __call__(self, input_ids, **_):
            logits = torch.zeros(*input_ids.shape, len(vocab))  # (B, T, V)
            logits[..., vocab["talked"]], logits[..., vocab["are"]], logits[..., vocab["rome"]] = (
                3.0,
                2.0,
                1.0,
            )
            return types.SimpleNamespace(logits=logits)

    probes = [
        corpus_v3.Probe("anna and anna ___ rome", "are", "agreement"),
        corpus_v3.Probe("anna ___ rome", "is", "agreement"),
        corpus_v3.Probe("anna ___", "rome", "left_recall"),
    ]
    tok = Tokenizer()
    assert accuracy(Model(), tok, "bidirectional", probes) == {"agreement": 0.0, "left_recall": 0.0}
    assert accuracy(Model(), tok, "bidirectional", probes, choice=True) == {
        "agreement": 0.5,
        "left_recall": 0.0,
    }


@pytest.mark.parametrize("kind", ["causal", "diffusion"])
def test_make_zoo_runs_start_from_the_tree(tmp_path, kind):
    """Two steps of a v3 run with the shipped settings (a fresh shallow clone has every folder they read): the
    checkpoint is written with its lineage, and the diffusion model is marked as one."""
    from interp.zoo.train_v3 import SETTINGS, train

    out = tmp_path / f"tiny-{kind}"
    record = train(
        kind, out, steps=2, overrides={"val_per_kind": 2, "batch": 2}, eval_every=2, log=lambda *a: None
    )
    assert record["checkpoint_step"] in (0, 2) and record["init_from"] == SETTINGS[kind]["init_from"]
    assert record["lineage"][:2] == [
        SETTINGS[kind]["init_from"],
        f"zoo/lineage/v2/{Path(SETTINGS[kind]['init_from']).name}",
    ]
    assert {"model.safetensors", "tokenizer.json", "config.json", "training.json"} <= {
        p.name for p in out.iterdir()
    }
    config = json.loads((out / "config.json").read_text())
    assert config.get("objective") == ("masked_diffusion" if kind == "diffusion" else None)
    assert config["n_positions" if kind == "causal" else "max_position_embeddings"] == 256
