//! A text-encoder reward model with its tokenizer: texts in, one score each.

use crate::LabError;
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::reward::{EncoderReward, RewardModel};
use crate::models::tokenizer::Tokenizer;
use burn::tensor::Device;
use tokenizers::TruncationParams;

/// How many texts go through the encoder at once.
const BATCH: usize = 16;

#[derive(Clone)]
pub struct TextReward {
    pub model: EncoderReward,
    /// Frames each text as the encoder was trained to read it (`[CLS] ... [SEP]`), truncated
    /// to what the encoder reads.
    tokenizer: Tokenizer,
    truncated: tokenizers::Tokenizer,
    pad_id: u32,
}

impl std::fmt::Debug for TextReward {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TextReward")
            .field("model", &self.model)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl TextReward {
    /// `max_positions` is the encoder's; a tokenizer that names a shorter truncation length
    /// (as sentence-transformers' exports do) truncates to that.
    pub fn new(
        model: EncoderReward,
        tokenizer: Tokenizer,
        max_positions: usize,
    ) -> Result<Self, LabError> {
        let max_length = (tokenizer.truncation_length())
            .map_or(max_positions, |length| length.min(max_positions));
        let mut truncated = tokenizer.inner().clone();
        truncated
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|error| LabError::Tokenizer(error.to_string()))?;
        let pad_id = tokenizer.pad_id().unwrap_or(0);
        Ok(Self {
            model,
            tokenizer,
            truncated,
            pad_id,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The tokens the encoder reads for `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        let encoding = (self.truncated.encode(text, true))
            .map_err(|error| LabError::Tokenizer(format!("encoding failed: {error}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One score per text, higher meaning better.
    pub async fn score<S: AsRef<str>>(
        &self,
        texts: &[S],
        device: &Device,
    ) -> Result<Vec<f32>, LabError> {
        let mut scores = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let tokens = (chunk.iter())
                .map(|text| self.encode(text.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            let batch = TokenBatch::right_padded(&tokens, self.pad_id, device)?;
            let rewards = self.model.rewards(&batch)?.into_data_async().await?;
            let values = (rewards.convert::<f32>().try_into_vec::<f32>())
                .map_err(|error| LabError::from_failed_read(&format!("{error:?}")))?;
            scores.extend(values);
        }
        Ok(scores)
    }
}
