"""Model facts: shapes from each model's Hugging Face ``config.json``.

Used by validation, the pre-deployment checks (:mod:`autotuner.facts.fit`) and the simulator.

Parameter counts are derived from the shapes (and checked against the published totals in the
tests), so memory and FLOP figures follow from the same numbers SGLang would load.

>>> m = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
>>> m.name, m.num_layers, m.num_kv_heads
('Llama-3.1-8B', 32, 8)
>>> m.kv_bytes_per_token(tp=1, dtype_bytes=2)  # 2 (K,V) * 32 layers * 8 heads * 128 * 2 bytes
131072
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer (Llama/Qwen2 family: GQA attention, SwiGLU MLP)."""

    name: str
    hf_id: str
    num_params: int  # published total, for reference and the tuner's size checks
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    tie_word_embeddings: bool
    max_context: int  # max_position_embeddings
    qkv_bias: bool = False

    # --- parameter counts -------------------------------------------------------------------
    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        """Weights of one decoder layer: q,k,v,o projections, gate/up/down MLP, two RMSNorms."""
        h = self.hidden_size
        attn = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        if self.qkv_bias:
            attn += self.q_dim + 2 * self.kv_dim
        return attn + 3 * h * self.intermediate_size + 2 * h

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def computed_params(self) -> int:
        """Total parameters from the shapes (lm_head counted once when tied to the embedding)."""
        lm_head = 0 if self.tie_word_embeddings else self.embedding_params
        return self.num_layers * self.layer_params + self.embedding_params + lm_head + self.hidden_size

    @property
    def params_billion(self) -> float:
        return self.num_params / 1e9

    # --- per-GPU figures under tensor parallelism ----------------------------------------------
    def weight_bytes_per_gpu(self, tp: int, dtype_bytes: int = 2) -> int:
        """Resident weights on one GPU: layers, embedding and lm_head are all split ``tp`` ways
        (SGLang shards the vocabulary too)."""
        return self.computed_params * dtype_bytes // tp

    def decode_read_bytes_per_gpu(self, tp: int, dtype_bytes: int = 2) -> float:
        """Weight bytes one forward pass streams from HBM on one GPU: every layer plus the full
        lm_head; the embedding is a row gather, not a full read."""
        return (self.num_layers * self.layer_params + self.embedding_params) * dtype_bytes / tp

    def linear_params_per_gpu(self, tp: int) -> float:
        """Parameters multiplied by every token (decoder layers), per GPU."""
        return self.num_layers * self.layer_params / tp

    def kv_heads_per_gpu(self, tp: int) -> int:
        """KV heads held by one GPU; with tp > kv heads SGLang replicates them (at least one each)."""
        return max(1, self.num_kv_heads // tp)

    def kv_bytes_per_token(self, tp: int, dtype_bytes: int) -> int:
        """KV cache bytes one token takes on one GPU: K and V, every layer, this GPU's heads."""
        return 2 * self.num_layers * self.kv_heads_per_gpu(tp) * self.head_dim * dtype_bytes


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        # meta-llama/Llama-3.2-1B config.json: hidden 2048, 16 layers, 32 heads, 8 KV heads,
        # head_dim 64, intermediate 8192, vocab 128256, tied embeddings; 1.24B parameters.
        ModelSpec("Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct", 1_235_814_400, 16, 2048, 32, 8,
                  64, 128256, 8192, True, 131072),
        # meta-llama/Llama-3.2-3B: hidden 3072, 28 layers, 24 heads, 8 KV heads, intermediate 8192, tied.
        ModelSpec("Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct", 3_212_749_824, 28, 3072, 24, 8,
                  128, 128256, 8192, True, 131072),
        # meta-llama/Llama-3.1-8B: hidden 4096, 32 layers, 32 heads, 8 KV heads, intermediate 14336.
        ModelSpec("Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248, 32, 4096, 32, 8,
                  128, 128256, 14336, False, 131072),
        # Qwen/Qwen2.5-7B-Instruct: hidden 3584, 28 layers, 28 heads, 4 KV heads, intermediate 18944,
        # vocab 152064, qkv bias. 28 heads: tp 8 does not divide them.
        ModelSpec("Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct", 7_615_616_512, 28, 3584, 28, 4,
                  128, 152064, 18944, False, 32768, qkv_bias=True),
        # Qwen/Qwen2.5-32B-Instruct: hidden 5120, 64 layers, 40 heads, 8 KV heads, intermediate 27648.
        ModelSpec("Qwen2.5-32B", "Qwen/Qwen2.5-32B-Instruct", 32_763_876_352, 64, 5120, 40, 8,
                  128, 152064, 27648, False, 32768, qkv_bias=True),
        # meta-llama/Llama-3.1-70B: hidden 8192, 80 layers, 64 heads, 8 KV heads, intermediate 28672.
        ModelSpec("Llama-3.1-70B", "meta-llama/Llama-3.1-70B-Instruct", 70_553_706_496, 80, 8192, 64, 8,
                  128, 128256, 28672, False, 131072),
    )
}


def _norm(name: str) -> str:
    """'meta-llama/Meta-Llama-3.1-8B-Instruct' -> 'llama318b'."""
    base = PurePath(name.strip().rstrip("/")).name.lower()
    base = re.sub(r"^meta-(?=llama)", "", base)
    base = re.sub(r"(-(instruct|chat|base|hf|it))+$", "", base)
    return re.sub(r"[^a-z0-9]", "", base)


def resolve_model(name: str) -> ModelSpec:
    """A model by table name, HF id or local folder name, case-insensitive.

    >>> resolve_model("llama-3.1-70b").hf_id
    'meta-llama/Llama-3.1-70B-Instruct'

    Raises KeyError listing the known names.
    """
    key = _norm(name)
    for model in MODELS.values():
        if key in (_norm(model.name), _norm(model.hf_id)):
            return model
    raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")


__all__ = ["MODELS", "ModelSpec", "resolve_model"]
