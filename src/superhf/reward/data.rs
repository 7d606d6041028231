//! Reward-model training data: texts with a scalar label, or preference pairs, read from JSON
//! lines with messages that name the line at fault.
//!
//! A file holds one kind of record:
//!
//! - `{"text": "...", "label": 0.5}`: a text and the reward it should get (regression, or
//!   Bradley-Terry on pairs formed from the labels);
//! - `{"chosen": "...", "rejected": "..."}`, optionally with `"prompt": "..."`: a preference
//!   pair. With a prompt, each side is scored as `prompt + " " + completion`, the text SuperHF
//!   scores.

use crate::LabError;
use crate::rng::SplitMix64;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct LabelledText {
    pub text: String,
    pub label: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    pub chosen: String,
    pub rejected: String,
}

/// The records of one data file.
#[derive(Debug, Clone, PartialEq)]
pub enum RewardData {
    Labelled(Vec<LabelledText>),
    Pairs(Vec<PreferencePair>),
}

enum Record {
    Labelled(LabelledText),
    Pair(PreferencePair),
}

impl Record {
    fn kind(&self) -> &'static str {
        match self {
            Self::Labelled(_) => "a labelled text",
            Self::Pair(_) => "a preference pair",
        }
    }
}

impl RewardData {
    /// Records from JSON lines; blank lines are skipped. `source` names the file in messages.
    pub fn from_jsonl(source: &str, text: &str) -> Result<Self, LabError> {
        let lines = text.lines().enumerate();
        let records = lines
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(number, line)| {
                let at = format!("{source}:{}", number + 1);
                let value = serde_json::from_str(line).map_err(|error| {
                    LabError::Config(format!("{at}: the line is not valid JSON ({error})"))
                })?;
                Ok((at, value))
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        Self::from_records(source, records)
    }

    /// Records from the array `split` of a JSON object (such as the lab's sentiment data,
    /// `{"train": [...], "heldout": [...]}`).
    pub fn from_json_split(source: &str, text: &str, split: &str) -> Result<Self, LabError> {
        let document: Value = serde_json::from_str(text)
            .map_err(|error| LabError::Config(format!("{source} is not valid JSON ({error})")))?;
        let Some(Value::Array(items)) = document.get(split) else {
            let keys = match &document {
                Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
                _ => "none: it is not a JSON object".into(),
            };
            return Err(LabError::Config(format!(
                "{source} has no array named {split:?}; its keys are {keys}"
            )));
        };
        let records = (items.iter().enumerate())
            .map(|(i, value)| (format!("{source}: {split}[{i}]"), value.clone()))
            .collect();
        Self::from_records(source, records)
    }

    fn from_records(source: &str, records: Vec<(String, Value)>) -> Result<Self, LabError> {
        let mut labelled = Vec::new();
        let mut pairs = Vec::new();
        let mut first: Option<(String, &'static str)> = None;
        for (at, value) in records {
            let record = record(&at, value)?;
            match &first {
                Some((first_at, kind)) if *kind != record.kind() => {
                    return Err(LabError::Config(format!(
                        "{at} is {} but {first_at} is {kind}: a data file holds one kind of \
                         record",
                        record.kind()
                    )));
                }
                Some(_) => {}
                None => first = Some((at, record.kind())),
            }
            match record {
                Record::Labelled(item) => labelled.push(item),
                Record::Pair(item) => pairs.push(item),
            }
        }
        match (labelled.is_empty(), pairs.is_empty()) {
            (false, _) => Ok(Self::Labelled(labelled)),
            (true, false) => Ok(Self::Pairs(pairs)),
            (true, true) => Err(LabError::Config(format!(
                "{source} holds no records; each line should be {{\"text\": ..., \"label\": ...}} \
                 or {{\"chosen\": ..., \"rejected\": ...}}"
            ))),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Labelled(items) => items.len(),
            Self::Pairs(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every text, in record order (a pair gives its chosen text, then its rejected one).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Self::Labelled(items) => items.iter().map(|item| item.text.as_str()).collect(),
            Self::Pairs(items) => (items.iter())
                .flat_map(|pair| [pair.chosen.as_str(), pair.rejected.as_str()])
                .collect(),
        }
    }
}

fn record(at: &str, value: Value) -> Result<Record, LabError> {
    let Value::Object(fields) = value else {
        return Err(LabError::Config(format!(
            "{at}: a record must be a JSON object, not {value}"
        )));
    };
    let has = |key: &str| fields.contains_key(key);
    if has("text") || has("label") {
        let text = string_field(at, &fields, "text")?;
        let label = match fields.get("label") {
            Some(Value::Number(number)) => number.as_f64().map(|x| x as f32),
            _ => None,
        };
        let label = label.filter(|x| x.is_finite()).ok_or_else(|| {
            LabError::Config(format!(
                "{at}: \"label\" must be a finite number, found {}",
                fields
                    .get("label")
                    .map_or("nothing".into(), Value::to_string)
            ))
        })?;
        return Ok(Record::Labelled(LabelledText { text, label }));
    }
    if has("chosen") || has("rejected") {
        let chosen = string_field(at, &fields, "chosen")?;
        let rejected = string_field(at, &fields, "rejected")?;
        let joined = |completion: String| match fields.get("prompt") {
            None | Some(Value::Null) => Ok(completion),
            Some(Value::String(prompt)) => Ok(format!("{prompt} {completion}")),
            Some(other) => Err(LabError::Config(format!(
                "{at}: \"prompt\" must be a string, found {other}"
            ))),
        };
        return Ok(Record::Pair(PreferencePair {
            chosen: joined(chosen)?,
            rejected: joined(rejected)?,
        }));
    }
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    Err(LabError::Config(format!(
        "{at}: a record needs \"text\" and \"label\", or \"chosen\" and \"rejected\" (and \
         optionally \"prompt\"); this one has {keys:?}"
    )))
}

fn string_field(at: &str, fields: &Map<String, Value>, key: &str) -> Result<String, LabError> {
    match fields.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(LabError::Config(format!("{at}: \"{key}\" is empty"))),
        Some(other) => Err(LabError::Config(format!(
            "{at}: \"{key}\" must be a string, found {other}"
        ))),
        None => Err(LabError::Config(format!("{at}: \"{key}\" is missing"))),
    }
}

/// Preference pairs from labelled texts: the texts in an order shuffled by `numbers`, taken
/// two at a time, the one with the higher label chosen; a pair of equal labels says nothing
/// and is dropped. Returns the indices of (chosen, rejected) texts.
pub fn pairs_from_labels(labels: &[f32], numbers: &mut SplitMix64) -> Vec<(usize, usize)> {
    let order = shuffled(labels.len(), numbers);
    (order.chunks_exact(2))
        .filter_map(|two| {
            let (a, b) = (two[0], two[1]);
            match labels[a].partial_cmp(&labels[b]) {
                Some(std::cmp::Ordering::Greater) => Some((a, b)),
                Some(std::cmp::Ordering::Less) => Some((b, a)),
                _ => None,
            }
        })
        .collect()
}

/// `0..count` in an order drawn by Fisher-Yates from `numbers`: the same on every target.
pub fn shuffled(count: usize, numbers: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    for i in (1..count).rev() {
        let j = (numbers.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}
