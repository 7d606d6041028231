//! The settings of a SuperHF run and of its baselines (best-of-N, PPO), with the reference
//! defaults and the named presets.
//!
//! `SuperHfConfig::default()` and `PpoRunConfig::default()` hold the reference's settings as
//! `METHODS.md` lists them. The presets shorten them to a run a small model finishes in minutes
//! (see [`Preset`]).

use super::ppo::PpoConfig;
use super::prompts::PromptSet;
use crate::LabError;
use crate::models::generate::SamplingConfig;
use crate::models::lora::LoraConfig;
use serde::{Deserialize, Serialize};

/// How many new tokens each prompt's completions may have: a budget drawn per prompt,
/// uniformly from `min..=max` (equal ends give a fixed budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBudget {
    pub min: usize,
    pub max: usize,
}

impl TokenBudget {
    pub const fn fixed(tokens: usize) -> Self {
        Self {
            min: tokens,
            max: tokens,
        }
    }
}

/// Sampling and scoring: what SuperHF, best-of-N and PPO share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutConfig {
    pub prompts_per_step: usize,
    pub completions_per_prompt: usize,
    pub temperature: f32,
    pub top_p: f32,
    /// 0 keeps every token.
    pub top_k: usize,
    pub new_tokens: TokenBudget,
    /// Frames each prompt as a turn of a conversation (`\n\nHuman: PROMPT\n\nAssistant:`), for
    /// chat models; plain text otherwise.
    pub chat_frame: bool,
    /// A completion is cut at the first of these (which starts a new turn); the rest is
    /// dropped. `\nHuman:` also finds `\n\nHuman:`, whose leading newline the trimming removes.
    pub turn_markers: Vec<String>,
    /// Subtracts `length_penalty * ln(characters)` from each training reward before the best
    /// completions are chosen; 0 turns it off.
    pub length_penalty: f64,
    /// How many texts a reward model scores at once (memory, not results).
    pub score_batch_size: usize,
}

impl Default for RolloutConfig {
    /// The reference's sampling: 2 prompts, 16 completions each, temperature 1, top-p 0.95,
    /// 64 new tokens, in the chat frame, no length penalty.
    fn default() -> Self {
        Self {
            prompts_per_step: 2,
            completions_per_prompt: 16,
            temperature: 1.0,
            top_p: 0.95,
            top_k: 0,
            new_tokens: TokenBudget::fixed(64),
            chat_frame: true,
            turn_markers: vec!["\nHuman:".into(), "\nAssistant:".into()],
            length_penalty: 0.0,
            score_batch_size: 16,
        }
    }
}

impl RolloutConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        if self.prompts_per_step == 0 || self.completions_per_prompt == 0 {
            return Err(LabError::Config(
                "prompts per step and completions per prompt must be at least 1".into(),
            ));
        }
        let budget = self.new_tokens;
        if budget.min == 0 || budget.min > budget.max {
            return Err(LabError::Config(format!(
                "the new-token budget {}..{} must be a range of at least 1 token, min <= max",
                budget.min, budget.max
            )));
        }
        if self.score_batch_size == 0 {
            return Err(LabError::Config(
                "the scoring batch size must be at least 1".into(),
            ));
        }
        if !(self.length_penalty.is_finite() && self.length_penalty >= 0.0) {
            return Err(LabError::Config(format!(
                "the length penalty is {}; it must be 0 or positive",
                self.length_penalty
            )));
        }
        self.sampling(budget.max, 0).validate()
    }

    /// The sampling settings of one batch of completions.
    pub fn sampling(&self, max_new_tokens: usize, seed: u64) -> SamplingConfig {
        SamplingConfig {
            max_new_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            stop_tokens: Vec::new(),
            seed,
        }
    }
}

/// What SuperHF fine-tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum FineTuning {
    /// Low-rank adapters on the frozen base; the reference is the base with them switched off.
    Lora(LoraConfig),
    /// Every parameter; the reference is a frozen copy of the initial policy.
    Full,
}

