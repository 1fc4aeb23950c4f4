"""inseq's integrated gradients to 1% completeness, run in inseq's own environment (build/inseq-venv, made by
``make inseq-venv``; inseq pins typeguard<=2.13.3 and CUDA 11 libraries, so it cannot share ours).

``python -m benchmarks.inseq_worker FOLDER TEXT`` prints one JSON line: the fewest steps of 2, 4, 8, ... whose
completeness error ``|delta| / |f(x) - f(baseline)|`` is within 1% (captum's convergence delta, which inseq
returns per generated token), that error, and the median seconds of three runs at those steps. Imports nothing
of interp.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from importlib.metadata import version

STEPS = (2, 4, 8, 16, 32, 64, 128, 256, 512)


def main(folder: str, text: str) -> dict:
    import inseq
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    model = inseq.load_model(hf, "integrated_gradients", tokenizer=tokenizer)
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        answer = int(hf(ids).logits[0, -1, : len(tokenizer)].argmax())  # a word the tokenizer can write
    generated = f"{text} {tokenizer.decode([answer]).strip()}"  # words are split on spaces

    def run(steps: int) -> float:
        out = model.attribute(
            text, generated, n_steps=steps, return_convergence_delta=True, show_progress=False
        )
        attr = out.sequence_attributions[0]
        delta = float(attr.step_scores["deltas"].reshape(-1)[-1])  # sum(attributions) - (f(x) - f(baseline))
        total = float(attr.target_attributions.nansum()) if attr.target_attributions is not None else 0.0
        total += float(attr.source_attributions.nansum()) if attr.source_attributions is not None else 0.0
        gap = total - delta
        return abs(delta) / max(abs(gap), 1e-12)

    for steps in STEPS:
        error = run(steps)
        if error <= 0.01:
            break
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run(steps)
        times.append(time.perf_counter() - start)
    return {"steps": steps, "error": error, "seconds": statistics.median(times), "version": version("inseq")}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
