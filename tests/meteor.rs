//! METEOR against NLTK 3.10.4, the implementation the SuperHF paper used.
//!
//! `tests/fixtures/meteor.json` is the output of `tests/oracle/meteor.py`: NLTK's
//! `meteor_score([reference.split()], hypothesis.split())` in both directions on Bible verse
//! pairs and edge cases, with the number of words each alignment stage matched. The scores
//! must agree to 1e-6 (in practice they agree to rounding); the stage counts exactly.

use std::path::Path;

use serde::Deserialize;
use superlab::superhf::meteor::{Alignment, BUNDLED_WORDNET, WordNet, align, meteor, similarity};

const TOLERANCE: f64 = 1e-6;
/// The fixture must keep exercising every stage, or agreement would prove little.
const MIN_PAIRS: usize = 500;
const MIN_PAIRS_PER_STAGE: usize = 100;

#[derive(Deserialize)]
struct Fixture {
    produced_by: String,
    pairs: Vec<Pair>,
}

#[derive(Deserialize)]
struct Pair {
    source: String,
    hypothesis: String,
    reference: String,
    meteor: f64,
    meteor_reverse: f64,
    alignment: Stages,
    alignment_reverse: Stages,
}

#[derive(Deserialize, Debug, PartialEq, Eq, Clone, Copy)]
struct Stages {
    exact: usize,
    stem: usize,
    synonym: usize,
    chunks: usize,
}

impl From<Alignment> for Stages {
    fn from(alignment: Alignment) -> Self {
        let Alignment {
            exact,
            stem,
            synonym,
            chunks,
            ..
        } = alignment;
        Self {
            exact,
            stem,
            synonym,
            chunks,
        }
    }
}

/// The summary `tests/oracle/wordnet_compact.py` printed when it built `wordnet.bin`.
#[derive(Deserialize)]
struct WordNetSummary {
    bytes: usize,
    counts: WordNetCounts,
}

#[derive(Deserialize)]
struct WordNetCounts {
    synsets: usize,
}

fn read_fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn fixture() -> Fixture {
    read_fixture("meteor.json")
}

/// One direction of one pair, compared with NLTK; `None` when it agrees.
fn disagreement(
    hypothesis: &str,
    reference: &str,
    expected_score: f64,
    expected_stages: Stages,
    wordnet: &WordNet,
) -> (f64, Option<String>) {
    let score = meteor(hypothesis, reference, wordnet);
    let stages = Stages::from(align(hypothesis, reference, wordnet));
    let difference = (score - expected_score).abs();
    let agrees = difference <= TOLERANCE && stages == expected_stages;
    let report = format!(
        "{hypothesis:?} against {reference:?}: {score} vs NLTK {expected_score}, \
         {stages:?} vs NLTK {expected_stages:?}"
    );
    (difference, (!agrees).then_some(report))
}

#[test]
fn scores_and_alignments_agree_with_nltk_in_both_directions() {
    let wordnet = WordNet::bundled().expect("the bundled WordNet loads");
    let fixture = fixture();
    let mut largest_difference: f64 = 0.0;
    let mut failures = Vec::new();
    for pair in &fixture.pairs {
        let directions = [
            (
                &pair.hypothesis,
                &pair.reference,
                pair.meteor,
                pair.alignment,
            ),
            (
                &pair.reference,
                &pair.hypothesis,
                pair.meteor_reverse,
                pair.alignment_reverse,
            ),
        ];
        for (hypothesis, reference, score, stages) in directions {
            let (difference, failure) =
                disagreement(hypothesis, reference, score, stages, &wordnet);
            largest_difference = largest_difference.max(difference);
            failures.extend(failure.map(|report| format!("{}: {report}", pair.source)));
        }
    }
    println!(
        "{} pairs from {}; largest difference from NLTK {largest_difference:e}",
        fixture.pairs.len(),
        fixture.produced_by
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fixture_exercises_every_stage() {
    let pairs = fixture().pairs;
    let with = |stage: fn(&Stages) -> usize| {
        pairs
            .iter()
            .filter(|p| stage(&p.alignment) + stage(&p.alignment_reverse) > 0)
            .count()
    };
    let (stem, synonym) = (with(|s| s.stem), with(|s| s.synonym));
    println!(
        "{} pairs: {stem} with stem matches, {synonym} with synonym matches",
        pairs.len()
    );
    assert!(pairs.len() >= MIN_PAIRS, "only {} pairs", pairs.len());
    assert!(stem >= MIN_PAIRS_PER_STAGE && synonym >= MIN_PAIRS_PER_STAGE);
}

#[test]
fn similarity_is_the_mean_of_both_directions() {
    let wordnet = WordNet::bundled().expect("the bundled WordNet loads");
    for pair in fixture().pairs.iter().take(50) {
        let expected = (pair.meteor + pair.meteor_reverse) / 2.0;
        let found = similarity(&pair.hypothesis, &pair.reference, &wordnet);
        assert!(
            (found - expected).abs() <= TOLERANCE,
            "{}: {found} vs {expected}",
            pair.source
        );
    }
}

#[test]
fn bundled_wordnet_is_the_file_the_generator_describes() {
    let summary: WordNetSummary = read_fixture("wordnet_compact.json");
    let wordnet = WordNet::bundled().expect("the bundled WordNet loads");
    assert_eq!(BUNDLED_WORDNET.len(), summary.bytes);
    assert_eq!(wordnet.synset_count(), summary.counts.synsets);
}
