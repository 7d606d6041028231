"""Reference tokenisations by Hugging Face's `tokenizers` Python binding and by transformers'
GGUF tokenizer, on every verse of the Psalms (Debian's `bible-kjv`, read through its `bible`
reader) and on hand-written lines with unicode, emoji, whitespace runs, digits and code.

Four tokenizers:

- `gpt2`: GPT-2's `tokenizer.json` (byte-level BPE);
- `minilm`: all-MiniLM-L6-v2's `tokenizer.json` (BERT WordPiece, lower-casing), with its
  padding and truncation switched off, as the lab loads it;
- `smollm2_transformers`: the tokenizer transformers rebuilds from the SmolLM2 GGUF file
  (`AutoTokenizer.from_pretrained(folder, gguf_file=...).backend_tokenizer`);
- `smollm2_file`: the same vocabulary and merges with the pre-tokenizer the file names
  (`tokenizer.ggml.pre` = `smollm`: llama.cpp splits off every digit before GPT-2's pattern,
  the `Digits(individual_digits=True)` step of SmolLM2's own tokenizer.json) and without the
  BOS that transformers adds, since the file says `add_bos_token = false`.

For every verse the fixture keeps a 32-bit FNV-1a hash of its ids and of the text they decode
to; the hand-written lines are kept in full, with their ids with and without special tokens
and their decodings.
"""

import json
import pathlib
import subprocess
import sys

import gguf
import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from _common import cache_dir, fnv1a64

ASSETS = cache_dir() / "assets" / "models"
GGUF_FOLDER = ASSETS / "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BIBLE_RANGE = "ps1:1-ps150:6"
NEWLINE = "\n"
# Special-token names whose ids the fixture records, to check the lab's lookups.
SPECIAL_NAMES = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"]
# Ids whose tokens the fixture records.
SAMPLE_IDS = [0, 1, 2, 3, 17, 100, 101, 255, 256, 1000, 12345, 30000, 49151, 50256]

HAND_WRITTEN = [
    "",
    " ",
    "Hello, world!",
    "  leading and trailing spaces   ",
    "tabs\tand\t\tmore tabs\t",
    "line one\nline two\r\nline three\n\n\nafter blank lines",
    "In 2024 there were 1,234,567 people; π ≈ 3.14159.",
    "digits after runs:  42,   7 and\t\t99 and\n\n12",
    "x =    1234567890 + 0.5e-3",
    "fullwidth １２３ superscript x² roman Ⅻ fraction ½ arabic-indic ٣٤٥",
    "Grüße aus Köln, naïve café, Ångström, ﬁ ligature",
    "日本語のテキストと中文文本，还有한국어.",
    "Кириллица и ελληνικά γράμματα",
    "عربي مع أرقام ١٢٣ والعبرية שלום",
    "emoji 😀🎉 family 👨‍👩‍👧‍👦 flag 🇫🇷 skin 👍🏽 keycap 1️⃣",
    "zero\u200bwidth and non\u00a0breaking and combining e\u0301",
    "I'm sure they'll say we've done what you'd do, don't you? I'LL SHOUT",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "fn main() {\n\tlet v: Vec<u32> = (0..10).map(|x| x * x).collect();\n\tprintln!(\"{v:?}\");\n}",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "https://example.org/path?query=1&other=two#frag user@example.com",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "[CLS] bert markers [SEP] [MASK] [PAD]",
    "UPPER lower MiXeD 123abc abc123 a1b2c3",
    "punctuation!!! ??? ... --- *** ;;; :::",
    "a" * 120,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "$100.00 €50 £20 ¥1000 ₿0.001",
    "    indented with four spaces",
]


