"""Reference sentence embeddings of the real all-MiniLM-L6-v2 encoder (the lab's cached asset
`models/all-MiniLM-L6-v2/`), computed by Hugging Face transformers' BertModel and the pooling
of the sentence-transformers pipeline that ships the model: the mean of the last hidden states
over the attention mask (sum / clamp(count, 1e-9)), then division by the Euclidean norm, as
`torch.nn.functional.normalize` computes it.

The sentences are tokenised here with the `tokenizers` package from the asset's own
`tokenizer.json` (padded on the right to the longest), and the fixture carries the ids, so the
lab's test exercises the encoder alone.
"""

import json
import os
import pathlib
import sys

import tokenizers
import torch
import transformers
from transformers import BertModel


SENTENCES = [
    "In the beginning God created the heaven and the earth.",
    "The weather is lovely today, and the park is full of people.",
    "It's so sunny outside!",
    "A man is playing a guitar on the street corner.",
    "Stock markets fell sharply after the announcement.",
    "I really did not enjoy that film; the plot made no sense at all.",
]


def asset_folder():
    cache = os.environ.get("SUPERLAB_CACHE")
    if cache is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache")
        cache = os.path.join(base, "superlab")
    return pathlib.Path(cache) / "assets" / "models" / "all-MiniLM-L6-v2"


def main():
    torch.set_num_threads(1)
    folder = asset_folder()
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(SENTENCES)
    ids = torch.tensor([e.ids for e in encodings])
    mask = torch.tensor([e.attention_mask for e in encodings])
    types = torch.tensor([e.type_ids for e in encodings])

    model = BertModel.from_pretrained(folder, attn_implementation="eager").train(False)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / torch.clamp(weights.sum(1), min=1e-9)
    embeddings = torch.nn.functional.normalize(pooled, p=2, dim=1)

    fixture = {
        "produced_by": (
            f"tests/oracle/minilm.py with transformers {transformers.__version__} and "
            f"tokenizers {tokenizers.__version__}"
        ),
        "sentences": SENTENCES,
        "tokens": ids.tolist(),
        "mask": mask.tolist(),
        "token_types": types.tolist(),
        "first_position": hidden[:, 0].flatten().tolist(),
        "pooled_norms": pooled.norm(dim=1).tolist(),
        "embeddings": embeddings.flatten().tolist(),
        "cosine_similarities": (embeddings @ embeddings.T).flatten().tolist(),
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
