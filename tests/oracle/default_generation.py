"""The default language model (the packaged SmolLM2-135M-Instruct GGUF file) as transformers
runs it, for the command-line tool's and the page's `generate`: a user's message framed by the
chat template the file carries (`apply_chat_template` with the generation prompt), a plain
prompt, the token ids of each (special tokens only where the text writes them, as the lab's
tokenizer reads this file, which asks for no BOS), and the greedy continuation of each
(transformers' LlamaForCausalLM on the file dequantised to float32), with the gap between the
two largest logits at each step.
"""

import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from _common import cache_dir

FOLDER = cache_dir() / "assets" / "models" / "SmolLM2-135M-Instruct"
FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MESSAGE = "What is the capital of France?"
PLAIN = "The capital of France is"
NEW_TOKENS = 12


def greedy(model, prompt):
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(logits.argmax()))
    return ids[len(prompt) :], margins


def case(tokenizer, model, text):
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    continuation, margins = greedy(model, tokens)
    return {
        "text": text,
        "tokens": tokens,
        "continuation": continuation,
        "continuation_text": tokenizer.decode(continuation),
        "top2_margins": margins,
    }


def main():
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(FOLDER, gguf_file=FILE_NAME)
    model = AutoModelForCausalLM.from_pretrained(
        FOLDER, gguf_file=FILE_NAME, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    chat_text = tokenizer.apply_chat_template(
        [{"role": "user", "content": MESSAGE}], add_generation_prompt=True, tokenize=False
    )
    fixture = {
        "produced_by": f"tests/oracle/default_generation.py with transformers {transformers.__version__}",
        "file": f"models/SmolLM2-135M-Instruct/{FILE_NAME}",
        "eos_token_id": tokenizer.eos_token_id,
        "chat": {"message": MESSAGE, **case(tokenizer, model, chat_text)},
        "plain": case(tokenizer, model, PLAIN),
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
