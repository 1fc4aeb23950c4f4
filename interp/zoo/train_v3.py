"""Train zoo v3 (grammar :mod:`interp.zoo.corpus_v3`, context 256): ``python -m interp.zoo.train --grammar 3
--kind causal|bidirectional|diffusion --out zoo/v3 [--steps N] [--max-minutes M] [--init-from DIR]``.

The shipped models (``SETTINGS``) start from a first v3 run kept in the tree under ``zoo/lineage/v3a/``, which
started from the zoo v2 weights under ``zoo/lineage/v2/`` (a shallow clone has no history to read them from):
v2's token ids are kept and v3's eight new words appended (:func:`interp.zoo.tokenizer.extend_tokenizer`), and
the position table grows from 128 to 256 by repeating it (:func:`interp.zoo.train.start_from`). Validation
probes (``corpus_v3.probes(seed=99)``, every band; agreement read as the is-vs-are choice) choose the
checkpoint; the best one so far is written to ``--out`` (default ``zoo/v3``, a candidates folder; ``make zoo``
writes over ``interp/zoo/weights``) at every validation, so a run stopped by its time budget, a SIGTERM or a
crash leaves it. ``--init-from DIR`` continues from another v3 checkpoint. v2's settings (``train.SETTINGS``) are
untouched: ``python -m interp.zoo.train`` without ``--grammar 3`` trains v2 as shipped.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from interp.zoo import corpus_v3, diffusion
from interp.zoo.evaluate import accuracy, margin
from interp.zoo.tokenizer import extend_tokenizer, hf_tokenizer
from interp.zoo.train import SEED, SHAPE, SLOT_WEIGHT, _Stop, build_model, make_batch, start_from

ROOT = Path(__file__).resolve().parents[2]
LINEAGE = ROOT / "zoo" / "lineage" / "v2"
"""The shipped zoo v2 models (weights, tokenizer, config, training record), where every v3 model starts."""
N_CTX = 256
MAX_WORDS = 200
COMMON = dict(SHAPE, batch=32, lr=1e-3, slot_weight=SLOT_WEIGHT)
# Left recall and agreement in the new environments are the work (v2 scores 16-20% and 46-66% on them): the
# masked model's mix leans on copying as v2's did.
COPY_HEAVY = {
    "left_recall": 0.30,
    "induction": 0.22,
    "repeat": 0.08,
    "agreement": 0.16,
    "right_cloze": 0.16,
    "filler": 0.08,
}
# The settings of the shipped models: a second run of each, warm-started from the first run's models (kept in
# `zoo/lineage/v3a/`, themselves from v2's), at batch 16 (twice v2's updates for the same tokens) under a time
# budget (`MAX_MINUTES`). The diffusion model starts from the first run's masked model, which copies.
SETTINGS = {
    "causal": dict(
        COMMON,
        batch=16,
        lr=6e-4,
        steps=9000,
        warmup=100,
        mix=corpus_v3.MIX,
        slot_mask_p=0.0,
        val_per_kind=100,
        select="sum",
        lengths=None,
        init_from="zoo/lineage/v3a/tiny-causal",
    ),
    "bidirectional": dict(
        COMMON,
        batch=16,
        lr=6e-4,
        steps=9000,
        warmup=100,
        mix=COPY_HEAVY,
        slot_mask_p=0.5,
        val_per_kind=100,
        select="margin",
        lengths=None,
        init_from="zoo/lineage/v3a/tiny-bidirectional",
    ),
    # Passages of every length from 16 to 200 words: generating 24 words after one sentence means writing a
    # short passage to its end. Checkpoints are chosen by the strict judge's share of generations. Probe-like
    # slots are also masked on their own (`slot_mask_p`), as masked-LM terms.
    "diffusion": dict(
        COMMON,
        batch=16,
        lr=5e-4,
        steps=9000,
        warmup=100,
        mix=corpus_v3.MIX,
        slot_mask_p=0.5,
        val_per_kind=100,
        select="generation",
        lengths=[16, MAX_WORDS],
        init_from="zoo/lineage/v3a/tiny-bidirectional",
    ),
}
MAX_MINUTES = {"causal": 100, "bidirectional": 100, "diffusion": 72}
"""Each run's time budget in `make zoo` (all three at once, one thread each): the cosine anneals over
``max(step / steps, minutes / budget)``, so the step a run stops at depends on the machine's speed."""
LINEAGE_NOTES = {
    "causal": "zoo v2 tiny-causal (trained fresh, 7,652 steps on grammar v2)",
    "bidirectional": "zoo v2 tiny-bidirectional (grammar v2, started from zoo v1's masked model)",
    "diffusion": "zoo v2 tiny-diffusion (grammar v2, started from a first diffusion run, itself started from "
    "zoo v2's masked model)",
}