impl Default for FineTuning {
    fn default() -> Self {
        Self::Lora(LoraConfig::default())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SuperHfConfig {
    /// The preset these settings started from, for the report.
    pub preset: Option<String>,
    pub prompts: PromptSet,
    pub rollout: RolloutConfig,
    /// The best completions kept per prompt (K).
    pub keep_top: usize,
    /// The weight of `KL(p_ref || p_policy)` in the loss. The KL is the mean over completion
    /// positions of the minibatch (the reference sums per-example means over the minibatch,
    /// which makes its coefficient grow with the minibatch size).
    pub kl_coefficient: f64,
    /// The peak learning rate of AdamW, reached after the warm-up and decayed along a cosine
    /// to 0 at the last optimiser step.
    pub learning_rate: f64,
    /// Optimiser steps of linear warm-up from 0.
    pub warmup_steps: usize,
    /// AdamW's decoupled weight decay (PyTorch's default 0.01).
    pub weight_decay: f64,
    /// Kept completions per optimiser step.
    pub minibatch_size: usize,
    pub fine_tuning: FineTuning,
    /// SuperHF iterations: sample, score, filter, fine-tune.
    pub steps: usize,
    /// Seeds the prompt order, the sampling, new adapters and their dropout.
    pub seed: u64,
}

impl Default for SuperHfConfig {
    /// The reference's settings (METHODS.md): K = 1, KL coefficient 0.35, AdamW at 2e-5 with a
    /// cosine schedule and 32 warm-up steps, minibatches of 8, LoRA rank 4, alpha 32, dropout
    /// 0.05 on the query and value projections.
    fn default() -> Self {
        Self {
            preset: None,
            prompts: PromptSet::Chat,
            rollout: RolloutConfig::default(),
            keep_top: 1,
            kl_coefficient: 0.35,
            learning_rate: 2e-5,
            warmup_steps: 32,
            weight_decay: 0.01,
            minibatch_size: 8,
            fine_tuning: FineTuning::default(),
            steps: 100,
            seed: 0,
        }
    }
}

impl SuperHfConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        self.rollout.validate()?;
        self.prompts.validate()?;
        if self.keep_top == 0 || self.keep_top > self.rollout.completions_per_prompt {
            return Err(LabError::Config(format!(
                "keeping the top {} of {} completions per prompt: keep at least 1 and at most \
                 all of them",
                self.keep_top, self.rollout.completions_per_prompt
            )));
        }
        if self.steps == 0 || self.minibatch_size == 0 {
            return Err(LabError::Config(
                "steps and the minibatch size must be at least 1".into(),
            ));
        }
        let positive = [
            ("learning rate", self.learning_rate, false),
            ("KL coefficient", self.kl_coefficient, true),
            ("weight decay", self.weight_decay, true),
        ];
        for (name, value, zero_allowed) in positive {
            if !value.is_finite() || value < 0.0 || (value == 0.0 && !zero_allowed) {
                return Err(LabError::Config(format!(
                    "the {name} is {value}; it must be {}",
                    if zero_allowed {
                        "0 or positive"
                    } else {
                        "positive"
                    }
                )));
            }
        }
        if let FineTuning::Lora(lora) = &self.fine_tuning {
            lora.validate()?;
        }
        Ok(())
    }

    /// Optimiser steps per SuperHF step when no completion is dropped: the schedule's length
    /// is counted in these.
    pub fn optimizer_steps_per_step(&self) -> usize {
        (self.rollout.prompts_per_step * self.keep_top).div_ceil(self.minibatch_size)
    }
}

/// Best-of-N: sample N completions per prompt and answer with the one the training reward
/// model prefers. Nothing is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BestOfNConfig {
    pub preset: Option<String>,
    pub prompts: PromptSet,
    /// `completions_per_prompt` is N.
    pub rollout: RolloutConfig,
    /// Batches of `prompts_per_step` prompts.
    pub steps: usize,
    pub seed: u64,
}

impl Default for BestOfNConfig {
    fn default() -> Self {
        SuperHfConfig::default().into()
    }
}

impl From<SuperHfConfig> for BestOfNConfig {
    /// The same prompts, sampling and length.
    fn from(config: SuperHfConfig) -> Self {
        Self {
            preset: config.preset,
            prompts: config.prompts,
            rollout: config.rollout,
            steps: config.steps,
            seed: config.seed,
        }
    }
}

