"""Save the tiny random Llama (tests/tiny_llama_weights.py) as a Hugging Face model directory.

Run by the transformers server's interpreter (torch, transformers): ``python tiny_llama_hf.py
TOKENIZER_JSON OUT_DIR``. The directory holds ``config.json``, the safetensors weights and the fast
tokenizer (no BOS/EOS added to an encoded text, the shared chat template), as ``transformers serve``
loads them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tiny_llama_weights import BOS, CHAT_TEMPLATE, EOS, make_weights


def main(tokenizer_json: str, out: str) -> None:
    config, weights = make_weights(Path(tokenizer_json))
    model = LlamaForCausalLM(LlamaConfig(**config))
    model.load_state_dict({name: torch.from_numpy(tensor) for name, tensor in weights.items()}, strict=True)
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json, bos_token=BOS, eos_token=EOS)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
