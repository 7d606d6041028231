//! The prompts a run draws from: the bundled lists or the user's own, in an order shuffled by
//! the run's seed, and the chat frame that turns a prompt into a conversation turn.

use crate::LabError;
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// Questions and requests for a chat model, one per line.
const CHAT: &str = include_str!("chat.txt");
/// Openings of short texts for a sentiment reward model to judge their continuations.
const SENTIMENT: &str = include_str!("sentiment.txt");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptSet {
    #[default]
    Chat,
    Sentiment,
    Custom(Vec<String>),
}

impl PromptSet {
    pub fn prompts(&self) -> Vec<String> {
        let lines = |text: &str| -> Vec<String> {
            (text.lines().map(str::trim))
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect()
        };
        match self {
            Self::Chat => lines(CHAT),
            Self::Sentiment => lines(SENTIMENT),
            Self::Custom(prompts) => prompts.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), LabError> {
        let prompts = self.prompts();
        if prompts.is_empty() || prompts.iter().any(|prompt| prompt.trim().is_empty()) {
            return Err(LabError::Config(
                "the prompt list is empty or holds an empty prompt".into(),
            ));
        }
        Ok(())
    }
}

/// The reference's chat frame: the prompt as the human's turn, the model to answer as the
/// assistant.
pub fn chat_frame(prompt: &str) -> String {
    format!("\n\nHuman: {prompt}\n\nAssistant:")
}

/// Prompts in a shuffled order, reshuffled each time the list is used up, so every prompt is
/// seen once before any is seen twice.
pub struct PromptOrder {
    prompts: Vec<String>,
    order: Vec<usize>,
    next: usize,
    numbers: SplitMix64,
}

impl PromptOrder {
    pub fn new(prompts: Vec<String>, seed: u64) -> Self {
        let mut order = Self {
            order: (0..prompts.len()).collect(),
            prompts,
            next: 0,
            numbers: SplitMix64::for_name(seed, "prompt order"),
        };
        order.shuffle();
        order
    }

    /// Fisher-Yates with the run's generator.
    fn shuffle(&mut self) {
        for i in (1..self.order.len()).rev() {
            let j = (self.numbers.next_u64() % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
        self.next = 0;
    }

    /// The next `count` prompts.
    pub fn take(&mut self, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                if self.next == self.order.len() {
                    self.shuffle();
                }
                self.next += 1;
                self.prompts[self.order[self.next - 1]].clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_comes_once_before_any_comes_twice() {
        let prompts: Vec<String> = (0..7).map(|i| format!("prompt {i}")).collect();
        let mut order = PromptOrder::new(prompts.clone(), 3);
        let mut first = order.take(7);
        let second = order.take(7);
        assert_ne!(first, prompts, "shuffled");
        first.sort();
        assert_eq!(first, prompts);
        let mut second_sorted = second.clone();
        second_sorted.sort();
        assert_eq!(second_sorted, prompts);
        assert_eq!(PromptOrder::new(prompts, 3).take(14)[7..], second[..]);
    }

    #[test]
    fn bundled_lists_are_valid() {
        for set in [PromptSet::Chat, PromptSet::Sentiment] {
            set.validate().unwrap();
            assert!(set.prompts().len() >= 50);
        }
        assert!(PromptSet::Custom(vec![" ".into()]).validate().is_err());
    }
}