def tokenizer(kind: str, lineage: Path = LINEAGE):
    """(tokenizers.Tokenizer, Hugging Face tokenizer) of v3: v2's vocabulary and ids, then ``NEW_WORDS``."""
    base = (lineage / "tiny-causal" / "tokenizer.json").read_text()
    tok = extend_tokenizer(base, corpus_v3.NEW_WORDS)
    arch = "causal" if kind == "causal" else "bidirectional"
    return tok, hf_tokenizer(tok, arch, max_length=N_CTX)


def resolve(source: str) -> Path:
    """A folder, relative to the repository root unless absolute."""
    path = Path(source)
    return path if path.is_absolute() else ROOT / path


def grown(kind: str, init_from: str | Path, shape: dict | None = None):
    """(model, tokenizer): a v3-sized model (context 256, v3 vocabulary) holding ``init_from``'s weights."""
    tok, hf_tok = tokenizer(kind)
    arch = "causal" if kind == "causal" else "bidirectional"
    model = build_model(arch, tok.get_vocab_size(), shape, n_ctx=N_CTX)
    start_from(model, resolve(str(init_from)), tok.get_vocab())
    bias = getattr(getattr(model, "cls", None), "predictions", None)
    if bias is not None and Path(init_from).parts[-3:-1] == ("lineage", "v2"):
        # the new words' output bias starts at v2's lowest, so that they outrank no v2 answer at step 0
        new = [tok.token_to_id(w) for w in corpus_v3.NEW_WORDS]
        with torch.no_grad():
            bias.bias[new] = bias.bias[: min(new)].min()
    return model, hf_tok


def _lineage_of(folder: Path, kind: str) -> list[str]:
    """The chain that led to ``folder``: its own training record's lineage, or the v2 note for the lineage."""
    record = folder / "training.json"
    if folder.parent != LINEAGE and record.exists():
        return list(json.loads(record.read_text()).get("lineage", []))
    return [
        LINEAGE_NOTES[folder.name.removeprefix("tiny-")]
        if folder.name.startswith("tiny-")
        else LINEAGE_NOTES[kind]
    ]


def copy_lineage(weights: Path, out: Path = LINEAGE) -> None:
    """Copy the shipped v2 models' files that a warm start reads into ``out`` (the lineage kept in the tree)."""
    for name in ("tiny-causal", "tiny-bidirectional", "tiny-diffusion"):
        (out / name).mkdir(parents=True, exist_ok=True)
        for f in (
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "config.json",
            "training.json",
        ):
            shutil.copyfile(weights / name / f, out / name / f)


def commit() -> str:
    """The checkout's commit (and "+dirty" when tracked files differ from it): what a run trained from."""
    run = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout  # noqa: E731
    head = run("rev-parse", "HEAD").strip() or "unknown"
    return head + ("+dirty" if run("status", "--porcelain", "--untracked-files=no", "interp").strip() else "")


