"""Model cards of the zoo v3 models: ``python -m interp.zoo.cards_v3 RESULTS.json [--models interp/zoo/weights]``.

A card holds what ``training.json`` records (lineage, settings, steps, the validation history) and the tables
that :mod:`interp.zoo.evaluate_v3` measured on the held-out constructions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interp.zoo import corpus_v3
from interp.zoo.evaluate_v3 import CHOICE, ROOT, bars_met

CHAINS = {
    "tiny-causal": "zoo v3 tiny-causal <- zoo v2 tiny-causal (fresh, 7,652 steps on grammar v2)",
    "tiny-bidirectional": "zoo v3 tiny-bidirectional <- zoo v2 tiny-bidirectional <- zoo v1 masked model",
    "tiny-diffusion": "zoo v3 tiny-diffusion <- zoo v2 tiny-diffusion <- first diffusion run (2,400 steps) "
    "<- zoo v2 tiny-bidirectional",
}


def chain(name: str, record: dict) -> str:
    """Where the weights come from: the run's own starting folder and that folder's recorded chain, or (a run
    from the v2 lineage) the fixed chain of v2."""
    lineage = [str(x) for x in record.get("lineage", [])]
    if not lineage or lineage[0].startswith("zoo/lineage/v2"):
        return CHAINS[name]
    return f"zoo v3 {name} <- " + " <- ".join(lineage)


def _rows(table: dict, keys) -> str:
    return "\n".join(f"| {k} | {table[k][0]:.1%} | {table[k][1]} |" for k in keys if k in table)


def card(name: str, record: dict, res: dict) -> str:
    """The README of one model."""
    kind = record["kind"]
    arch = "GPT2LMHeadModel" if kind == "causal" else "BertForMaskedLM"
    phenomena = [ph for ph in corpus_v3.PHENOMENA if ph in res["held-out"]]
    bands = "\n".join(
        f"| {ph} | " + " | ".join(f"{res[f'band {b}'][ph][0]:.0%}" for b in corpus_v3.BANDS) + " |"
        for ph in phenomena
        if all(ph in res[f"band {b}"] for b in corpus_v3.BANDS)
    )
    variants = "\n".join(
        f"| {label} | {res[t][ph][0]:.1%} | {res[t][ph][1]} |"
        for label, t, ph in (
            ("induction, no sentence between", "gap none", "induction"),
            ("induction, one unrelated sentence between", "gap unrelated", "induction"),
            ("left recall, no lead word", "lead none", "left_recall"),
            ("left recall, a filler sentence as lead", "lead filler", "left_recall"),
        )
        if ph in res.get(t, {})
    )
    hand = "\n".join(
        f"| {ph} | "
        + " | ".join(f"{res[h][ph][0]:.0%} ({res[h][ph][1]})" for h in ("hand-written v3", "hand-written v2"))
        + " |"
        for ph in corpus_v3.PHENOMENA
    )
    met = bars_met(name, res)
    missed = [k for k, v in met.items() if not v]
    history = "\n".join(
        f"| {h['step']} | {h['minutes']} | "
        + " | ".join(f"{h[ph]:.2f}" for ph in corpus_v3.PHENOMENA if ph in h)
        + (f" | {h['generation_strict']:.2f}" if "generation_strict" in h else "")
        + " |"
        for h in record.get("history", [])
    )
    gen = ""
    if "generation" in res:
        g = res["generation"]
        ex = "\n".join(f"- {t}" for t in g["examples"])
        rep = "\n".join(f"- {t}" for t in g["repeat_examples"])
        gen = f"""
## Generation under the strict judge (`interp.zoo.judge_v3.well_formed`)

{g["n"]} prompts (the first sentence of v3 passages of seed 4321 that is no sentence of a 2,000-passage training
sample), each continued by {g["n_tokens"]} masks, unmasked one per step, most confident first:
**{g["well_formed"]:.1%}** well formed; **{g["with_a_repeat"]} of {g["n"]}** repeat something (a name
coordinated with itself, an item listed twice, a sentence said twice). Examples:

{ex}

With a repeat:

