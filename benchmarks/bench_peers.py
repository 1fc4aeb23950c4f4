"""Peers side by side: the tools a user would otherwise pick, on the same gpt2-small-shaped random model and the
same text, on the CPU with one thread, in one run.

- Integrated gradients to 1% completeness: ``interp.attribute`` vs captum's ``LLMGradientAttribution`` with
  ``LayerIntegratedGradients`` on the token embeddings (the log-probability of the answer, captum's own
  objective) and inseq's ``integrated_gradients`` (in its own environment, build/inseq-venv, when present:
  inseq pins typeguard<=2.13.3 and CUDA 11 libraries that cannot share ours). Each tool runs the fewest path
  steps of 2, 4, 8, 16, ... (one grid for all) at which ``|sum(scores) - (f(x) - f(baseline))| <= 1% |f(x) -
  f(baseline)|``; that run is timed. Both peers integrate with Gauss-Legendre nodes (captum's default, which
  inseq keeps); the ratio is ours with the same quadrature (``interp.attribute(..., integral="gausslegendre")``
  with the answer's log-probability as a user objective, so all three explain the same number), and ours
  with the midpoint rule (``interp.attribute``'s default, more robust where a trained model's integrand is sharp;
  see ``integrated_gradients.METHOD``) is shown beside it. Goal: us <= 0.5x the faster peer.
- Activation capture (every attention pattern and residual stream): ``Model.run_with_cache`` vs nnsight's
  ``trace`` with ``.save()`` and TransformerLens's ``run_with_cache`` (TransformerLens 4 has only the
  TransformerBridge: one it boots itself from the same folder). Goal: <= 1.0x the faster peer.
- Logit lens over every layer and position (top-5, the answer's probability, KL to the final layer): ours vs
  the same lens written with nnsight (decode each block's output through ``ln_f`` and ``lm_head`` inside the
  trace and keep the log-probabilities); time and peak memory (each in a fresh process).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import alternating_medians, gpt2_small_folder, in_fresh_process, words

STEPS = (2, 4, 8, 16, 32, 64, 128, 256, 512)
INSEQ_PYTHON = Path("build/inseq-venv/bin/python")
INSEQ_READY = Path("build/inseq-venv/.installed")


def _timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fewest_steps(run) -> tuple[int, float]:
    """The fewest steps whose completeness error is within 1%, and that error."""
    for steps in STEPS:
        error = run(steps)
        if error <= 0.01:
            return steps, error
    return STEPS[-1], error


# ---- integrated gradients -----------------------------------------------------------------------------------


def ours_ig(model, tokens, answer: int, integral: str = "riemann_middle"):
    """``interp.attribute`` as a user calls it, explaining what captum's ``LLMGradientAttribution`` explains:
    the answer's log-probability at the last position (a user objective of the final residual stream), with
    the quadrature ``integral``."""
    import interp

    def logprob(resid: torch.Tensor) -> torch.Tensor:  # (batch, T, d_model) -> (batch,)
        return model.decode_resid(resid[:, -1]).log_softmax(-1)[:, answer]

    def run(steps: int) -> float:
        r = interp.attribute(
            model, tokens, objective=logprob, n_steps=steps, tolerance=None, integral=integral
        )
        gap = r.objective - r.baseline_objective
        return abs(float(r.scores.sum()) - gap) / abs(gap)

    steps, error = _fewest_steps(run)
    return steps, error, _timed(lambda: run(steps))


def captum_ig(hf, tokenizer, tokens, answer: int):
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    text = tokenizer.decode(tokens[0].tolist(), skip_special_tokens=True)
    llm = LLMGradientAttribution(LayerIntegratedGradients(hf, hf.get_input_embeddings()), tokenizer)
    inp = TextTokenInput(text, tokenizer)
    ids = inp.to_model_input()  # captum's own tokenization of the same text (the same tokens here)
    ids = ids if torch.is_tensor(ids) else torch.tensor(ids)
    target = torch.tensor([answer])
    with torch.no_grad():
        f_x = hf(ids).logits[0, -1].log_softmax(-1)[answer]
        f_0 = hf(torch.zeros_like(ids)).logits[0, -1].log_softmax(-1)[answer]  # baseline: token 0's embedding
    gap = float(f_x - f_0)

    def run(steps: int) -> float:
        res = llm.attribute(inp, target=target, n_steps=steps)
        return abs(float(res.seq_attr.sum()) - gap) / abs(gap)

    steps, error = _fewest_steps(run)
    return steps, error, _timed(lambda: run(steps))


def inseq_ig(folder: str, tokens_text: str) -> dict | None:
    """inseq in its own environment (build/inseq-venv), if it was made; None otherwise."""
    if not INSEQ_READY.exists():
        return None
    out = subprocess.run(
        [str(INSEQ_PYTHON), "-m", "benchmarks.inseq_worker", folder, tokens_text],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    if out.returncode != 0:
        print(f"inseq failed: {out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- activation capture -----------------------------------------------------------------------------------------


def capture_times(model, hf, tokenizer, tokens, repeats: int, folder: str) -> dict[str, float]:
    from nnsight import LanguageModel
    from transformer_lens.model_bridge import TransformerBridge

    names = [f"blocks.{i}.attn.hook_pattern" for i in range(model.n_layers)]
    names += [f"blocks.{i}.hook_resid_post" for i in range(model.n_layers)]
    traced = LanguageModel(hf, tokenizer=tokenizer)
    bridge = TransformerBridge.boot_transformers(folder, device="cpu")  # TransformerLens's own, not ours
    bridge.eval()

    def ours() -> None:
        model.run_with_cache(tokens, names=names)

    def tl() -> None:
        with torch.no_grad():
            bridge.run_with_cache(tokens, names_filter=names)

    def nnsight() -> None:
        saved: list = []
        with torch.no_grad(), traced.trace(tokens):
            for block in traced.transformer.h:
                saved.append(block.attn.output[1].save())
                saved.append(block.output.save())
        assert len(saved) == len(names)

    return alternating_medians({"interp": ours, "tl": tl, "nnsight": nnsight}, repeats=repeats)


# ---- the logit lens ---------------------------------------------------------------------------------------------


def nnsight_lens(traced, tokens, top_k: int = 5) -> dict:
    """The logit lens written with nnsight: each block's output decoded inside the trace, log-probabilities kept,
    then top-k, the answer's probability and KL(final || layer) at every position."""
    saved: list = []
    with torch.no_grad(), traced.trace(tokens):
        embedded = traced.transformer.h[0].input  # the residual stream before the first block
        saved.append(traced.lm_head(traced.transformer.ln_f(embedded)).log_softmax(-1).save())
        for block in traced.transformer.h:
            saved.append(traced.lm_head(traced.transformer.ln_f(block.output)).log_softmax(-1).save())
    logp = torch.cat(saved)  # (n_layers + 1, T, d_vocab)
    final = logp[-1]
    answer = int(final[-1].argmax())
    top = logp.topk(top_k, dim=-1)
    kl = (final.exp() * (final - logp)).sum(-1)
    return {"top": top.indices, "answer_prob": logp[..., answer].exp(), "kl": kl}


