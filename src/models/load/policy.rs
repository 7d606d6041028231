//! A causal language model with its tokenizer: text in, text out, with progress after every
//! decoding step and the option to stop there.

use super::chat::{ChatFormat, TURN_END};
use crate::LabError;
use crate::models::generate::{self, Completion, SamplingConfig};
use crate::models::language_model::LanguageModel;
use crate::models::tokenizer::Tokenizer;
use crate::progress::Control;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use web_time::Instant;

/// What to generate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationRequest {
    pub prompt: String,
    /// Frames the prompt as a user's message in the model's chat template.
    pub chat: bool,
    /// Texts that end the generation where they first appear in the new text; the text
    /// returned stops before them.
    pub stop_strings: Vec<String>,
    /// The model's end-of-text token (and, in a chat, the end of a turn) always stop a
    /// sequence, besides the `stop_tokens` given here.
    #[serde(flatten)]
    pub sampling: SamplingConfig,
}

/// The state of a generation after one decoding step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationStep {
    pub step: usize,
    pub total: usize,
    pub tokens: Vec<u32>,
    /// The new tokens' text so far, without special tokens.
    pub text: String,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The text the model continued: the prompt, framed when it was a chat.
    pub prompt: String,
    pub prompt_tokens: Vec<u32>,
    /// The new tokens, ending with the stop token when one was chosen.
    pub tokens: Vec<u32>,
    /// Their log-probabilities under the model at temperature 1.
    pub log_probs: Vec<f32>,
    /// The new tokens' text, without special tokens.
    pub text: String,
    /// Whether a stop token or a stop string ended it.
    pub ended: bool,
    /// Whether the caller stopped it before the end.
    pub interrupted: bool,
    pub elapsed_ms: f64,
}

/// A language model ready to continue text.
#[derive(Clone)]
pub struct Policy {
    pub model: LanguageModel,
    pub tokenizer: Tokenizer,
    /// Its chat template, when the files carry one the lab renders.
    pub chat: Option<ChatFormat>,
    /// Why there is no chat template, for the message when a chat is asked for.
    pub chat_unavailable: Option<String>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Policy")
            .field("model", &self.model)
            .field("vocab", &self.tokenizer.vocab_size())
            .field("chat", &self.chat)
            .finish()
    }
}

impl Policy {
    /// The prompt's text and tokens as the model sees them.
    pub fn prompt(&self, request: &GenerationRequest) -> Result<(String, Vec<u32>), LabError> {
        if request.prompt.is_empty() {
            return Err(LabError::Config(
                "the prompt is empty: give some text to continue".into(),
            ));
        }
        if !request.chat {
            let tokens = self.tokenizer.encode(&request.prompt, true)?;
            return Ok((request.prompt.clone(), tokens));
        }
        let Some(chat) = &self.chat else {
            let why = self.chat_unavailable.as_deref().unwrap_or_default();
            return Err(LabError::Tokenizer(format!(
                "this model has no chat template the lab can use ({why}); generate without chat \
                 framing"
            )));
        };
        let text = chat.render(&request.prompt);
        // The template writes every special token itself.
        let tokens = self.tokenizer.encode(&text, false)?;
        Ok((text, tokens))
    }

    /// The tokens that end a sequence: the request's, the tokenizer's end of text, and in a
    /// chat the end of a turn.
    pub fn stop_tokens(&self, request: &GenerationRequest) -> Vec<u32> {
        let mut stop = request.sampling.stop_tokens.clone();
        stop.extend(self.tokenizer.eos_id());
        if request.chat {
            stop.extend(self.tokenizer.token_to_id(TURN_END));
        }
        stop.sort_unstable();
        stop.dedup();
        stop
    }

    /// Continues the prompt, awaiting `after_step` after every decoding step; when it answers
    /// [`Control::Stop`], the generation ends there with what it has.
    pub async fn generate(
        &self,
        request: &GenerationRequest,
        device: &Device,
        mut after_step: impl AsyncFnMut(&GenerationStep) -> Control,
    ) -> Result<Generation, LabError> {
        let started = Instant::now();
        let (prompt, prompt_tokens) = self.prompt(request)?;
        let config = SamplingConfig {
            stop_tokens: self.stop_tokens(request),
            ..request.sampling.clone()
        };
        let total = config.max_new_tokens;
        let mut interrupted = false;
        let observe = async |step: usize, completions: &mut [Completion]| {
            let tokens = completions[0].tokens.clone();
            let mut text = self.tokenizer.decode(&tokens, true).unwrap_or_default();
            if let Some(cut) = stop_string_at(&text, &request.stop_strings) {
                text.truncate(cut);
                completions[0].stopped = true;
            }
            let event = GenerationStep {
                step,
                total,
                tokens,
                text,
            };
            let control = after_step(&event).await;
            interrupted = control == Control::Stop && !completions[0].stopped && step < total;
            control
        };
        let prompts = [prompt_tokens.clone()];
        let mut completions =
            generate::generate_observed(&self.model, &prompts, &config, device, observe).await?;
        let completion = completions.remove(0);
        Ok(Generation {
            prompt,
            prompt_tokens,
            text: before_stop_string(
                self.tokenizer.decode(&completion.tokens, true)?,
                &request.stop_strings,
            ),
            tokens: completion.tokens,
            log_probs: completion.log_probs,
            ended: completion.stopped,
            interrupted,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// Where the first of `stop_strings` starts in `text`, if any does.
fn stop_string_at(text: &str, stop_strings: &[String]) -> Option<usize> {
    (stop_strings.iter())
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.find(stop.as_str()))
        .min()
}

/// `text` up to the first of `stop_strings`.
fn before_stop_string(mut text: String, stop_strings: &[String]) -> String {
    if let Some(cut) = stop_string_at(&text, stop_strings) {
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_cut_at_the_first_one() {
        let stops = ["\nHuman:".to_string(), "END".to_string(), String::new()];
        assert_eq!(stop_string_at("Hello there", &stops), None);
        assert_eq!(stop_string_at("one END two\nHuman: x", &stops), Some(4));
        assert_eq!(
            before_stop_string("Yes.\nHuman: and".into(), &stops),
            "Yes."
        );
        assert_eq!(before_stop_string("no stop".into(), &[]), "no stop");
    }
}
