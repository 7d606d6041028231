//! METEOR, the SuperHF paper's measure of reward hacking: completions for different prompts
//! that score high against each other mean the policy says the same thing whatever it is
//! asked.
//!
//! The score is NLTK 3.10.4's `meteor_score` / `single_meteor_score` with its defaults, the
//! implementation the paper used, reproduced to its last digits (see `tests/meteor.rs`):
//!
//! - both texts are split on whitespace only (punctuation stays attached) and lower-cased;
//! - words are aligned in three stages, each on the words still unmatched: identical words,
//!   then identical Porter stems, then WordNet synonyms of the hypothesis stems equal to a
//!   reference stem. Each stage walks the hypothesis from its end and takes the right-most free
//!   reference word; it does not search for the alignment with the fewest crossings;
//! - the synonym stage runs in one direction, so the score is asymmetric; `similarity`
//!   averages both directions, as the paper does;
//! - with m matches, P = m / |hypothesis|, R = m / |reference|,
//!   Fmean = P R / (alpha P + (1 - alpha) R), and with `chunks` the number of runs matched
//!   contiguously in both texts, score = Fmean (1 - gamma (chunks / m)^beta); 0 without
//!   matches.

mod compact;
pub mod porter;
mod wordnet;

use std::collections::HashMap;

pub use wordnet::{BUNDLED_WORDNET, WordNet, WordNetError};

/// The weights of the score; the defaults are NLTK's, which the paper kept.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeteorConfig {
    /// Weight of precision against recall in the harmonic mean.
    pub alpha: f64,
    /// Shape of the fragmentation penalty.
    pub beta: f64,
    /// Largest share of the score the fragmentation penalty can take.
    pub gamma: f64,
}

impl Default for MeteorConfig {
    fn default() -> Self {
        Self {
            alpha: 0.9,
            beta: 3.0,
            gamma: 0.5,
        }
    }
}

/// How a hypothesis aligned with a reference: the counts the score is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alignment {
    pub hypothesis_words: usize,
    pub reference_words: usize,
    /// Words matched by each stage.
    pub exact: usize,
    pub stem: usize,
    pub synonym: usize,
    /// Runs of matches contiguous in both texts.
    pub chunks: usize,
}

impl Alignment {
    pub fn matches(&self) -> usize {
        self.exact + self.stem + self.synonym
    }

    /// The METEOR score of this alignment.
    pub fn score(&self, config: &MeteorConfig) -> f64 {
        let MeteorConfig { alpha, beta, gamma } = *config;
        // NLTK answers 0 wherever one of the divisions below would divide by zero.
        if self.matches() == 0 {
            return 0.0;
        }
        let matches = self.matches() as f64;
        let precision = matches / self.hypothesis_words as f64;
        let recall = matches / self.reference_words as f64;
        let weighted = alpha * precision + (1.0 - alpha) * recall;
        if weighted == 0.0 {
            return 0.0;
        }
        let fmean = precision * recall / weighted;
        let fragmentation = self.chunks as f64 / matches;
        (1.0 - gamma * fragmentation.powf(beta)) * fmean
    }
}

/// METEOR of `hypothesis` against `reference` with NLTK's default weights; any text is valid
/// input, and a text without words scores 0.
pub fn meteor(hypothesis: &str, reference: &str, wordnet: &WordNet) -> f64 {
    align(hypothesis, reference, wordnet).score(&MeteorConfig::default())
}

/// The symmetric similarity the paper reports: the mean of METEOR in both directions.
pub fn similarity(a: &str, b: &str, wordnet: &WordNet) -> f64 {
    (meteor(a, b, wordnet) + meteor(b, a, wordnet)) / 2.0
}

