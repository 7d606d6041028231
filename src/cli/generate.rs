//! `superlab generate`: continues a prompt with a language model, printing the text as it
//! comes, or the whole generation as JSON.

use super::{load, to_json};
use clap::Args;
use std::io::Write;
use superlab::LabError;
use superlab::device::BackendChoice;
use superlab::models::generate::SamplingConfig;
use superlab::models::load::policy::{GenerationRequest, GenerationStep};
use superlab::models::load::{LoadedModel, ModelKind};
use superlab::progress::Control;

#[derive(Args)]
pub struct GenerateArgs {
    /// `default` (SmolLM2-135M-Instruct), a folder with config.json, tokenizer.json and
    /// safetensors weights, or a .gguf file.
    #[arg(long, default_value = "default")]
    model: String,
    #[arg(long)]
    prompt: String,
    #[arg(
        long,
        default_value_t = SamplingConfig::default().max_new_tokens,
        value_parser = super::at_least_one
    )]
    max_new_tokens: usize,
    #[arg(long, default_value_t = SamplingConfig::default().seed)]
    seed: u64,
    /// 0 chooses the most probable token every step.
    #[arg(long, default_value_t = SamplingConfig::default().temperature)]
    temperature: f32,
    #[arg(long, default_value_t = SamplingConfig::default().top_p)]
    top_p: f32,
    /// 0 keeps every token.
    #[arg(long, default_value_t = SamplingConfig::default().top_k)]
    top_k: usize,
    /// Frames the prompt as a user's message in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Ends the generation where this text first appears (repeat for several); the text
    /// printed stops before it.
    #[arg(long = "stop")]
    stop_strings: Vec<String>,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Prints the whole generation (prompt tokens, new tokens, their log-probabilities, text)
    /// as JSON instead of the text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: GenerateArgs) -> Result<(), LabError> {
    let (loaded, device) = load(&args.model, ModelKind::LanguageModel, args.backend).await?;
    let LoadedModel::Language(policy) = loaded.model else {
        unreachable!("load checks the kind");
    };
    let request = GenerationRequest {
        prompt: args.prompt,
        chat: args.chat,
        stop_strings: args.stop_strings,
        sampling: SamplingConfig {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
            ..SamplingConfig::default()
        },
    };
    let mut shown = String::new();
    let stream = !args.json;
    let show = async |step: &GenerationStep| {
        if stream && let Some(new) = step.text.strip_prefix(shown.as_str()) {
            print!("{new}");
            let _ = std::io::stdout().flush();
            shown = step.text.clone();
        }
        Control::Continue
    };
    let generation = policy.generate(&request, &device.device, show).await?;
    if args.json {
        println!("{}", to_json(&generation)?);
    } else {
        println!(
            "{}",
            generation
                .text
                .strip_prefix(shown.as_str())
                .unwrap_or_default()
        );
    }
    log::info!(
        "{} new tokens in {:.2} s{}",
        generation.tokens.len(),
        generation.elapsed_ms / 1e3,
        if generation.ended {
            ", ended by a stop token"
        } else {
            ""
        }
    );
    Ok(())
}
