//! The slice of WordNet 3.0 that METEOR's synonym stage reads, and the look-up NLTK's
//! `wordnet.synsets(word)` performs: WordNet's morphological reduction ("morphy": exception
//! lists, else one round of suffix rules) in each part of speech, then every synset of every
//! form found, then the lemma names of those synsets.

use std::collections::BTreeSet;

use super::compact::{IdLists, Reader};

/// The compact data built from Debian's `wordnet-base` by `tests/oracle/wordnet_compact.py`.
/// WordNet 3.0 Copyright 2006 by Princeton University; licence in `WORDNET-LICENSE`.
pub const BUNDLED_WORDNET: &[u8] = include_bytes!("wordnet.bin");

/// The compact WordNet file is damaged or is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt WordNet data at byte {offset}: {problem}")]
pub struct WordNetError {
    pub offset: usize,
    pub problem: String,
}

/// One round of morphy's suffix rules per part of speech, `(ending, replacement)`, in
/// WordNet's order (morphy(7WN)); adverbs have none.
const NOUN_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("ses", "s"),
    ("ves", "f"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
];
const VERB_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
];
const ADJECTIVE_RULES: &[(&str, &str)] = &[("er", ""), ("est", ""), ("er", "e"), ("est", "e")];
const ADVERB_RULES: &[(&str, &str)] = &[];

/// Noun, verb, adjective, adverb: the order of the file's sections.
const SUFFIX_RULES: [&[(&str, &str)]; 4] = [NOUN_RULES, VERB_RULES, ADJECTIVE_RULES, ADVERB_RULES];

/// What one part of speech contributes: its index and its exception list.
#[derive(Debug, Clone)]
struct PartOfSpeech {
    /// lemma string id -> synset ids.
    synsets_of_lemma: IdLists,
    /// inflected form string id -> base form string ids.
    exceptions: IdLists,
    suffix_rules: &'static [(&'static str, &'static str)],
}

/// WordNet reduced to what METEOR needs: which lower-case single-word lemma names share a
/// synset with a word. Loading takes tens of milliseconds: build it once and share it.
#[derive(Debug, Clone)]
pub struct WordNet {
    /// Every string the tables refer to, sorted, so an id is a position.
    strings: Vec<Box<str>>,
    /// synset id -> string ids of its names.
    synset_names: IdLists,
    parts_of_speech: Vec<PartOfSpeech>,
}