impl BestOfNConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        self.rollout.validate()?;
        self.prompts.validate()?;
        if self.steps == 0 {
            return Err(LabError::Config("steps must be at least 1".into()));
        }
        Ok(())
    }
}

/// RLHF with PPO on the same prompts, sampling and reward models as SuperHF.
///
/// A batch of rollouts is `prompts_per_step x completions_per_prompt` completions as the
/// rollout draws them (2 x 8 = 16 by default, PPO's batch of 16): the same prompts per step as
/// SuperHF, so that with the same seed and prompt list the two runs see the same prompts at the
/// same steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoRunConfig {
    pub preset: Option<String>,
    pub prompts: PromptSet,
    pub rollout: RolloutConfig,
    pub ppo: PpoConfig,
    /// LoRA (the value head trains with the adapter) or full fine-tuning.
    pub fine_tuning: FineTuning,
    /// PPO steps: sample a batch, score it, one PPO update of `ppo.epochs` passes.
    pub steps: usize,
    /// Seeds the prompt order, the sampling, new adapters, the value head and the minibatch
    /// order.
    pub seed: u64,
}

/// Completions per prompt that make PPO's batch of 16 with the reference's 2 prompts per step.
pub const PPO_COMPLETIONS_PER_PROMPT: usize = 8;

impl Default for PpoRunConfig {
    /// The reference's PPO (METHODS.md): KL coefficient 0.2, fixed; GAE gamma 1, lambda 0.95;
    /// clip 0.2; value coefficient 0.1; 4 epochs per batch of 16; Adam at 1e-5; whitened
    /// scores; SuperHF's sampling and LoRA settings.
    fn default() -> Self {
        let superhf = SuperHfConfig::default();
        Self {
            preset: None,
            prompts: superhf.prompts,
            rollout: RolloutConfig {
                completions_per_prompt: PPO_COMPLETIONS_PER_PROMPT,
                ..superhf.rollout
            },
            ppo: PpoConfig::default(),
            fine_tuning: superhf.fine_tuning,
            steps: superhf.steps,
            seed: superhf.seed,
        }
    }
}

impl PpoRunConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        self.rollout.validate()?;
        self.prompts.validate()?;
        self.ppo.validate()?;
        if self.steps == 0 {
            return Err(LabError::Config("steps must be at least 1".into()));
        }
        if let FineTuning::Lora(lora) = &self.fine_tuning {
            lora.validate()?;
        }
        Ok(())
    }

    /// Rollouts per batch when none is dropped.
    pub fn batch_size(&self) -> usize {
        self.rollout.prompts_per_step * self.rollout.completions_per_prompt
    }
}