def _save(model, hf_tok, out: Path, record: dict) -> None:
    """Write a checkpoint to ``out`` through a temporary folder (a reader never sees half of one)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    hf_tok.backend_tokenizer.no_padding()  # validation batches switch padding on; the saved file has none
    hf_tok.save_pretrained(tmp)
    (tmp / "training.json").write_text(json.dumps(record, indent=1))
    for f in tmp.iterdir():
        out.mkdir(parents=True, exist_ok=True)
        f.replace(out / f.name)
    tmp.rmdir()


def train(
    kind: str,
    out: Path,
    steps: int | None = None,
    max_minutes: float | None = None,
    overrides: dict | None = None,
    eval_every: int = 250,
    log=print,
):
    """Train one v3 model; the best checkpoint on the validation probes is kept in ``out`` as training goes."""
    cfg = {**SETTINGS[kind], **(overrides or {})}
    unknown = set(overrides or {}) - set(SETTINGS[kind])
    if unknown:
        raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(SETTINGS[kind])}")
    if steps is not None:
        cfg["steps"] = steps
    arch = "causal" if kind == "causal" else "bidirectional"
    model, hf_tok = grown(kind, cfg["init_from"], {k: cfg[k] for k in SHAPE})
    vocab = hf_tok.get_vocab()
    if kind == "diffusion":  # how interp.generate tells a diffusion LM from another masked LM
        model.config.objective = "masked_diffusion"
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < cfg["warmup"]:
            return (step + 1) / cfg["warmup"]
        done = min(1.0, (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"]))
        if max_minutes is not None:  # on a shared machine the time budget, not the step count, ends the run
            done = max(done, min(1.0, (time.time() - start) / (60 * max_minutes)))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    start = time.time()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    validation = corpus_v3.probes(seed=99, n_per_kind=cfg["val_per_kind"])
    if kind == "causal":  # an inverted subject or a cue after the slot is right context for it
        validation = [p for p in validation if p.sees_left]

    def score(acc: dict[str, float]) -> tuple[tuple[float, ...], float | None]:
        total = sum(acc.values())
        if cfg["select"] == "generation":
            generated = diffusion.quality(model, hf_tok, n=100, seed=99, grammar=3)[0]
            return (min(0.0, margin(arch, acc)), generated, total), generated
        return ((total,) if cfg["select"] == "sum" else (margin(arch, acc), total)), None

    record = {
        "kind": kind,
        "seed": SEED,
        "grammar_version": corpus_v3.GRAMMAR_VERSION,
        "held_out": sorted(corpus_v3.HELD_OUT),
        "n_ctx": N_CTX,
        "commit": commit(),
        "lineage": [str(cfg["init_from"]), *_lineage_of(resolve(str(cfg["init_from"])), kind)],
        **cfg,
    }
    if max_minutes is not None:
        record["schedule"] = f"cosine over max(step / steps, minutes / {max_minutes:g})"
    rng = random.Random(f"train-v3-{kind}-{SEED}")
    best: tuple[float, ...] = ()
    history = []
    stop = _Stop()

    def validate(step: int, loss: float) -> None:
        nonlocal best
        # agreement as the is-vs-are choice: a held-out slot such as "anna and ben ___ at the park" also admits
        # "talked", so its top-1 pins the bars' margin below 0 whatever the checkpoint
        acc = accuracy(model, hf_tok, arch, validation, choice=True)
        now, generated = score(acc)
        row = {"step": step, "minutes": round((time.time() - start) / 60, 1), "loss": round(loss, 4), **acc}
        if generated is not None:
            row["generation_strict"] = generated
        history.append(row)
        log(json.dumps(row))
        if now >= best:  # ties go to the later step
            best = now
            record.update(checkpoint_step=step, validation=acc, history=history)
            record["minutes"] = row["minutes"]
            _save(model, hf_tok, out, record)
        else:
            (out / "training.json").write_text(json.dumps({**record, "history": history}, indent=1))
        model.train()

    validate(0, float("nan"))
    model.train()
    step, loss = 0, torch.tensor(float("nan"))
    for step in range(1, cfg["steps"] + 1):
        if stop.requested or (max_minutes is not None and time.time() - start > 60 * max_minutes):
            record["stopped_at_step"] = step - 1
            break
        batch = make_batch(
            rng,
            vocab,
            kind,
            cfg["batch"],
            cfg["mix"],
            cfg["slot_weight"],
            cfg["slot_mask_p"],
            cfg["lengths"],
            passage=corpus_v3.passage,
        )
        input_ids, mask, targets, weights = batch
        logits = model(input_ids=input_ids, attention_mask=mask).logits  # (B, T, V)
        loss_tok = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        w = weights.flatten() * (targets.flatten() != -100).float()
        if kind == "diffusion":  # 1/t-weighted sum over masked words, per word of the batch
            loss = (loss_tok * w).sum() / (mask.sum() - 2 * mask.shape[0])
        else:
            loss = (loss_tok * w).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 10 == 0:
            log(f"step {step} {time.time() - start:.0f}s loss {loss.item():.3f}")
        if step % eval_every == 0:
            validate(step, loss.item())
    last = record.get("stopped_at_step", step)
    if not history or history[-1]["step"] != last:
        validate(last, loss.item())
    record["history"] = history
    (out / "training.json").write_text(json.dumps(record, indent=1))
    log(f"done: best step {record['checkpoint_step']}, {(time.time() - start) / 60:.1f} min")
    return record


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", choices=list(SETTINGS), required=True)
    p.add_argument("--out", type=Path, default=ROOT / "zoo" / "v3")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=None, help="default: MAX_MINUTES of the kind")
    p.add_argument("--init-from", default=None, help="start from this folder instead of SETTINGS' init_from")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.set)}
    if args.init_from:
        overrides["init_from"] = args.init_from
    train(
        args.kind,
        args.out / f"tiny-{args.kind}",
        steps=args.steps,
        max_minutes=MAX_MINUTES[args.kind] if args.max_minutes is None else args.max_minutes,
        overrides=overrides,
        eval_every=args.eval_every,
        log=lambda line: print(line, flush=True),
    )


if __name__ == "__main__":
    main()
