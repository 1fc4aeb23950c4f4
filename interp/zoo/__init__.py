"""The embedded zoo: three tiny models trained by the project on a generated toy-world corpus.

Importing the package registers the zoo as a model source (``interp.load("tiny-causal")``); its modules
(``corpus``, ``train``, ``evaluate``, ...) load on first use, so ``import interp`` stays light.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from interp.models.sources import Source, register

ZOO_DIR = Path(__file__).parent / "weights"
ZOO_MODELS = {
    "tiny-causal": "causal",
    "tiny-bidirectional": "bidirectional",
    "tiny-diffusion": "bidirectional",
}
"""Name -> kind. tiny-diffusion is a masked LM trained to generate (masked diffusion): its config's ``objective``
says so, which :func:`interp.generate` reads."""
_SUBMODULES = (
    "cards_v3",
    "corpus",
    "corpus_v3",
    "diffusion",
    "evaluate",
    "evaluate_v3",
    "grammar",
    "handwritten",
    "judge_v3",
    "tokenizer",
    "train",
    "train_v3",
)


def _reference_texts(n: int, seed: int) -> list[str]:
    from interp.zoo import corpus_v3

    return corpus_v3.generate(n, seed=seed)


SOURCE = register(
    Source(
        name="zoo",
        folders=lambda: {name: ZOO_DIR / name for name in ZOO_MODELS},
        missing="Run `make zoo` to train it.",
        reference_texts=_reference_texts,
    )
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"interp.zoo.{name}")
    raise AttributeError(f"module 'interp.zoo' has no attribute {name!r}")


__all__ = ["SOURCE", "ZOO_DIR", "ZOO_MODELS", *_SUBMODULES]
