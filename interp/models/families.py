"""The supported model families: the one list that loading, vetting, error messages and docs read.

Each family is a Hugging Face ``model_type`` whose parity with Hugging Face (logits, residual stream, attention
patterns) is tested in tests/test_parity.py, parametrised from :data:`FAMILIES` (a family without a tiny test
model there fails). Causal families run through the engine's own adapters; the masked LMs the engine does not
know (DistilBERT, ELECTRA, ModernBERT) through ours in :mod:`interp.models.adapters`, named here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    model_type: str
    """The config's ``model_type``."""
    kind: str
    """``"causal"`` or ``"bidirectional"`` (a masked LM)."""
    label: str
    """The family's name for people (docs, error messages)."""
    masked_lm: str | None = None
    """Masked LMs: the architecture whose adapter also runs the family's bare encoder (encoder-only loads)."""
    head: tuple[str, ...] = ()
    """Masked LMs: the Hugging Face modules, applied in turn, that turn the residual stream after the last block
    into logits (the masked-LM head, and any norm the encoder applies after its last block)."""
    post_ln: bool = False
    """Blocks apply LayerNorm after each residual addition (BERT-like), not before each sublayer."""
    lm_class: str | None = None
    """A model class of the family, not named ``*ForCausalLM``, that carries its language-model head."""
    adapter: str | None = None
    """``"module:Class"`` of our TransformerLens adapter, for a masked LM the engine does not know (it serves
    the ``masked_lm`` architecture)."""


FAMILIES: tuple[Family, ...] = (
    Family("gpt2", "causal", "GPT-2"),
    Family("gpt_neox", "causal", "GPT-NeoX (Pythia)"),
    Family("llama", "causal", "Llama"),
    Family("qwen2", "causal", "Qwen2"),
    Family("opt", "causal", "OPT"),
    Family("mistral", "causal", "Mistral"),
    Family("gemma", "causal", "Gemma"),
    Family("gemma2", "causal", "Gemma 2"),
    Family("gemma3_text", "causal", "Gemma 3 text-only (gemma-3-1b, gemma-3-270m)"),
    Family(
        "gemma3",
        "causal",
        "Gemma 3 multimodal (4B and larger; the language model reads text)",
        lm_class="Gemma3ForConditionalGeneration",
    ),
    Family("phi3", "causal", "Phi-3"),
    Family("olmo2", "causal", "OLMo 2"),
    Family("bert", "bidirectional", "BERT", "BertForMaskedLM", ("cls",), post_ln=True),
    Family("roberta", "bidirectional", "RoBERTa", "RobertaForMaskedLM", ("lm_head",), post_ln=True),
    Family(
        "distilbert",
        "bidirectional",
        "DistilBERT",
        "DistilBertForMaskedLM",
        ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
        post_ln=True,
        adapter="interp.models.adapters.distilbert:DistilBertAdapter",
    ),
    Family(
        "electra",
        "bidirectional",
        "ELECTRA (generator, ElectraForMaskedLM)",
        "ElectraForMaskedLM",
        ("generator_predictions", "generator_lm_head"),
        post_ln=True,
        adapter="interp.models.adapters.electra:ElectraAdapter",
    ),
    Family(
        "modernbert",
        "bidirectional",
        "ModernBERT",
        "ModernBertForMaskedLM",
        ("model.final_norm", "head", "decoder"),
        adapter="interp.models.adapters.modernbert:ModernBertAdapter",
    ),
)
BY_TYPE = {f.model_type: f for f in FAMILIES}

SUPPORTED = {f.model_type: f.kind for f in FAMILIES}
"""model_type -> kind, for every supported family."""


def describe() -> str:
    """The supported families in one line, for error messages."""

    def names(kind: str) -> str:
        return ", ".join(f"{f.label} ({f.model_type})" for f in FAMILIES if f.kind == kind)

    return f"causal: {names('causal')}; bidirectional (masked LMs): {names('bidirectional')}"


def family_of(model_type: object) -> Family | None:
    return BY_TYPE.get(model_type) if isinstance(model_type, str) else None


def is_lm_class(model_type: object, class_name: str) -> bool:
    """Whether ``class_name`` is the family's own language-model class without the usual name ending."""
    family = family_of(model_type)
    return family is not None and family.lm_class == class_name
