"""inseq's attribution of a decoder-only generation, run in inseq's own environment (build/inseq-venv, made by
``make inseq-venv``): the reference of tests/test_generation_attribution.py's parity test. Imports nothing of
interp.

``python tests/inseq_generation_worker.py FOLDER PROMPT IDS N_STEPS OBJECTIVE`` (IDS: the generated token ids,
comma-separated, as interp generated them) prints one JSON line: the tokens inseq attributed, its target
attributions summed over the embedding dimension ``(T, G)`` (null where a position was not an input), its
convergence deltas and the attributed probabilities.
"""

from __future__ import annotations

import json
import sys


def main(folder: str, prompt: str, ids: list[int], n_steps: int, objective: str) -> dict:
    import inseq
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    model = inseq.load_model(hf, "integrated_gradients", tokenizer=tokenizer)
    prompt_ids = tokenizer(prompt)["input_ids"]
    # inseq takes the generation as text: the word-level test tokenizer writes it back to the same ids (checked
    # by the caller against the tokens returned here).
    body = prompt_ids[1:] if prompt_ids[:1] == [tokenizer.bos_token_id] else prompt_ids  # inseq adds the BOS
    generated = tokenizer.decode(body + ids, skip_special_tokens=False)
    out = model.attribute(
        prompt,
        generated,
        n_steps=n_steps,  # captum's IntegratedGradients, its default rule (Gauss-Legendre)
        return_convergence_delta=True,
        show_progress=False,
        step_scores=["probability"],
        attributed_fn="probability",
        logprob=objective == "logprob",
    )
    attr = out.sequence_attributions[0]
    scores = attr.target_attributions  # (T, G, d_model) raw, NaN where not an input
    scores = scores.sum(-1) if scores.ndim == 3 else scores
    return {
        "tokens": [t.id for t in attr.target],
        "scores": [[None if x != x else float(x) for x in row] for row in scores.double().tolist()],
        "deltas": [float(x) for x in attr.step_scores["deltas"].reshape(-1)],
        "probability": [float(x) for x in attr.step_scores["probability"].reshape(-1)],
        "version": inseq.__version__ if hasattr(inseq, "__version__") else "",
    }


if __name__ == "__main__":
    folder, prompt, ids, n_steps, objective = sys.argv[1:6]
    print(json.dumps(main(folder, prompt, [int(i) for i in ids.split(",")], int(n_steps), objective)))
