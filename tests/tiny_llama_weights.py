"""Random weights for a tiny Llama whose output is predictable in length and re-tokenizes exactly.

Used by tests/tiny_llama_gguf.py (llama.cpp) and tests/tiny_llama_hf.py (transformers), each run by the
server's own interpreter: numpy only, weights named as Hugging Face's ``LlamaForCausalLM`` names them.

The model is random except for one steering trick, so a test can assert exact lengths and counts:
residual dimension 0 is a constant (every token embedding has it at :data:`STEER`, and no attention or
MLP output writes to it), so after the final RMSNorm that dimension is always positive. The output row of
every token the model must never emit (end-of-sequence and every other special token, and every token
that is not ``" "`` + lowercase letters) is ``-SUPPRESS`` in that dimension and 0 elsewhere: its logit is
hugely negative, whatever the context. So generation never stops before max tokens, and the output is a
string of space-led words that the same tokenizer splits back into exactly the generated tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN = 64
LAYERS = 2
HEADS = 4
INTERMEDIATE = 128
CONTEXT = 1024
RMS_EPS = 1e-5
STEER = 10.0
SUPPRESS = 50.0
BOS, EOS = "<s>", "</s>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""The chat template both servers apply; tests/test_real_servers.py renders it the same way."""

_WORD_TOKEN = re.compile("^\u0120[a-z]+$")
"""A byte-level BPE token for ``" "`` + lowercase letters (``Ġ`` is the byte-level space)."""


def read_tokenizer(path: Path) -> tuple[list[str], list[str], dict[str, int]]:
    """(tokens by id, merges as ``"a b"`` strings, special token -> id) of a byte-level BPE tokenizer.json."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    vocab: dict[str, int] = data["model"]["vocab"]
    special = {entry["content"]: entry["id"] for entry in data.get("added_tokens", [])}
    tokens = [""] * (max([*vocab.values(), *special.values()]) + 1)
    for token, index in {**vocab, **special}.items():
        tokens[index] = token
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return tokens, merges, special


def allowed_ids(tokens: list[str], special: dict[str, int]) -> list[int]:
    """The ids the model may emit: space-led lowercase words, no special token."""
    return [i for i, token in enumerate(tokens) if i not in special.values() and _WORD_TOKEN.match(token)]


def make_weights(tokenizer_json: Path, seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(config, weights): the tiny model's hyper-parameters and its float32 tensors by HF name."""
    tokens, _, special = read_tokenizer(tokenizer_json)
    vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    weights: dict[str, np.ndarray] = {}
    embed = normal(vocab, HIDDEN)
    embed[:, 0] = STEER
    weights["model.embed_tokens.weight"] = embed
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            weights[f"{prefix}self_attn.{name}.weight"] = normal(HIDDEN, HIDDEN)
        weights[f"{prefix}mlp.gate_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        weights[f"{prefix}mlp.up_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        weights[f"{prefix}mlp.down_proj.weight"] = normal(HIDDEN, INTERMEDIATE)
        # nothing writes to the steering dimension, so it stays STEER through every layer
        weights[f"{prefix}self_attn.o_proj.weight"][0, :] = 0.0
        weights[f"{prefix}mlp.down_proj.weight"][0, :] = 0.0
        weights[f"{prefix}input_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
        weights[f"{prefix}post_attention_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    weights["model.norm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    head = normal(vocab, HIDDEN, scale=1.0)
    head[:, 0] = 0.0
    banned = np.ones(vocab, dtype=bool)
    banned[allowed_ids(tokens, special)] = False
    head[banned, :] = 0.0
    head[banned, 0] = -SUPPRESS
    weights["lm_head.weight"] = head
    config = {
        "vocab_size": vocab,
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": RMS_EPS,
        "bos_token_id": special[BOS],
        "eos_token_id": special[EOS],
        "tie_word_embeddings": False,
    }
    return config, weights
