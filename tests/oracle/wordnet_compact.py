"""Builds src/superhf/meteor/wordnet.bin, the part of WordNet 3.0 that METEOR's synonym stage
reads, from Debian's `wordnet-base` files in /usr/share/wordnet. Python 3 standard library only.

METEOR (as NLTK 3.10.4 computes it) asks WordNet one question: which single-word lemma names
share a synset with a word, after WordNet's morphological reduction of that word? So this keeps:

- per part of speech, the index: lemma -> synsets (the lemma as `index.*` spells it);
- per synset, the lemma names without `_`, with a trailing syntactic marker such as `(p)`
  removed, as NLTK's reader does;
- per part of speech, the exception lists `*.exc`; where a form is listed twice, the later line
  wins, as in NLTK's reader.

It drops what can never change a METEOR score: names that differ from their lower-case form
(METEOR compares names with lower-cased words, so `God` or `Bible` never match), synsets left
with no name, index entries left with no synset, and exception base forms without an entry.
Glosses, pointers, frames and offsets are dropped too.

Format (every integer an unsigned LEB128 varint; "ascending ids" are stored as gaps: the first
id itself, then each id minus the previous one minus one):

    b"WNMETEOR", version (1)
    strings: count, then per string (sorted by UTF-8 bytes, no duplicates): bytes shared with
             the previous string, length of the rest, the rest
    synsets: count, then per synset: name count (>= 1), ascending string ids of its names
    for noun, verb, adjective, adverb:
        index:      count, then per lemma in ascending string-id order (as gaps): synset count
                    (>= 1), ascending synset ids
        exceptions: count, then per form in ascending string-id order (as gaps): base count,
                    ascending string ids of the base forms

Run it with `--out src/superhf/meteor/wordnet.bin` to write the file; without `--out` it writes
nothing. Either way it prints a JSON summary (size, SHA-256, counts) on standard output: run by
tests/oracle/regenerate.py, that summary becomes tests/fixtures/wordnet_compact.json, so
`regenerate.py --check` shows whether the file still regenerates byte for byte, and
tests/meteor.rs checks the committed file against the summary's size and counts.
"""

import argparse
import hashlib
import json
import pathlib
import re
import sys

WORDNET_DIR = pathlib.Path("/usr/share/wordnet")
MAGIC = b"WNMETEOR"
VERSION = 1
# Order of the per-part-of-speech sections; NLTK looks words up in this order too.
PARTS_OF_SPEECH = [("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r")]
# A trailing syntactic marker in data.adj, e.g. `galore(ip)`; NLTK strips it from the name.
SYNTACTIC_MARKER = re.compile(r"(.*?)(\([^()]*\))?$")


def license_line(line):
    """The data and index files open with the licence, each line indented by two spaces."""
    return line.startswith(" ")


def read_lines(path):
    with open(path, encoding="utf-8") as file:
        return [line for line in file if not license_line(line)]


def read_index(file_stem):
    """lemma -> synset offsets, from one index.* file (see wndb(5WN))."""
    index = {}
    for line in read_lines(WORDNET_DIR / f"index.{file_stem}"):
        fields = line.split()
        synset_count, pointer_count = int(fields[2]), int(fields[3])
        first_offset = 6 + pointer_count
        index[fields[0]] = [int(f) for f in fields[first_offset : first_offset + synset_count]]
    return index


def comparable_name(raw_name):
    """The lemma name NLTK reports, or None when METEOR could never match it."""
    name = SYNTACTIC_MARKER.match(raw_name).group(1)
    if "_" in name or name != name.lower():
        return None
    return name


def read_synsets(file_stem):
    """offset -> sorted single-word lower-case lemma names, from one data.* file."""
    synsets = {}
    for line in read_lines(WORDNET_DIR / f"data.{file_stem}"):
        fields = line.split("|")[0].split()
        word_count = int(fields[3], 16)
        raw_names = fields[4 : 4 + 2 * word_count : 2]
        names = {n for n in map(comparable_name, raw_names) if n is not None}
        synsets[int(fields[0])] = sorted(names)
    return synsets


