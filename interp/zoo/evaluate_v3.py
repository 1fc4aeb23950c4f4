"""Zoo v3 evaluation (issue #27's tables): ``python -m interp.zoo.evaluate_v3 [--models DIR] [--json FILE]``.

Every table is top-1 accuracy at the slot on held-out constructions of grammar v3 (``corpus_v3.HELD_OUT``),
except the hand-written sets (frames the grammar never makes), the diffusion model's generations, and agreement
read as the choice between the two verb forms (:data:`CHOICE`), which the bars use for agreement. A causal
model is scored only on probes whose left context fixes the answer (``Probe.sees_left``: an inverted subject
or a cue after the slot is right context for it); right cloze has no bar for it.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import torch

from interp.zoo import corpus_v3
from interp.zoo.evaluate import BARS, prefers, slot_logits, top1

ROOT = Path(__file__).resolve().parents[2]
HANDWRITTEN_V3 = ROOT / "tests" / "data" / "zoo_v3_handwritten.jsonl"
CHOICE = "is vs are"
"""The results' table of agreement read as the choice between the two verb forms (:func:`evaluate.prefers`),
per probe set, held-out phenomenon and construction."""
MODELS = (
    ("tiny-causal", "causal"),
    ("tiny-bidirectional", "bidirectional"),
    ("tiny-diffusion", "bidirectional"),  # read as a masked LM, one slot at a time
)


def load(folder: Path, names=None):
    """(name, kind, Hugging Face model, tokenizer) of each v3 model under ``folder`` (or those in ``names``)."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    for name, kind in MODELS:
        if (folder / name / "model.safetensors").is_file() and (names is None or name in names):
            auto = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
            yield (
                name,
                kind,
                auto.from_pretrained(folder / name).eval(),
                AutoTokenizer.from_pretrained(folder / name),
            )


def readable(probes, kind: str) -> list:
    """The probes a model of ``kind`` can answer from what it sees."""
    return [p for p in probes if kind != "causal" or getattr(p, "sees_left", True)]


def handwritten_v3() -> list[corpus_v3.Probe]:
    """The 30 hand-written v3 probes (``tests/data/zoo_v3_handwritten.jsonl``), frames the grammar never makes."""
    rows = [json.loads(line) for line in HANDWRITTEN_V3.read_text().splitlines() if line.strip()]
    return [corpus_v3.Probe(r["text"], r["answer"], r["phenomenon"], "handwritten") for r in rows]


def _group(probes, hits, key) -> dict[str, tuple[float, int]]:
    """{group: (accuracy, n)}; ``key(probe)`` gives a probe's groups (several, or none)."""
    out: dict[str, list[bool]] = collections.defaultdict(list)
    for p, h in zip(probes, hits):
        for g in key(p):
            out[g].append(h)
    return {g: (sum(v) / len(v), len(v)) for g, v in sorted(out.items())}


def probe_sets(n_per_kind: int = 200, seeds=(1234, 2026), n_band: int = 100, n_variant: int = 200) -> dict:
    """The probe sets of the tables, drawn once for all models."""
    sets = {f"seed {s}": corpus_v3.probes(seed=s, n_per_kind=n_per_kind) for s in seeds}
    for band in corpus_v3.BANDS:
        sets[f"band {band}"] = corpus_v3.probes(n_per_kind=n_band, band=band)
    for gap in ("none", "unrelated"):
        sets[f"gap {gap}"] = corpus_v3.probes(n_per_kind=n_variant, phenomena=("induction",), gap=gap)
    for lead in ("none", "filler"):
        sets[f"lead {lead}"] = corpus_v3.probes(n_per_kind=n_variant, phenomena=("left_recall",), lead=lead)
    from interp.zoo import handwritten

    sets["hand-written v3"] = handwritten_v3()
    sets["hand-written v2"] = handwritten.probes()
    return sets


