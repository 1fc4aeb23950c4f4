"""The embedded zoo: two tiny models trained by the project on a generated toy-world corpus."""

from pathlib import Path

ZOO_DIR = Path(__file__).parent / "weights"
ZOO_MODELS = {"tiny-causal": "causal", "tiny-bidirectional": "bidirectional"}
