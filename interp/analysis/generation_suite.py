"""Generation order over many prompts: one row per (model, order, prompt), so a claim about who decides first
rests on hundreds of generations, not one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from interp import checks
from interp.analysis.generation import generate
from interp.analysis.registry import analysis
from interp.errors import InputError, echo
from interp.models.handle import Model
from interp.progress import bar as progress_bar
from interp.results.generation import ORDERS


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
    ``judge`` (a function of the final text returning True or False, e.g.
    :func:`interp.zoo.grammar.well_formed`), ``judged``. The random order draws with ``seed + prompt_index``.
    ``orders``: a non-empty list of ``"confidence"``, ``"random"`` and ``"left_to_right"`` (one such string is
    read as a list of it), checked whatever the models; ``prompts``: a list of strings (one prompt too:
    ``["the owl ___ ."]``).
    """
    import pandas as pd

    if isinstance(models, (str, bytes)) or not isinstance(models, (Model, Iterable)):
        raise InputError(
            f"models must be a model from interp.load(...) or a list of them, got {echo(models, 80)}"
        )
    models = [models] if isinstance(models, Model) else list(models)
    if not models:
        raise InputError("pass at least one model")
    for i, m in enumerate(models):
        checks.model(m, f"models[{i}]")
    if isinstance(prompts, (str, bytes)):  # list() would split it into letters, each read as a prompt
        raise InputError(
            f"prompts must be a list of strings, got one string {echo(prompts, 80)}: pass [{echo(prompts, 60)}] "
            "for a single prompt"
        )
    if isinstance(prompts, Mapping) or not isinstance(prompts, Iterable):  # a dict would give its keys alone
        raise InputError(f"prompts must be a non-empty list of strings, got {echo(prompts, 80)}")
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise InputError("prompts must be a non-empty list of strings")
    orders = _orders(orders)
    if judge is not None and not callable(judge):
        raise InputError(
            f"judge must be None or a function of the text returning a bool, got {echo(judge, 80)}"
        )
    progress = checks.flag("progress", progress)
    seed = checks.integer("seed", seed, low=0)  # before seed + i: a string would fail there as a TypeError
    runs = [(m, "left_to_right" if m.generator == "causal" else o) for m in models for o in orders]
    runs = list(dict.fromkeys(runs))  # a causal model runs once whatever the orders
    rows = []
    bar = progress_bar(total=len(runs) * len(prompts), desc="generate", show=progress, mininterval=2)
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
                row["judged"] = _judged(judge, r.text)
            rows.append(row)
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def _orders(orders: object) -> list[str]:
    """The orders asked for, each one of :data:`ORDERS` (unknown ones are refused for a causal model too, which
    runs left to right whatever they are)."""
    if isinstance(orders, str):
        orders = (orders,)
    if not isinstance(orders, Iterable):
        raise InputError(
            f"orders must be a list of generation orders ({', '.join(ORDERS)}), got {echo(orders, 80)}"
        )
    orders = list(orders)
    if not orders:
        raise InputError(f"orders is empty: pass at least one of {', '.join(ORDERS)}")
    return [checks.choice("orders", o, ORDERS) for o in orders]


def _judged(judge: Callable[[str], bool], text: str) -> bool:
    """The judge's verdict on ``text``: True or False only (``"no"`` would otherwise count as True); an error
    inside the judge is an InputError naming the judge and the text (Ctrl-C passes through)."""
    name = getattr(judge, "__name__", type(judge).__name__)
    try:
        verdict = judge(text)
    except Exception as err:
        raise InputError(
            f"the judge {name!r} raised {type(err).__name__}: {echo(str(err), 120)[1:-1]} on the text "
            f"{echo(text, 80)}: fix the judge (it is called with each generated text and returns True or False)"
        ) from err
    if isinstance(verdict, (bool, np.bool_)):
        return bool(verdict)
    raise InputError(
        f"the judge {name!r} returned {echo(verdict, 80)} ({type(verdict).__name__}) for {echo(text, 80)}: it must "
        "return True or False"
    )


def first_committed(result) -> int:
    """The position committed first (the leftmost of those the first step committed)."""
    return int(result.generated[result.commit_step[result.generated] == 1][0])


__all__ = ["generate_suite"]
