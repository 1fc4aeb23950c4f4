"""ELECTRA's generator (``ElectraForMaskedLM``) for the engine: BERT's layer, with two differences.

The embeddings may be narrower than the blocks (``embedding_size < hidden_size``, as in the released
generators): a linear ``embeddings_project`` then maps them into the residual stream, exposed here as
``embed_proj``. The masked-LM head is ``generator_predictions`` (dense, GELU, LayerNorm, all at the embedding
width) and ``generator_lm_head`` (the decoder).
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


class ElectraAdapter(BertArchitectureAdapter):
    """BERT's settings (post-LN, bidirectional, no LayerNorm folding) with ELECTRA's module paths."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)

        def norm(name: str) -> NormalizationBridge:
            return NormalizationBridge(name=name, config=self.cfg, use_native_layernorm_autograd=True)

        self.component_mapping = {
            "embed": EmbeddingBridge(name="electra.embeddings.word_embeddings"),
            "token_type_embed": EmbeddingBridge(name="electra.embeddings.token_type_embeddings"),
            "pos_embed": PosEmbedBridge(name="electra.embeddings.position_embeddings"),
            "embed_ln": norm("electra.embeddings.LayerNorm"),
            "blocks": BlockBridge(
                name="electra.encoder.layer",
                # No single MLP module (intermediate and output are siblings), as in BERT.
                hook_alias_overrides={"hook_mlp_out": "mlp.out.hook_out", "hook_mlp_in": "mlp.in.hook_in"},
                submodules={
                    "ln1": norm("attention.output.LayerNorm"),
                    "ln2": norm("output.LayerNorm"),
                    "attn": AttentionBridge(
                        name="attention",
                        config=self.cfg,
                        submodules={
                            "q": LinearBridge(name="self.query"),
                            "k": LinearBridge(name="self.key"),
                            "v": LinearBridge(name="self.value"),
                            "o": LinearBridge(name="output.dense"),
                        },
                    ),
                    "mlp": MLPBridge(
                        name=None,
                        config=self.cfg,
                        submodules={
                            "in": LinearBridge(name="intermediate.dense"),
                            "out": LinearBridge(name="output.dense"),
                        },
                    ),
                },
            ),
            "mlm_head": LinearBridge(name="generator_predictions.dense"),
            "ln_final": norm("generator_predictions.LayerNorm"),
            "unembed": UnembeddingBridge(name="generator_lm_head"),
        }

    def prepare_model(self, hf_model: Any) -> None:
        """Expose the embedding projection where the checkpoint has one; read the context length."""
        electra = hf_model.electra
        if hasattr(electra, "embeddings_project"):
            self.component_mapping["embed_proj"] = LinearBridge(name="electra.embeddings_project")
        self.cfg.n_ctx = electra.embeddings.position_embeddings.num_embeddings