/// Aligns the words of `hypothesis` with those of `reference` in NLTK's three stages.
pub fn align(hypothesis: &str, reference: &str, wordnet: &WordNet) -> Alignment {
    let hypothesis = words(hypothesis);
    let reference = words(reference);
    let mut alignment = Alignment {
        hypothesis_words: hypothesis.len(),
        reference_words: reference.len(),
        ..Alignment::default()
    };
    let mut pairs = Vec::new();

    let (hypothesis, reference) = match_identical(hypothesis, reference, &mut pairs);
    alignment.exact = pairs.len();

    let (hypothesis, reference) = match_identical(stems(hypothesis), stems(reference), &mut pairs);
    alignment.stem = pairs.len() - alignment.exact;

    match_synonyms(&hypothesis, &reference, wordnet, &mut pairs);
    alignment.synonym = pairs.len() - alignment.exact - alignment.stem;

    alignment.chunks = count_chunks(pairs);
    alignment
}

/// A word with its position in the text it came from.
struct Word {
    position: usize,
    text: String,
}

/// Python's `str.split()` separators: Unicode white space plus the four ASCII information
/// separators U+001C..U+001F, which Rust does not count as white space.
fn is_separator(character: char) -> bool {
    character.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&character)
}

/// Lower-cased word by word, as NLTK lower-cases each token.
fn words(text: &str) -> Vec<Word> {
    text.split(is_separator)
        .filter(|token| !token.is_empty())
        .enumerate()
        .map(|(position, token)| Word {
            position,
            text: token.to_lowercase(),
        })
        .collect()
}

fn stems(words: Vec<Word>) -> Vec<Word> {
    words
        .into_iter()
        .map(|word| Word {
            text: porter::stem(&word.text),
            ..word
        })
        .collect()
}

/// Positions (in `reference`) of each word, ascending, so the right-most is popped first.
fn positions_by_text(reference: &[Word]) -> HashMap<&str, Vec<usize>> {
    let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, word) in reference.iter().enumerate() {
        positions.entry(&word.text).or_default().push(index);
    }
    positions
}

/// Matches equal words, hypothesis from its end, each with the right-most free reference
/// word; returns the words left unmatched on each side, in order.
fn match_identical(
    hypothesis: Vec<Word>,
    reference: Vec<Word>,
    pairs: &mut Vec<(usize, usize)>,
) -> (Vec<Word>, Vec<Word>) {
    let mut positions = positions_by_text(&reference);
    let mut hypothesis_matched = vec![false; hypothesis.len()];
    let mut reference_matched = vec![false; reference.len()];
    for (index, word) in hypothesis.iter().enumerate().rev() {
        if let Some(found) = positions.get_mut(word.text.as_str()).and_then(Vec::pop) {
            hypothesis_matched[index] = true;
            reference_matched[found] = true;
            pairs.push((word.position, reference[found].position));
        }
    }
    (
        unmatched(hypothesis, &hypothesis_matched),
        unmatched(reference, &reference_matched),
    )
}

/// Matches a hypothesis word (a stem by now) with a reference word equal to it or to one of
/// its WordNet synonyms, the right-most such reference word winning. Nothing follows this
/// stage, so the words it leaves unmatched are not needed.
fn match_synonyms(
    hypothesis: &[Word],
    reference: &[Word],
    wordnet: &WordNet,
    pairs: &mut Vec<(usize, usize)>,
) {
    let mut positions = positions_by_text(reference);
    for word in hypothesis.iter().rev() {
        let synonyms = wordnet.synonyms(&word.text);
        let candidates = synonyms.iter().copied().chain([word.text.as_str()]);
        let best = candidates
            .filter_map(|text| Some((*positions.get(text)?.last()?, text)))
            .max_by_key(|&(found, _)| found);
        if let Some((found, text)) = best {
            if let Some(free) = positions.get_mut(text) {
                free.pop();
            }
            pairs.push((word.position, reference[found].position));
        }
    }
}

fn unmatched(words: Vec<Word>, matched: &[bool]) -> Vec<Word> {
    words
        .into_iter()
        .zip(matched)
        .filter(|(_, taken)| !**taken)
        .map(|(word, _)| word)
        .collect()
}