def lens_worker(folder: str, which: str, T: int) -> dict:
    """Peak RSS growth of one lens in this fresh process (after a short warm-up), and its time."""
    torch.set_num_threads(1)
    import interp
    from benchmarks.common import hwm, reset_hwm, rss

    model = interp.load(folder)
    tokens = model.to_tokens(words(T - 1))
    if which == "interp":
        run = lambda t: interp.logit_lens(model, t, top_k=5)  # noqa: E731
    else:
        from nnsight import LanguageModel
        from transformers import AutoModelForCausalLM

        hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
        traced = LanguageModel(hf, tokenizer=model.tokenizer)
        run = lambda t: nnsight_lens(traced, t)  # noqa: E731
    run(tokens[:, :8])
    reset_hwm()
    start, t0 = rss(), time.perf_counter()
    run(tokens)
    return {"seconds": time.perf_counter() - t0, "peak": hwm() - start}


def _lens(folder: str, which: str, T: int) -> dict:
    return in_fresh_process("benchmarks.bench_peers", "--lens", folder, which, str(T))


# ---- the table --------------------------------------------------------------------------------------------------


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("captum", "nnsight", "transformer-lens", "inseq"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            if name == "inseq" and INSEQ_READY.exists():
                out.append("inseq (build/inseq-venv)")
    return ", ".join(out)


def run(T_ig: int = 32, T_capture: int = 128, T_lens: int = 128, repeats: int = 5) -> list[dict]:
    from transformers import AutoModelForCausalLM

    import interp

    folder = str(gpt2_small_folder())
    model = interp.load(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    for p in hf.parameters():
        p.requires_grad_(False)
    tokens = model.to_tokens(words(T_ig - 1))
    with torch.no_grad():
        answer = int(hf(tokens).logits[0, -1, : len(model.tokenizer)].argmax())  # a word the tokenizer writes
    ours = ours_ig(model, tokens, answer, integral="gausslegendre")
    midpoints = ours_ig(model, tokens, answer)
    cap = captum_ig(hf, model.tokenizer, tokens, answer)
    ins = inseq_ig(folder, model.tokenizer.decode(tokens[0].tolist(), skip_special_tokens=True))
    peers = {"captum": cap[2]} | ({"inseq": ins["seconds"]} if ins else {})
    fastest = min(peers, key=peers.get)
    ig_ratio = ours[2] / peers[fastest]
    inseq_text = (
        f", inseq {ins['seconds']:.2f} s ({ins['steps']} steps)"
        if ins
        else ", inseq not run (make build/inseq-venv)"
    )
    rows = [
        {
            "benchmark": f"IG to 1% completeness (gpt2-small shape, T={T_ig}) vs the faster peer ({fastest})",
            "measured": f"us {ours[2]:.2f} s ({ours[0]} steps, Gauss-Legendre as the peers; {midpoints[2]:.2f} s, "
            f"{midpoints[0]} steps with our default midpoints), captum LLMGradientAttribution {cap[2]:.2f} s "
            f"({cap[0]} steps){inseq_text}",
            "ratio": ig_ratio,
            "goal": "<= 0.5x",
            "met": ig_ratio <= 0.5,
        }
    ]
    cap_tokens = model.to_tokens(words(T_capture - 1))
    t = capture_times(model, hf, model.tokenizer, cap_tokens, repeats, folder)
    peer = min(("tl", "nnsight"), key=t.get)
    rows.append(
        {
            "benchmark": f"capture patterns + resid (T={T_capture}) vs the faster peer ({'TransformerLens' if peer == 'tl' else 'nnsight'})",
            "measured": f"us {t['interp'] * 1e3:.0f} ms, nnsight trace {t['nnsight'] * 1e3:.0f} ms, "
            f"TransformerLens run_with_cache {t['tl'] * 1e3:.0f} ms",
            "ratio": t["interp"] / t[peer],
            "goal": "<= 1.0x",
            "met": t["interp"] / t[peer] <= 1.0,
        }
    )
    ours_lens, nn_lens = _lens(folder, "interp", T_lens), _lens(folder, "nnsight", T_lens)
    mib = 2**20
    rows.append(
        {
            "benchmark": f"logit lens, every layer and position (T={T_lens}, d_vocab 50257) vs nnsight",
            "measured": f"us {ours_lens['seconds']:.2f} s and +{ours_lens['peak'] / mib:.0f} MiB peak, nnsight "
            f"{nn_lens['seconds']:.2f} s and +{nn_lens['peak'] / mib:.0f} MiB (memory {ours_lens['peak'] / max(1, nn_lens['peak']):.2f}x)",
            "ratio": ours_lens["seconds"] / nn_lens["seconds"],
            "goal": "(peer; time ratio)",
            "met": None,
        }
    )
    rows.append({"benchmark": "peer versions", "measured": versions(), "ratio": "-", "goal": "", "met": None})
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lens"]:
        print(json.dumps(lens_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        torch.set_num_threads(1)
        for row in run():
            print(row)