impl WordNet {
    /// Reads the compact format; fails with the byte offset of the first inconsistency.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WordNetError> {
        let mut reader = Reader::new(bytes);
        reader.header()?;
        let strings = reader.strings()?;
        let synset_names = reader.dense_lists(strings.len())?;
        let mut parts_of_speech = Vec::with_capacity(SUFFIX_RULES.len());
        for suffix_rules in SUFFIX_RULES {
            parts_of_speech.push(PartOfSpeech {
                synsets_of_lemma: reader.keyed_lists(strings.len(), synset_names.len())?,
                exceptions: reader.keyed_lists(strings.len(), strings.len())?,
                suffix_rules,
            });
        }
        reader.finish()?;
        Ok(Self {
            strings,
            synset_names,
            parts_of_speech,
        })
    }

    /// The copy compiled into the crate.
    pub fn bundled() -> Result<Self, WordNetError> {
        Self::from_bytes(BUNDLED_WORDNET)
    }

    /// Number of synsets kept (those with at least one comparable name).
    pub fn synset_count(&self) -> usize {
        self.synset_names.len()
    }

    /// The names NLTK's METEOR compares for `word`: the single-word lemma names of every
    /// synset `wordnet.synsets(word)` returns, less those with capitals (METEOR compares with
    /// lower-cased words, so they never match). `word` is lower-cased first, as NLTK does.
    pub fn synonyms(&self, word: &str) -> BTreeSet<&str> {
        let word = word.to_lowercase();
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for part in &self.parts_of_speech {
            for lemma in self.morphy_forms(&word, part) {
                for &synset in part.synsets_of_lemma.get(lemma).unwrap_or_default() {
                    let ids = self.synset_names.get(synset).unwrap_or_default();
                    let found = ids.iter().filter_map(|&id| self.strings.get(id as usize));
                    names.extend(found.map(|name| &**name));
                }
            }
        }
        names
    }

    /// String ids of the forms morphy tries for `word` in one part of speech: the word itself
    /// and either its exception-list bases or, for a word not in that list, the result of each
    /// matching suffix rule. Forms absent from the strings cannot have synsets and are skipped.
    fn morphy_forms(&self, word: &str, part: &PartOfSpeech) -> Vec<u32> {
        let word_id = self.id_of(word);
        let mut forms: Vec<u32> = word_id.into_iter().collect();
        match word_id.and_then(|id| part.exceptions.get(id)) {
            Some(bases) => forms.extend_from_slice(bases),
            None => forms.extend(
                part.suffix_rules
                    .iter()
                    .filter_map(|(ending, replacement)| {
                        let stem = word.strip_suffix(ending)?;
                        self.id_of(&format!("{stem}{replacement}"))
                    }),
            ),
        }
        forms.sort_unstable();
        forms.dedup();
        forms
    }

    fn id_of(&self, text: &str) -> Option<u32> {
        let position = self
            .strings
            .binary_search_by(|probe| (**probe).cmp(text))
            .ok()?;
        u32::try_from(position).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built file: strings `be`, `dog`, `is`; synset 0 names `be`, synset 1 `dog`;
    /// the noun `dog` has synset 1, the verb `be` synset 0, and `is` is listed as an
    /// inflection of the verb `be`.
    fn tiny_file() -> Vec<u8> {
        let mut bytes = b"WNMETEOR".to_vec();
        bytes.push(1);
        bytes.extend([
            3, 0, 2, b'b', b'e', 0, 3, b'd', b'o', b'g', 0, 2, b'i', b's',
        ]);
        bytes.extend([2, 1, 0, 1, 1]);
        bytes.extend([1, 1, 1, 1, 0]);
        bytes.extend([1, 0, 1, 0, 1, 2, 1, 0]);
        bytes.extend([0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn morphy_uses_suffix_rules_and_exception_lists() {
        let wordnet = WordNet::from_bytes(&tiny_file()).expect("the hand-built file loads");
        assert_eq!(
            wordnet.synonyms("dogs").into_iter().collect::<Vec<_>>(),
            ["dog"]
        );
        assert_eq!(
            wordnet.synonyms("Is").into_iter().collect::<Vec<_>>(),
            ["be"]
        );
        assert!(wordnet.synonyms("cat").is_empty());
        assert!(wordnet.synonyms("").is_empty());
    }

    #[test]
    fn damaged_files_give_errors_not_panics() {
        let file = tiny_file();
        for length in 0..file.len() {
            assert!(
                WordNet::from_bytes(&file[..length]).is_err(),
                "prefix of {length} bytes"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(WordNet::from_bytes(&longer).is_err());
        for position in 0..file.len() {
            for value in [0, 1, 2, 0x7f, 0x80, 0xff] {
                let mut damaged = file.clone();
                damaged[position] = value;
                if let Ok(wordnet) = WordNet::from_bytes(&damaged) {
                    let _ = wordnet.synonyms("dogs");
                }
            }
        }
    }

    #[test]
    fn bundled_file_loads_and_rejects_truncation() {
        let wordnet = WordNet::bundled().expect("the bundled WordNet loads");
        assert!(wordnet.synonyms("quick").contains("fast"));
        let error = WordNet::from_bytes(&BUNDLED_WORDNET[..BUNDLED_WORDNET.len() / 2]);
        assert!(error.is_err());
        let message = WordNet::from_bytes(b"not wordnet").unwrap_err().to_string();
        assert!(message.starts_with("corrupt WordNet data"), "{message}");
    }
}
