//! Text in, rewards out: a reward model with the tokenizer that feeds it, truncating each text
//! to what the model reads and batching texts with right padding.

use super::data::RewardData;
use super::problem::{TokenisedData, TokenisedItems};
use crate::LabError;
use crate::device::read;
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::reward::RewardModel;
use crate::models::tokenizer::Tokenizer;
use burn::tensor::Device;
use tokenizers::TruncationParams;

/// Texts per forward pass when scoring many.
pub const SCORE_BATCH: usize = 32;

/// A tokenizer that frames each text as its model expects (`[CLS] ... [SEP]` for BERT, a
/// leading BOS for some decoders) and truncates it on the right to `max_tokens`, special
/// tokens included, as transformers' pipelines do.
#[derive(Clone)]
pub struct TextTokens {
    tokenizer: Tokenizer,
    max_tokens: usize,
    pad_id: u32,
}

impl TextTokens {
    pub fn new(tokenizer: &Tokenizer, max_tokens: usize) -> Result<Self, LabError> {
        if max_tokens < 3 {
            return Err(LabError::Config(format!(
                "a reward model reading at most {max_tokens} tokens per text cannot read a text"
            )));
        }
        let mut inner = tokenizer.inner().clone();
        let truncation = TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        };
        inner
            .with_truncation(Some(truncation))
            .map_err(|error| LabError::Tokenizer(error.to_string()))?;
        let special = tokenizer.special_tokens();
        // Padding positions are masked out (encoders) or come after the text (causal models),
        // so any id in the vocabulary pads; the tokenizer's own when it names one.
        let pad_id = special.pad.or(special.eos).unwrap_or(0);
        Ok(Self {
            tokenizer: Tokenizer::from_parts(inner, special),
            max_tokens,
            pad_id,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        let ids = self.tokenizer.encode(text, true)?;
        if ids.is_empty() {
            return Err(LabError::Tokenizer(format!(
                "the text {text:?} gives no tokens, so it has no reward"
            )));
        }
        Ok(ids)
    }

    /// Shapes: the result is `[texts, longest]`, right-padded.
    pub fn batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        device: &Device,
    ) -> Result<TokenBatch, LabError> {
        let sequences = (texts.iter())
            .map(|text| self.encode(text.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        TokenBatch::right_padded(&sequences, self.pad_id, device)
    }

    /// Training data as token ids.
    pub fn tokenise(&self, data: &RewardData) -> Result<TokenisedData, LabError> {
        let encode_all = |texts: Vec<&str>| -> Result<Vec<Vec<u32>>, LabError> {
            texts.into_iter().map(|text| self.encode(text)).collect()
        };
        let items = match data {
            RewardData::Labelled(items) => TokenisedItems::Labelled {
                sequences: encode_all(items.iter().map(|item| item.text.as_str()).collect())?,
                labels: items.iter().map(|item| item.label).collect(),
            },
            RewardData::Pairs(pairs) => TokenisedItems::Pairs {
                chosen: encode_all(pairs.iter().map(|pair| pair.chosen.as_str()).collect())?,
                rejected: encode_all(pairs.iter().map(|pair| pair.rejected.as_str()).collect())?,
            },
        };
        Ok(TokenisedData {
            pad_id: self.pad_id,
            items,
        })
    }
}

/// A reward model with its tokenizer.
pub struct TextReward<M> {
    pub model: M,
    pub tokens: TextTokens,
}

impl<M: RewardModel> TextReward<M> {
    /// One reward per text, scored in batches of [`SCORE_BATCH`] on `device` (the model's).
    pub async fn score<S: AsRef<str>>(
        &self,
        texts: &[S],
        device: &Device,
    ) -> Result<Vec<f32>, LabError> {
        score_texts(&self.model, &self.tokens, texts, device).await
    }
}

/// One reward per text under `model`, read through `tokens`, in batches of [`SCORE_BATCH`] on
/// `device` (the model's).
pub async fn score_texts<S: AsRef<str>>(
    model: &impl RewardModel,
    tokens: &TextTokens,
    texts: &[S],
    device: &Device,
) -> Result<Vec<f32>, LabError> {
    let mut rewards = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(SCORE_BATCH) {
        let batch = tokens.batch(chunk, device)?;
        rewards.extend(read(model.rewards(&batch)?).await?);
    }
    Ok(rewards)
}