/// The named starting points of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The reference's settings for a small chat model: chat prompts in the chat frame, 2
    /// prompts x 16 completions of 64 tokens per step, K = 1, KL 0.35, LoRA 4/32/0.05. The run
    /// is shortened to 32 steps, so the warm-up is 4 optimiser steps (of 32, as the reference
    /// warms up over a small share of its run) and the learning rate 2e-4, ten times the
    /// reference's, so that the adapter moves visibly within the shorter run.
    Paper,
    /// Short story openings continued as plain text by 24 to 32 tokens, for a sentiment reward
    /// model; otherwise as `Paper`.
    Sentiment,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Paper, Preset::Sentiment];

    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Sentiment => "sentiment",
        }
    }

    /// PPO's settings on this preset's prompts, sampling, LoRA and length: the batch is the
    /// preset's 2 prompts x 8 completions, and the learning rate 1e-4, ten times the
    /// reference's 1e-5 as the SuperHF preset scales its rate; otherwise PPO's defaults.
    pub fn ppo_config(self) -> PpoRunConfig {
        let superhf = self.config();
        let reference = PpoRunConfig::default();
        PpoRunConfig {
            preset: superhf.preset,
            prompts: superhf.prompts,
            rollout: RolloutConfig {
                completions_per_prompt: reference.rollout.completions_per_prompt,
                ..superhf.rollout
            },
            ppo: PpoConfig {
                learning_rate: 10.0 * reference.ppo.learning_rate,
                ..reference.ppo
            },
            fine_tuning: superhf.fine_tuning,
            steps: superhf.steps,
            seed: superhf.seed,
        }
    }

    pub fn config(self) -> SuperHfConfig {
        let paper = SuperHfConfig {
            preset: Some(self.name().into()),
            steps: 32,
            warmup_steps: 4,
            learning_rate: 2e-4,
            ..SuperHfConfig::default()
        };
        match self {
            Self::Paper => paper,
            Self::Sentiment => SuperHfConfig {
                prompts: PromptSet::Sentiment,
                rollout: RolloutConfig {
                    new_tokens: TokenBudget { min: 24, max: 32 },
                    chat_frame: false,
                    ..paper.rollout.clone()
                },
                ..paper
            },
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = LabError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        (Self::ALL.into_iter())
            .find(|preset| preset.name() == text)
            .ok_or_else(|| {
                LabError::Config(format!(
                    "unknown preset '{text}': expected {}",
                    Self::ALL.map(Preset::name).join(" or ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_named() {
        for preset in Preset::ALL {
            let config = preset.config();
            config.validate().unwrap();
            BestOfNConfig::from(config.clone()).validate().unwrap();
            assert_eq!(preset.name().parse::<Preset>().unwrap(), preset);
            assert_eq!(config.preset.as_deref(), Some(preset.name()));
        }
        let sentiment = Preset::Sentiment.config();
        assert_eq!(
            sentiment.rollout.new_tokens,
            TokenBudget { min: 24, max: 32 }
        );
        assert!(!sentiment.rollout.chat_frame && Preset::Paper.config().rollout.chat_frame);
        assert!("fast".parse::<Preset>().is_err());
    }

    #[test]
    fn ppo_presets_share_superhf_sampling_with_ppo_settings() {
        for preset in Preset::ALL {
            let (ppo, superhf) = (preset.ppo_config(), preset.config());
            ppo.validate().unwrap();
            assert_eq!(ppo.preset.as_deref(), Some(preset.name()));
            assert_eq!((&ppo.prompts, ppo.steps), (&superhf.prompts, superhf.steps));
            assert_eq!(ppo.fine_tuning, superhf.fine_tuning);
            let rollout = RolloutConfig {
                completions_per_prompt: superhf.rollout.completions_per_prompt,
                ..ppo.rollout.clone()
            };
            assert_eq!(rollout, superhf.rollout);
            assert_eq!(ppo.batch_size(), 16);
            let settings = &ppo.ppo;
            assert_eq!(
                (settings.kl_coefficient, settings.adaptive_kl),
                (0.2, false)
            );
            assert_eq!((settings.gamma, settings.lambda), (1.0, 0.95));
            assert_eq!(
                (settings.clip_ratio, settings.value_coefficient),
                (0.2, 0.1)
            );
            assert_eq!(settings.epochs, 4);
            assert!(settings.whiten_scores);
            assert!((settings.learning_rate - 1e-4).abs() < 1e-12);
        }
        assert_eq!(PpoRunConfig::default().ppo.learning_rate, 1e-5);
        let partial: PpoRunConfig = serde_json::from_str(r#"{"steps": 3}"#).unwrap();
        assert_eq!((partial.steps, partial.batch_size()), (3, 16));
    }

    #[test]
    fn the_defaults_are_the_reference_settings() {
        let config = SuperHfConfig::default();
        assert_eq!(config.rollout.prompts_per_step, 2);
        assert_eq!(config.rollout.completions_per_prompt, 16);
        assert_eq!(config.rollout.new_tokens, TokenBudget::fixed(64));
        assert_eq!(
            (config.rollout.temperature, config.rollout.top_p),
            (1.0, 0.95)
        );
        assert_eq!((config.keep_top, config.kl_coefficient), (1, 0.35));
        assert_eq!((config.learning_rate, config.warmup_steps), (2e-5, 32));
        assert_eq!(config.fine_tuning, FineTuning::Lora(LoraConfig::default()));
        let serialised = serde_json::to_string(&config).unwrap();
        let back: SuperHfConfig = serde_json::from_str(&serialised).unwrap();
        assert_eq!(back, config);
        let partial: SuperHfConfig = serde_json::from_str(r#"{"steps": 3}"#).unwrap();
        assert_eq!(partial.steps, 3);
    }
}