/// The number of runs of (hypothesis, reference) position pairs that advance by one in both
/// texts, taken in hypothesis order.
fn count_chunks(mut pairs: Vec<(usize, usize)>) -> usize {
    pairs.sort_unstable();
    let breaks = pairs
        .windows(2)
        .filter(|pair| pair[1] != (pair[0].0 + 1, pair[0].1 + 1))
        .count();
    if pairs.is_empty() { 0 } else { breaks + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected scores from NLTK 3.10.4, `meteor_score([reference.split()], hypothesis.split())`,
    /// and checked by hand from the formula in the module documentation.
    const TOLERANCE: f64 = 1e-12;

    fn wordnet() -> WordNet {
        WordNet::bundled().expect("the bundled WordNet loads")
    }

    fn assert_score(hypothesis: &str, reference: &str, expected: f64, wordnet: &WordNet) {
        let score = meteor(hypothesis, reference, wordnet);
        assert!(
            (score - expected).abs() < TOLERANCE,
            "{hypothesis:?} against {reference:?}: {score} instead of {expected}"
        );
    }

    #[test]
    fn identical_words_form_one_chunk() {
        // m = 3, P = R = 1, one chunk: 1 - 0.5 (1/3)^3 = 53/54.
        assert_score("The cat sat", "the cat sat", 53.0 / 54.0, &wordnet());
    }

    #[test]
    fn stems_match_after_exact_words() {
        // cats/cat and running/runs share the stems cat and run: m = 2 in one chunk,
        // 1 - 0.5 (1/2)^3 = 0.9375.
        let wordnet = wordnet();
        let alignment = align("cats running", "cat runs", &wordnet);
        assert_eq!(
            (alignment.exact, alignment.stem, alignment.synonym),
            (0, 2, 0)
        );
        assert_score("cats running", "cat runs", 0.9375, &wordnet);
    }

    #[test]
    fn synonyms_of_the_hypothesis_stem_match_reference_stems() {
        // quick -> fast matches; answer -> reply does not, because the reference stem is
        // "repli". m = 2 of 3 in one chunk: 2/3 (1 - 0.5 (1/2)^3) = 0.625.
        let wordnet = wordnet();
        let alignment = align("a quick answer", "a fast reply", &wordnet);
        assert_eq!(
            (alignment.exact, alignment.stem, alignment.synonym),
            (1, 0, 1)
        );
        assert_score("a quick answer", "a fast reply", 0.625, &wordnet);
    }

    #[test]
    fn synonym_stage_runs_in_one_direction() {
        // Morphy takes "is" to "be", whose synsets name "be"; no synset of "be" names "is".
        let wordnet = wordnet();
        assert_score("is", "be", 0.5, &wordnet);
        assert_score("be", "is", 0.0, &wordnet);
        assert!((similarity("is", "be", &wordnet) - 0.25).abs() < TOLERANCE);
    }

    #[test]
    fn no_match_scores_zero() {
        let wordnet = wordnet();
        assert_score("alpha beta", "gamma delta", 0.0, &wordnet);
        assert_score("", "", 0.0, &wordnet);
        assert_score(" \t\n", "word", 0.0, &wordnet);
        assert_score("word", "", 0.0, &wordnet);
    }

    #[test]
    fn nltk_documentation_example() {
        // NLTK's docstring shows 0.6944: m = 12 of 18 and 16 words in 6 chunks gives
        // Fmean = 20/27 and a penalty of 0.5 (1/2)^3, so 25/36.
        let hypothesis = "It is a guide to action which ensures that the military always obeys \
                          the commands of the party";
        let reference = "It is a guide to action that ensures that the military will forever \
                         heed Party commands";
        assert_score(hypothesis, reference, 25.0 / 36.0, &wordnet());
    }

    #[test]
    fn python_whitespace_splits_tokens() {
        let tokens: Vec<String> = words("a\u{1c}b\u{a0}c\u{200b}d")
            .into_iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(tokens, ["a", "b", "c\u{200b}d"]);
    }
}
