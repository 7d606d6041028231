"""Reference METEOR scores computed by NLTK 3.10.4, for tests/meteor.rs.

Needs `nltk==3.10.4` in the running Python and the Debian packages `wordnet-base` and
`wordnet-sense-index` (WordNet 3.0 in /usr/share/wordnet) and `bible-kjv` (the `bible` reader
and, through `bible-kjv-text`, the King James Bible, public domain).

NLTK reads WordNet from `$NLTK_DATA/corpora/wordnet/` and refuses symbolic links that leave its
data folder, so the Debian files are copied into a temporary folder, with the `lexnames` file
(not shipped by Debian) written from the table in the lexnames(5WN) manual page.

The sentences are Bible verses. Random pairs of verses rarely share more than function words,
so most pairs are drawn to share a content word stem, and the pairs kept favour those whose
alignment uses NLTK's stem and synonym stages; a few random pairs and hand-written edge cases
complete the set. Scores are `meteor_score([reference], hypothesis)` on whitespace tokens, in
both directions; each direction also records how many words each stage matched and the number
of chunks, from NLTK's own stage functions.

Everything is drawn from a fixed seed, so rerunning the script reproduces its output exactly.
"""

import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

NLTK_VERSION = "3.10.4"
WORDNET_DIR = pathlib.Path("/usr/share/wordnet")
WORDNET_FILES = [
    "cntlist.rev",
    "index.sense",
    *(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("adj", "adv", "noun", "verb")),
    *(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb")),
]
# lexnames(5WN): file number, lexicographer file name, syntactic category (1 noun, 2 verb,
# 3 adjective, 4 adverb).
LEXICOGRAPHER_FILES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
BIBLE_RANGE = "ge1:1-re22:21"
# Any fixed value would do; fixing it makes the fixture reproducible.
SEED = 20240917
# Candidates are drawn until each group below has filled.
WANTED = {"synonym": 220, "stem": 200, "shared word": 100, "random": 80}
MAX_CANDIDATES = 20000
# A stem in more verses than this share is a function word: pairing on it says nothing.
COMMON_STEM_SHARE = 0.02

EDGE_CASES = [
    ("", ""),
    ("", "In the beginning God created the heaven and the earth."),
    ("In the beginning", ""),
    ("   \t\n  ", "word"),
    ("!!! ... ???", "!!! ???"),
    ("The LORD is my shepherd; I shall not want.", "the lord is my shepherd i shall not want"),
    ("HELLO, World!", "hello, world!"),
    ("He was running to the houses", "they run to a house"),
    ("The children were singing", "a child sings"),
    ("is are been", "be be be"),
    ("a quick answer", "a fast reply"),
    ("the big car", "the large auto"),
    ("dog", "dogs"),
    ("dogs", "dog"),
    ("the the the the", "the"),
    ("Ünïcödé naïve café ΣΟΦΙΑ ΟΔΟΣ", "ünïcödé naive cafe σοφια οδος"),
    ("İstanbul STRASSE straße", "i̇stanbul strasse"),
    ("word\x1cword\x1fend", "word word end"),
    ("a\u00a0b\u2003c\u3000d", "a b c d"),
    ("x\u200by z", "x y z"),
    ("ab*ded ab*d", "ab*d"),
    ("ice_cream cone", "ice cream"),
    ("3:16 1,000 42", "42 3:16"),
    ("🙂 good news", "good 🙂 tidings"),
    ("yyyy syzygy flying skies dying", "fly sky die syzygies"),
    (
        "It is a guide to action which ensures that the military always obeys the commands of "
        "the party",
        "It is a guide to action that ensures that the military will forever heed Party commands",
    ),
]


def prepare_nltk_data(root):
    """Copies WordNet where NLTK looks for it and writes `lexnames`."""
    target = pathlib.Path(root) / "corpora" / "wordnet"
    target.mkdir(parents=True)
    for name in WORDNET_FILES:
        shutil.copyfile(WORDNET_DIR / name, target / name)
    lines = (
        f"{number:02d}\t{name}\t{SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXICOGRAPHER_FILES)
    )
    (target / "lexnames").write_text("".join(lines), encoding="ascii")


def bible_verses():
    """(reference, text) for every verse, from Debian's `bible` reader."""
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
            verses.append((f"{chapter}:{number}", text.strip()))
        else:
            chapter = line.strip()
    return verses


class Oracle:
    """NLTK's METEOR, plus its stage-by-stage alignment counts."""

    def __init__(self):
        from nltk.corpus import wordnet
        from nltk.stem.porter import PorterStemmer
        from nltk.translate import meteor_score

        self.wordnet = wordnet
        self.stemmer = PorterStemmer()
        self.module = meteor_score

    def score(self, hypothesis, reference):
        return self.module.meteor_score([reference.split()], hypothesis.split())

    def alignment(self, hypothesis, reference):
        m = self.module
        hyp, ref = m._generate_enums(hypothesis.split(), reference.split())
        exact, hyp, ref = m._match_enums(hyp, ref)
        stem, hyp, ref = m._enum_stem_match(hyp, ref, stemmer=self.stemmer)
        synonym, hyp, ref = m._enum_wordnetsyn_match(hyp, ref, wordnet=self.wordnet)
        matches = sorted(exact + stem + synonym, key=lambda pair: pair[0])
        chunks = m._count_chunks(matches) if matches else 0
        return {"exact": len(exact), "stem": len(stem), "synonym": len(synonym), "chunks": chunks}

    def pair(self, hypothesis, reference, source):
        return {
            "source": source,
            "hypothesis": hypothesis,
            "reference": reference,
            "meteor": self.score(hypothesis, reference),
            "meteor_reverse": self.score(reference, hypothesis),
            "alignment": self.alignment(hypothesis, reference),
            "alignment_reverse": self.alignment(reference, hypothesis),
        }


def content_stems(verses, stemmer):
    """Per verse, its sorted distinct stems that are not function words."""
    stems = [sorted({stemmer.stem(token) for token in text.split()}) for _, text in verses]
    frequency = {}
    for verse_stems in stems:
        for stem in verse_stems:
            frequency[stem] = frequency.get(stem, 0) + 1
    limit = COMMON_STEM_SHARE * len(verses)
    return [[s for s in verse_stems if frequency[s] <= limit] for verse_stems in stems]


def candidate_pairs(verses, stems, rng):
    """Endless (hypothesis index, reference index, drawn at random) triples: mostly verses
    sharing a content stem, every fifth an unrelated pair."""
    verses_with = {}
    for index, verse_stems in enumerate(stems):
        for stem in verse_stems:
            verses_with.setdefault(stem, []).append(index)
    draw = 0
    while True:
        draw += 1
        first = rng.randrange(len(verses))
        if draw % 5 == 0:
            yield first, rng.randrange(len(verses)), True
            continue
        if not stems[first]:
            continue
        partners = verses_with[rng.choice(stems[first])]
        second = rng.choice(partners)
        if second != first:
            yield first, second, False


def group_of(entry, random_pair):
    if random_pair:
        return "random"
    stages = [entry["alignment"], entry["alignment_reverse"]]
    if any(stage["synonym"] for stage in stages):
        return "synonym"
    if any(stage["stem"] for stage in stages):
        return "stem"
    return "shared word"


def verse_pairs(oracle, verses, rng):
    stems = content_stems(verses, oracle.stemmer)
    kept = {group: [] for group in WANTED}
    seen = set()
    for count, (first, second, random_pair) in enumerate(candidate_pairs(verses, stems, rng)):
        if count >= MAX_CANDIDATES or all(len(kept[g]) >= n for g, n in WANTED.items()):
            break
        if (first, second) in seen:
            continue
        seen.add((first, second))
        (first_ref, hypothesis), (second_ref, reference) = verses[first], verses[second]
        entry = oracle.pair(hypothesis, reference, f"KJV {first_ref} / {second_ref}")
        group = group_of(entry, random_pair)
        if len(kept[group]) < WANTED[group]:
            kept[group].append(entry)
    return [entry for group in WANTED for entry in kept[group]]


def check_nltk():
    import nltk

    if nltk.__version__ != NLTK_VERSION:
        sys.exit(f"meteor.py needs nltk=={NLTK_VERSION}, found {nltk.__version__}")
    return nltk


def main():
    with tempfile.TemporaryDirectory() as nltk_data:
        prepare_nltk_data(nltk_data)
        # NLTK reads NLTK_DATA when it is first imported.
        os.environ["NLTK_DATA"] = nltk_data
        nltk = check_nltk()
        oracle = Oracle()
        wordnet_root = str(oracle.wordnet.root)
        if not wordnet_root.startswith(nltk_data):
            sys.exit(f"NLTK found another WordNet first: {wordnet_root}")
        rng = random.Random(SEED)
        pairs = [oracle.pair(h, r, "edge case") for h, r in EDGE_CASES]
        pairs += verse_pairs(oracle, bible_verses(), rng)
    result = {
        "produced_by": (
            f"tests/oracle/meteor.py: nltk {nltk.__version__} meteor_score on Python "
            f"{sys.version.split()[0]}, WordNet from {WORDNET_DIR}"
        ),
        "pairs": pairs,
    }
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
