//! The models a run needs: the policy with its tokenizer, the training reward model, and
//! optionally a held-out reward model that only measures.

use super::report::ModelsUsed;
use super::rollout::RewardScorer;
use crate::models::language_model::LanguageModel;
use crate::models::tokenizer::Tokenizer;

pub struct RunModels<'a> {
    /// The initial policy, on any device of the run's backend; SuperHF trains it on the
    /// autodiff device (attaching LoRA adapters unless it carries some already).
    pub policy: LanguageModel,
    pub tokenizer: &'a Tokenizer,
    /// The reward model SuperHF trains against and best-of-N chooses by.
    pub reward: RewardScorer<'a>,
    /// A reward model trained on other preferences: it measures, never steers, so the gap
    /// between the two rewards shows reward hacking.
    pub heldout: Option<RewardScorer<'a>>,
    /// Their ids and file hashes, for the report.
    pub used: ModelsUsed,
}
