"""DistilBERT (``DistilBertForMaskedLM``) for the engine: BERT's post-LN block under other module names.

Each block is ``h = LN1(x + attn(x))``, ``x' = LN2(h + ffn(h))``; the attention module ends at its output
projection, so its output is the attention's own contribution. The masked-LM head is ``vocab_transform``
(dense), an activation, ``vocab_layer_norm`` and ``vocab_projector`` (the decoder).
"""

from __future__ import annotations

from typing import Any

from transformer_lens.model_bridge.generalized_components import (
    AttentionBridge,
    BlockBridge,
    EmbeddingBridge,
    LinearBridge,
    MLPBridge,
    NormalizationBridge,
    PosEmbedBridge,
    UnembeddingBridge,
)
from transformer_lens.model_bridge.supported_architectures.bert import BertArchitectureAdapter


class DistilBertAdapter(BertArchitectureAdapter):
    """BERT's settings (post-LN, bidirectional, no LayerNorm folding) with DistilBERT's module paths."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)

        def norm(name: str) -> NormalizationBridge:
            return NormalizationBridge(name=name, config=self.cfg, use_native_layernorm_autograd=True)

        self.component_mapping = {
            "embed": EmbeddingBridge(name="distilbert.embeddings.word_embeddings"),
            "pos_embed": PosEmbedBridge(name="distilbert.embeddings.position_embeddings"),
            "embed_ln": norm("distilbert.embeddings.LayerNorm"),
            "blocks": BlockBridge(
                name="distilbert.transformer.layer",
                submodules={
                    "ln1": norm("sa_layer_norm"),
                    "ln2": norm("output_layer_norm"),
                    "attn": AttentionBridge(
                        name="attention",
                        config=self.cfg,
                        submodules={
                            "q": LinearBridge(name="q_lin"),
                            "k": LinearBridge(name="k_lin"),
                            "v": LinearBridge(name="v_lin"),
                            "o": LinearBridge(name="out_lin"),
                        },
                    ),
                    "mlp": MLPBridge(
                        name="ffn",
                        config=self.cfg,
                        submodules={"in": LinearBridge(name="lin1"), "out": LinearBridge(name="lin2")},
                    ),
                },
            ),
            "mlm_head": LinearBridge(name="vocab_transform"),
            "ln_final": norm("vocab_layer_norm"),
            "unembed": UnembeddingBridge(name="vocab_projector"),
        }

    def prepare_model(self, hf_model: Any) -> None:
        """Nothing of BERT's head variants (pooler, next-sentence head) exists here."""
        table = hf_model.distilbert.embeddings.position_embeddings
        self.cfg.n_ctx = table.num_embeddings