def read_exceptions(file_stem):
    """inflected form -> base forms; a later line replaces an earlier one, as in NLTK."""
    exceptions = {}
    with open(WORDNET_DIR / f"{file_stem}.exc", encoding="utf-8") as file:
        for line in file:
            terms = line.split()
            exceptions[terms[0]] = terms[1:]
    return exceptions


def load():
    """Everything per part of speech, with synsets keyed by (part of speech, offset)."""
    parts = []
    for file_stem, pos in PARTS_OF_SPEECH:
        synsets = {(pos, offset): names for offset, names in read_synsets(file_stem).items()}
        index = {
            lemma: [(pos, offset) for offset in offsets]
            for lemma, offsets in read_index(file_stem).items()
        }
        parts.append({"synsets": synsets, "index": index, "exceptions": read_exceptions(file_stem)})
    return parts


def prune(parts):
    """Drops synsets without names, then index entries and exception bases left empty."""
    named = {}
    for part in parts:
        named.update((key, names) for key, names in part["synsets"].items() if names)
    for part in parts:
        index = {}
        for lemma, keys in part["index"].items():
            kept = [key for key in keys if key in named]
            if kept:
                index[lemma] = kept
        part["index"] = index
        part["exceptions"] = {
            form: [base for base in bases if base in index]
            for form, bases in part["exceptions"].items()
        }
    return named, parts


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def ascending(ids):
    """Gap encoding of strictly ascending ids."""
    out = bytearray()
    previous = -1
    for value in ids:
        assert value > previous
        out += varint(value - previous - 1)
        previous = value
    return bytes(out)


def string_table(strings):
    out = bytearray(varint(len(strings)))
    previous = b""
    for text in strings:
        encoded = text.encode("utf-8")
        shared = 0
        while shared < min(len(previous), len(encoded)) and previous[shared] == encoded[shared]:
            shared += 1
        out += varint(shared) + varint(len(encoded) - shared) + encoded[shared:]
        previous = encoded
    return bytes(out)


def keyed_lists(mapping, key_ids, value_ids):
    """A mapping from strings to lists, as ascending key ids with ascending value ids.

    Repeated values collapse: METEOR only asks whether a value is there.
    """
    rows = sorted(
        (key_ids[key], sorted({value_ids[v] for v in values})) for key, values in mapping.items()
    )
    out = bytearray(varint(len(rows)))
    previous = -1
    for key_id, values in rows:
        out += varint(key_id - previous - 1) + varint(len(values)) + ascending(values)
        previous = key_id
    return bytes(out)


def encode(named, parts):
    strings = set()
    for names in named.values():
        strings.update(names)
    for part in parts:
        strings.update(part["index"])
        for form, bases in part["exceptions"].items():
            strings.add(form)
            strings.update(bases)
    strings = sorted(strings, key=lambda s: s.encode("utf-8"))
    string_ids = {text: i for i, text in enumerate(strings)}
    synset_keys = sorted(named, key=lambda key: ("nvar".index(key[0]), key[1]))
    synset_ids = {key: i for i, key in enumerate(synset_keys)}

    out = bytearray(MAGIC + varint(VERSION))
    out += string_table(strings)
    out += varint(len(synset_keys))
    for key in synset_keys:
        out += varint(len(named[key])) + ascending(sorted(string_ids[n] for n in named[key]))
    for part in parts:
        out += keyed_lists(part["index"], string_ids, synset_ids)
        out += keyed_lists(part["exceptions"], string_ids, string_ids)
    counts = {
        "strings": len(strings),
        "synsets": len(synset_keys),
        "index_entries": sum(len(part["index"]) for part in parts),
        "exceptions": sum(len(part["exceptions"]) for part in parts),
    }
    return bytes(out), counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, help="where to write wordnet.bin")
    args = parser.parse_args()
    data, counts = encode(*prune(load()))
    if args.out:
        args.out.write_bytes(data)
    summary = {
        "produced_by": f"tests/oracle/wordnet_compact.py from {WORDNET_DIR}",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "counts": counts,
    }
    json.dump(summary, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
