"""ModernBERT (``ModernBertForMaskedLM``) for the engine: a pre-LN bidirectional encoder.

Blocks are ``x + attn(LN1(x))`` then ``+ mlp(LN2(.))`` (the first block's LN1 is an identity), with rotary
positions, a fused ``Wqkv`` projection, alternating global and sliding-window attention, and a GLU MLP
(``Wi`` holds both halves). After the last block the encoder applies ``final_norm``, exposed here under that
name; the masked-LM head is then ``head.dense``, an activation, ``head.norm`` and the ``decoder``.
"""

from __future__ import annotations

from typing import Any

from transformer_lens.model_bridge.architecture_adapter import ArchitectureAdapter
from transformer_lens.model_bridge.generalized_components import (
    AttentionBridge,
    BlockBridge,
    EmbeddingBridge,
    LinearBridge,
    MLPBridge,
    NormalizationBridge,
    UnembeddingBridge,
)


class ModernBertAdapter(ArchitectureAdapter):
    """ModernBERT's module paths; attention runs in the Hugging Face module (its per-layer windows and rotary
    tables), the bridge reads its pattern and per-head outputs."""

    supports_generation = False
    supports_fold_ln = False
    supports_center_writing_weights = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.cfg.normalization_type = "LN"
        self.cfg.uses_rms_norm = False
        self.cfg.positional_embedding_type = "rotary"
        self.cfg.gated_mlp = False  # the GLU's halves share one projection
        self.cfg.attn_only = False
        self.cfg.final_rms = False
        self.cfg.attention_dir = "bidirectional"
        self.weight_processing_conversions = {}

        def norm(name: str) -> NormalizationBridge:
            return NormalizationBridge(name=name, config=self.cfg, use_native_layernorm_autograd=True)

        self.component_mapping = {
            "embed": EmbeddingBridge(name="model.embeddings.tok_embeddings"),
            "embed_ln": norm("model.embeddings.norm"),
            "blocks": BlockBridge(
                name="model.layers",
                config=self.cfg,
                submodules={
                    "ln1": norm("attn_norm"),
                    "attn": AttentionBridge(
                        name="attn",
                        config=self.cfg,
                        submodules={"qkv": LinearBridge(name="Wqkv"), "o": LinearBridge(name="Wo")},
                        fused_qkv=True,
                    ),
                    "ln2": norm("mlp_norm"),
                    "mlp": MLPBridge(
                        name="mlp",
                        config=self.cfg,
                        submodules={"in": LinearBridge(name="Wi"), "out": LinearBridge(name="Wo")},
                    ),
                },
            ),
            "final_norm": norm("model.final_norm"),
            "mlm_head": LinearBridge(name="head.dense"),
            "ln_final": norm("head.norm"),
            "unembed": UnembeddingBridge(name="decoder"),
        }

    def prepare_model(self, hf_model: Any) -> None:
        self.cfg.n_ctx = hf_model.config.max_position_embeddings
