//! A text-encoder reward model with its tokenizer: texts in, one score each, framed, truncated
//! and batched as every reward model of the lab reads them ([`TextTokens`]).

use crate::LabError;
use crate::models::encoder::reward::EncoderReward;
use crate::models::tokenizer::Tokenizer;
use crate::superhf::reward::text::{TextTokens, score_texts};
use burn::tensor::Device;

#[derive(Clone)]
pub struct TextReward {
    pub model: EncoderReward,
    /// The checkpoint's tokenizer as it came, for callers that frame and truncate themselves.
    tokenizer: Tokenizer,
    /// Frames each text as the encoder was trained to read it (`[CLS] ... [SEP]`), truncated
    /// to what the encoder reads.
    tokens: TextTokens,
}

impl std::fmt::Debug for TextReward {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TextReward")
            .field("model", &self.model)
            .field("max_tokens", &self.tokens.max_tokens())
            .field("pad_id", &self.tokens.pad_id())
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
        let max_tokens = (tokenizer.truncation_length())
            .map_or(max_positions, |length| length.min(max_positions));
        let tokens = TextTokens::new(&tokenizer, max_tokens)?;
        Ok(Self {
            model,
            tokenizer,
            tokens,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The tokens the encoder reads for `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        self.tokens.encode(text)
    }

    /// One score per text, higher meaning better.
    pub async fn score<S: AsRef<str>>(
        &self,
        texts: &[S],
        device: &Device,
    ) -> Result<Vec<f32>, LabError> {
        score_texts(&self.model, &self.tokens, texts, device).await
    }
}