def save_sets(sets: dict, path: Path) -> None:
    """The probe sets as JSON (drawing them takes minutes on a busy machine; every model reads the same)."""
    import dataclasses

    rows = {k: [dataclasses.asdict(p) for p in v] for k, v in sets.items()}
    path.write_text(json.dumps(rows))


def load_sets(path: Path) -> dict:
    return {k: [corpus_v3.Probe(**p) for p in v] for k, v in json.loads(path.read_text()).items()}


def tables(folder: Path, sets: dict | None = None, n_generate: int = 200, log=print, names=None) -> dict:
    """{model: {table: {row: (accuracy, n)}}} and, for a diffusion model, its strict-judge generation check."""
    from interp.zoo import diffusion
    from interp.zoo.judge_v3 import degenerate

    sets = probe_sets() if sets is None else sets
    out: dict = {}
    for name, kind, model, tok in load(folder, names):
        res: dict = {CHOICE: {}}
        held, chosen = [], []
        for label, probes in sets.items():
            probes = readable(probes, kind)
            rows = list(slot_logits(model, tok, kind, probes))
            hits = [top1(tok, p, r) for p, r in zip(probes, rows)]
            choices = [(p, c) for p, r in zip(probes, rows) if (c := prefers(tok, p, r)) is not None]
            res[label] = _group(probes, hits, lambda p: [p.phenomenon])
            res[CHOICE][label] = _group(
                [p for p, _ in choices], [c for _, c in choices], lambda p: [p.phenomenon]
            )
            if label.startswith("seed"):
                held += list(zip(probes, hits))
                chosen += choices
            log(f"{name} {label}: " + ", ".join(f"{k} {v[0]:.1%}" for k, v in res[label].items()))
        probes, hits = [p for p, _ in held], [h for _, h in held]
        res["held-out"] = _group(probes, hits, lambda p: [p.phenomenon])
        res["construction"] = _group(probes, hits, lambda p: [p.construction])
        res["band"] = _group(probes, hits, lambda p: [f"{p.phenomenon} {p.band}"])
        agreeing, choices = [p for p, _ in chosen], [c for _, c in chosen]
        res[CHOICE]["held-out"] = _group(agreeing, choices, lambda p: [p.phenomenon])
        res[CHOICE]["construction"] = _group(agreeing, choices, lambda p: [p.construction])
        res["environment"] = _group(
            probes, hits, lambda p: [f"{p.phenomenon} {f}" for f in p.environment.split(";") if f]
        )
        if "diffusion" in name:
            share, texts = diffusion.quality(model, tok, n=n_generate, grammar=3)
            repeats = [t for t in texts if degenerate(t)]
            res["generation"] = {
                "n": n_generate,
                "n_tokens": diffusion.N_TOKENS,
                "well_formed": share,
                "with_a_repeat": len(repeats),
                "examples": texts[:5],
                "repeat_examples": repeats[:3],
            }
            log(f"{name} generation: {share:.1%} well formed, {len(repeats)} of {n_generate} with a repeat")
        out[name] = res
    return out


def bars_met(name: str, res: dict) -> dict[str, bool]:
    """Issue #27's bars: held-out phenomena >= 90%, every band >= 90%, induction with an unrelated sentence in
    between >= 90%, strict-judge generation >= 85%. Agreement is read as the choice between the two verb forms
    where the results hold it (:data:`CHOICE`): its held-out slots admit other words too ("anna and ben ___ at
    the park": "talked"), so top-1 there does not test agreement; the top-1 tables stay beside it."""
    kind = "causal" if name == "tiny-causal" else "bidirectional"
    seen = BARS[kind]
    choice = res.get(CHOICE, {})

    def accuracy(table: str, ph: str) -> float | None:
        if ph == "agreement" and ph in choice.get(table, {}):
            return choice[table][ph][0]
        return res[table][ph][0] if ph in res.get(table, {}) else None

    met = {f"held-out {ph}": (accuracy("held-out", ph) or 0.0) >= 0.9 for ph in seen}
    met |= {
        f"band {b} {ph}": accuracy(f"band {b}", ph) >= 0.9
        for b in corpus_v3.BANDS
        for ph in seen
        if accuracy(f"band {b}", ph) is not None
    }
    met["gap unrelated"] = res["gap unrelated"]["induction"][0] >= 0.9
    if "generation" in res:
        met["generation"] = res["generation"]["well_formed"] >= 0.85
    return met


