"""Sentences and sentiment labels for the lab's default reward models.

The sentences are built here from templates (the same topics as the `sentiment` preset's
prompts, with adjectives, adverbs and clauses of every tone) and labelled with VADER's
compound score (vaderSentiment 3.3.2, MIT licence, Hutto and Gilbert 2014), a number in
[-1, 1]. The lab trains a scalar head on the MiniLM encoder to regress these labels: one
reward model on the `train` split, a second on the disjoint `heldout` split, so that the
gap between them shows reward hacking. Everything is deterministic: the same script always
prints the same data.
"""

import json
import sys

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from _common import splitmix_u64

SEED = 11
SENTENCES = 1200

SUBJECTS = [
    "the movie", "the food", "the hotel", "our trip", "the concert", "the new phone",
    "the book", "the meeting", "the weather", "the service", "the match", "the house",
    "the coffee", "the garden", "the show", "the flight", "the exhibition", "the dinner",
    "the fair", "the teacher", "the cake", "the walk", "the update", "the driver", "the play",
    "the party", "the park", "the ride", "the album", "the run", "the pizza", "the trail",
    "the choir", "the apartment", "the ending", "the surprise", "the shop", "the library",
    "the bakery", "the game", "the lecture", "the beach", "the class", "the visit",
    "the recipe", "the team", "the parade", "the sunset", "the market", "the band",
]
VERBS = ["was", "is", "felt", "seemed", "turned out to be", "looked"]
ADVERBS = ["", "", "", "very ", "really ", "quite ", "a bit ", "so ", "rather ", "truly "]
ADJECTIVES = [
    # warm
    "wonderful", "great", "lovely", "delightful", "amazing", "excellent", "fantastic",
    "beautiful", "charming", "pleasant", "fun", "brilliant", "perfect", "cheerful", "superb",
    "enjoyable", "friendly", "inspiring", "impressive", "comfortable",
    # cold
    "terrible", "awful", "boring", "disappointing", "horrible", "dull", "ugly", "rude",
    "miserable", "annoying", "bad", "dreadful", "painful", "sad", "poor", "frustrating",
    "noisy", "dirty", "broken", "stressful",
    # plain
    "long", "short", "new", "old", "quiet", "busy", "small", "large", "early", "late",
    "red", "simple", "ordinary", "different", "usual", "modern",
]
CLAUSES = [
    "", "", "", "", " and I would go again", " and everyone was happy",
    " and we laughed all evening", " and I loved every minute", " and it made my day",
    " but I would not go again", " and I wanted to leave", " and nobody enjoyed it",
    " and it ruined the evening", " but the staff were kind", " but the price was fair",
    " but the rest was a mess", " and then we went home", " on a Tuesday",
    " as the guide had said", " in the middle of the city",
]
NEGATIONS = ["", "", "", "", "", "not "]


def pick(options, number):
    return options[int(number % np.uint64(len(options)))]


def sentences():
    numbers = splitmix_u64(SEED, SENTENCES * 6).reshape(SENTENCES, 6)
    seen, out = set(), []
    for row in numbers:
        subject, verb, negation, adverb, adjective, clause = (
            pick(SUBJECTS, row[0]),
            pick(VERBS, row[1]),
            pick(NEGATIONS, row[2]),
            pick(ADVERBS, row[3]),
            pick(ADJECTIVES, row[4]),
            pick(CLAUSES, row[5]),
        )
        text = f"{subject[0].upper()}{subject[1:]} {verb} {negation}{adverb}{adjective}{clause}."
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def main():
    analyzer = SentimentIntensityAnalyzer()
    texts = sentences()
    records = [
        {"text": text, "label": analyzer.polarity_scores(text)["compound"]} for text in texts
    ]
    # Alternate records between the two reward models: disjoint and alike in distribution.
    data = {
        "produced_by": "tests/oracle/sentiment_data.py with vaderSentiment 3.3.2",
        "label": "VADER compound score in [-1, 1]",
        "train": records[0::2],
        "heldout": records[1::2],
    }
    json.dump(data, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
