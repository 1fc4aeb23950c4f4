"""Generation order over many prompts: one row per (model, order, prompt), so a claim about who decides first
rests on hundreds of generations, not one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from interp import checks
from interp.analysis.generation import generate
from interp.analysis.registry import analysis
from interp.errors import InputError
from interp.models.handle import Model


@analysis("generate_suite", result=None, needs=(), memory=None)
def generate_suite(
    models: Model | Sequence[Model],
    prompts: Iterable[str],
    n_tokens: int,
    *,
    orders: Sequence[str] = ("confidence",),
    steps: int | None = None,
    seed: int = 0,
    judge: Callable[[str], bool] | None = None,
    progress: bool = True,
):
    """Generate from every prompt with every model (each masked LM in every order of ``orders``; a causal model
    once, left to right) and summarise each generation's order (:meth:`GenerationResult.order_stats`).

    Returns a pandas DataFrame, one row per generation: ``model``, ``generator``, ``order``, ``prompt_index``,
    ``prompt``, ``text``, ``first_token`` (the token committed first; the leftmost of a first step's),
    ``kendall_tau``, ``first_decision``, ``content_step``, ``function_step``, ``mean_commit_prob`` and, with
    ``judge`` (a function of the final text, e.g. :func:`interp.zoo.grammar.well_formed`), ``judged``. The random
    order draws with ``seed + prompt_index``.
    """
    import pandas as pd

    models = [models] if isinstance(models, Model) else list(models)
    if not models:
        raise InputError("pass at least one model")
    for m in models:
        checks.model(m)
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise InputError("prompts must be a non-empty list of strings")
    if isinstance(orders, str):
        orders = (orders,)
    runs = [(m, "left_to_right" if m.generator == "causal" else o) for m in models for o in orders]
    runs = list(dict.fromkeys(runs))  # a causal model runs once whatever the orders
    rows = []
    bar = tqdm(total=len(runs) * len(prompts), desc="generate", disable=not progress, mininterval=2)
    for model, order in runs:
        for i, prompt in enumerate(prompts):
            r = generate(model, prompt, n_tokens, steps=steps, order=order, seed=seed + i)
            row = {
                "model": model.name,
                "generator": r.generator,
                "order": r.order,
                "prompt_index": i,
                "prompt": prompt,
                "text": r.text,
                "first_token": r.str_tokens[first_committed(r)],
                **r.order_stats(),
            }
            if judge is not None:
                row["judged"] = bool(judge(r.text))
            rows.append(row)
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def first_committed(result) -> int:
    """The position committed first (the leftmost of those the first step committed)."""
    return int(result.generated[result.commit_step[result.generated] == 1][0])


__all__ = ["generate_suite"]