def bible_verses():
    """`Psalms C:V text` for every verse of the range, from Debian's `bible` reader."""
    output = subprocess.run(
        ["bible", "-l", "100000", BIBLE_RANGE],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    verses, chapter = [], None
    for line in output.splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            number, text = line.split(None, 1)
            verses.append(f"{chapter}:{number} {text.strip()}")
        else:
            chapter = line.strip()
    return verses


def hash32(data: bytes) -> str:
    return f"{fnv1a64(data) & 0xFFFFFFFF:08x}"


def ids_bytes(ids) -> bytes:
    return b"".join(i.to_bytes(4, "little") for i in ids)


def transformers_gguf_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(GGUF_FOLDER, gguf_file=GGUF_FILE)
    return tokenizer, tokenizer.backend_tokenizer


def as_the_file_names(backend: Tokenizer) -> Tokenizer:
    """transformers' tokenizer with the file's own pre-tokenizer and framing."""
    description = json.loads(backend.to_str())
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    description["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level],
    }
    description["post_processor"] = None
    description["decoder"] = byte_level
    return Tokenizer.from_str(json.dumps(description))


def describe(tokenizer: Tokenizer, verses, truncation_length=None):
    hand_written = []
    for text in HAND_WRITTEN:
        plain = tokenizer.encode(text, add_special_tokens=False).ids
        framed = tokenizer.encode(text, add_special_tokens=True).ids
        hand_written.append(
            {
                "ids": plain,
                "ids_with_special_tokens": framed,
                "decoded": tokenizer.decode(plain, skip_special_tokens=False),
                "decoded_framed_skipping_special": tokenizer.decode(framed, skip_special_tokens=True),
            }
        )
    batch = tokenizer.encode_batch(verses, add_special_tokens=False)
    verse_hashes = [
        [hash32(ids_bytes(encoding.ids)), hash32(tokenizer.decode(encoding.ids, skip_special_tokens=False).encode())]
        for encoding in batch
    ]
    return {
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "truncation_length": truncation_length,
        "special_ids": {name: tokenizer.token_to_id(name) for name in SPECIAL_NAMES},
        "tokens_of_ids": {str(i): tokenizer.id_to_token(i) for i in SAMPLE_IDS},
        "hand_written": hand_written,
        "verse_token_count": sum(len(encoding.ids) for encoding in batch),
        "verses": verse_hashes,
    }


def main():
    verses = bible_verses()
    gpt2 = Tokenizer.from_file(str(ASSETS / "gpt2" / "tokenizer.json"))
    minilm = Tokenizer.from_file(str(ASSETS / "all-MiniLM-L6-v2" / "tokenizer.json"))
    minilm_truncation = minilm.truncation["max_length"]
    minilm.no_padding()
    minilm.no_truncation()
    wrapper, backend = transformers_gguf_tokenizer()
    for text in HAND_WRITTEN + verses[:50]:
        assert wrapper(text)["input_ids"] == backend.encode(text).ids, text
    reader = gguf.GGUFReader(GGUF_FOLDER / GGUF_FILE)
    metadata_ids = {
        role: int(reader.fields[f"tokenizer.ggml.{role}_token_id"].contents())
        for role in ("bos", "eos", "padding", "unknown")
    }
    fixture = {
        "produced_by": (
            f"tests/oracle/tokenization.py with tokenizers {tokenizers.__version__}, "
            f"transformers {transformers.__version__}"
        ),
        "bible_range": BIBLE_RANGE,
        "verse_count": len(verses),
        "verses_hash": f"{fnv1a64(NEWLINE.join(verses).encode()):016x}",
        "first_verse": verses[0],
        "hand_written": HAND_WRITTEN,
        "gguf_special_ids": metadata_ids,
        "transformers_gguf_roles": {
            "bos": wrapper.bos_token_id,
            "unk": wrapper.unk_token_id,
            "add_bos_token": wrapper.add_bos_token,
        },
        "tokenizers": {
            "gpt2": describe(gpt2, verses),
            "minilm": describe(minilm, verses, minilm_truncation),
            "smollm2_transformers": describe(backend, verses),
            "smollm2_file": describe(as_the_file_names(backend), verses),
        },
    }
    json.dump(fixture, sys.stdout, indent=None, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