def markdown(results: dict) -> str:
    """The tables of :func:`tables` as Markdown, one column per model."""
    names = list(results)
    lines: list[str] = []

    def block(title: str, rows: list[tuple[str, str, str]], source=lambda n: results[n]):
        # rows: (row label, table, key); source(model name): the tables the rows read
        lines.extend(
            ["", f"### {title}", "", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        )
        for label, table, key in rows:
            cells = []
            for n in names:
                v = source(n).get(table, {}).get(key)
                cells.append("-" if v is None else f"{v[0]:.0%} ({v[1]})")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")

    phenomena = corpus_v3.PHENOMENA
    block(
        "Held-out constructions per phenomenon (seeds 1234 + 2026; n in parentheses)",
        [(ph, "held-out", ph) for ph in phenomena],
    )
    block("Per held-out construction", [(c, "construction", c) for c in sorted(corpus_v3.HELD_OUT)])
    agreement = sorted(c for c in corpus_v3.HELD_OUT if c.startswith("agreement:"))
    block(
        f"Agreement as the choice between the two verb forms ({CHOICE})",
        [("held-out", "held-out", "agreement")]
        + [(c, "construction", c) for c in agreement]
        + [(f"band {b}", f"band {b}", "agreement") for b in corpus_v3.BANDS]
        + [(hw, hw, "agreement") for hw in ("hand-written v3", "hand-written v2")],
        source=lambda n: results[n].get(CHOICE, {}),
    )
    block(
        "Per position band (slot word index; 100 probes per phenomenon and band)",
        [(f"{ph} {b}", f"band {b}", ph) for ph in phenomena for b in corpus_v3.BANDS],
    )
    block(
        "Variants (n in parentheses)",
        [("induction, no sentence between", "gap none", "induction")]
        + [("induction, one unrelated sentence between", "gap unrelated", "induction")]
        + [(f"left recall, lead {v}", f"lead {v}", "left_recall") for v in ("none", "filler")],
    )
    envs = sorted({e for n in names for e in results[n]["environment"]})
    block("By environment (held-out probes of both seeds)", [(e, "environment", e) for e in envs])
    for hw in ("hand-written v3", "hand-written v2"):
        block(f"{hw} per phenomenon", [(ph, hw, ph) for ph in phenomena])
    for n in names:
        g = results[n].get("generation")
        if g:
            lines += [
                "",
                f"### {n}: generation under the strict judge",
                "",
                f"{g['n']} unseen prompts, {g['n_tokens']} tokens, most confident first: "
                f"**{g['well_formed']:.1%}** well formed; {g['with_a_repeat']} of {g['n']} with a repeat.",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", type=Path, default=ROOT / "interp" / "zoo" / "weights")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", action="append", default=None, help="evaluate only this model (repeatable)")
    p.add_argument("--sets", type=Path, default=None, help="probe sets saved by save_sets (drawn if absent)")
    p.add_argument("--n-generate", type=int, default=200, help="prompts of the diffusion model's check")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = None
    if args.sets is not None:
        if not args.sets.is_file():
            save_sets(probe_sets(), args.sets)
        sets = load_sets(args.sets)
    results = tables(args.models, sets, n_generate=args.n_generate, names=args.only)
    print(markdown(results))
    for name, res in results.items():
        print(name, "bars:", {k: v for k, v in bars_met(name, res).items()})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