{rep}
"""
    stopped = record.get("stopped_at_step")
    reached = stopped if stopped is not None else record["history"][-1]["step"]
    choice = res.get(CHOICE, {}).get("held-out", {}).get("agreement")
    agreement = (
        f"\nAgreement read as the choice between the two verb forms (is vs are, the bars' reading: a held-out slot"
        f' such as "anna and ben ___ at the park" also admits "talked"): **{choice[0]:.1%}** of {choice[1]}.'
        if choice
        else ""
    )
    return f"""# {name}

A tiny {"masked diffusion" if name == "tiny-diffusion" else kind} language model ({arch}, {record["n_layer"]} layers
x {record["n_head"]} heads, d_model {record["d_model"]}, context {record["n_ctx"]}, dropout {record["dropout"]}) trained by
`python -m interp.zoo.train --grammar 3` (`interp.zoo.train_v3`) on zoo grammar v3 (`interp.zoo.corpus_v3`):
each phenomenon in many syntactic environments (facts in several forms and queries in several syntaxes,
names repeated in any role after any intervening material, agreement with coordinated, named, quantified and
inverted subjects, cues before or after the slot at sentence and paragraph distance), texts of at most 200
words with the slot anywhere. Vocabulary: v2's 249 word-level tokens with their ids, then "where", "does",
"live", "?", "what", "color", "two", "animal".

**The zoo's bars** (held-out >= 90%, every band >= 90%, induction after an unrelated sentence >= 90%{", strict generation >= 85%" if "generation" in res else ""}): {"all met." if not missed else "missed: " + ", ".join(missed) + "."}

## Lineage
{chain(name, record)}. The first v3 run started from the v2 weights kept in the tree (`zoo/lineage/v2`): v2's
token ids kept, the 8 new words appended, the position table grown from 128 to 256 by repeating it
(`wpe[128 + i] = wpe[i]`), so at its step 0 the model computed its v2 function on texts within 128 tokens.

## Training
- trained from commit `{record["commit"]}`; seed {record["seed"]}; batch {record["batch"]}; peak learning rate
  {record["lr"]}, warm-up {record["warmup"]}, {record.get("schedule", "cosine over the steps")}; slot weight
  {record["slot_weight"]}; masked-slot probability {record["slot_mask_p"]}; lengths {record["lengths"] or "up to 200 words"}
- sentence mix: {", ".join(f"{k} {v:.0%}" for k, v in record["mix"].items())}
- {reached} steps in {record["history"][-1]["minutes"]} min (3 runs at once, 1 CPU thread each, on a shared 2-core machine);
  kept checkpoint: step {record["checkpoint_step"]}, chosen on validation probes of seed 99 ({record["select"]})

| step | minutes | {" | ".join(ph for ph in corpus_v3.PHENOMENA if ph in record["history"][0])}{" | strict generation" if "generation_strict" in record["history"][0] else ""} |
|{"---|" * (2 + sum(ph in record["history"][0] for ph in corpus_v3.PHENOMENA) + ("generation_strict" in record["history"][0]))}
{history}

## Held-out accuracy (`python -m interp.zoo.evaluate_v3`: top-1 at the slot, held-out constructions only)
{"The causal model is scored on probes whose left context fixes the answer; right cloze has no bar for it." if kind == "causal" else ""}

| phenomenon (seeds 1234 + 2026) | accuracy | n |
|---|---|---|
{_rows(res["held-out"], corpus_v3.PHENOMENA)}
{agreement}

| construction | accuracy | n |
|---|---|---|
{_rows(res["construction"], sorted(res["construction"]))}

| position band of the slot word (100 per phenomenon) | {" | ".join(corpus_v3.BANDS)} |
|---|---|---|---|
{bands}

| variant | accuracy | n |
|---|---|---|
{variants}

| hand-written, frames the grammar never makes | v3 set | v2 set |
|---|---|---|
{hand}
{gen}"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", type=Path)
    p.add_argument("--models", type=Path, default=ROOT / "interp" / "zoo" / "weights")
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text())
    for name, res in results.items():
        folder = args.models / name
        record = json.loads((folder / "training.json").read_text())
        record["evaluation"] = {k: v for k, v in res.items() if k != "generation"}
        if "generation" in res:
            record["generation"] = res["generation"]
        (folder / "training.json").write_text(json.dumps(record, indent=1))
        (folder / "README.md").write_text(card(name, record, res))


if __name__ == "__main__":
    main()
