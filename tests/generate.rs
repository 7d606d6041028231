//! Generation through the key-value cache, on the tiny checkpoints of the GPT-2, Llama and
//! GPT-NeoX fixtures (`tests/oracle/_causal_lm.py`).
//!
//! Greedy decoding is compared with transformers' own continuations (identical ids). Sampling
//! has no external reference for its random numbers, so it is checked by what must hold: a
//! seed repeats a run exactly, top-k 1 is greedy, stop tokens cut each sequence where a run
//! without them sampled the token, and the returned log-probabilities equal log_softmax of a
//! full forward pass over prompt and completion, within 1e-4 (f32 rounding through a cached
//! and an uncached pass; see `tests/causal_lm/mod.rs`).

mod causal_lm;
mod common;

use std::cell::Cell;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};
use causal_lm::{Case, Fixture, TOLERANCE, read};
use common::{assert_close, fixture};
use superlab::LabError;
use superlab::models::CausalLm;
use superlab::models::cache::KvCache;
use superlab::models::checkpoint::CheckpointTensor;
use superlab::models::generate::{Completion, SamplingConfig, generate, tokens_tensor};
use superlab::models::language_model::LanguageModel;

const BATCH: usize = 4;

fn case(name: &str) -> (Case, u64) {
    let fixture: Fixture = fixture(name);
    let (_, case) = fixture.cases.into_iter().next().expect("a case");
    (case, fixture.seed)
}

fn run(
    model: &impl CausalLm,
    prompt: &[u32],
    config: &SamplingConfig,
) -> Result<Vec<Completion>, LabError> {
    let prompts = vec![prompt.to_vec(); BATCH];
    pollster::block_on(generate(model, &prompts, config, &Device::flex()))
}

fn sampling(seed: u64) -> SamplingConfig {
    SamplingConfig {
        max_new_tokens: 20,
        temperature: 0.9,
        top_k: 40,
        top_p: 0.9,
        stop_tokens: Vec::new(),
        seed,
    }
}

/// Counts the forward passes of the model it wraps.
struct Counting<'m> {
    model: &'m LanguageModel,
    passes: Cell<usize>,
}

impl CausalLm for Counting<'_> {
    fn layers(&self) -> usize {
        self.model.layers()
    }
    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }
    fn width(&self) -> usize {
        self.model.width()
    }
    fn max_positions(&self) -> usize {
        self.model.max_positions()
    }
    fn hidden_states(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.passes.set(self.passes.get() + 1);
        self.model.hidden_states(tokens, cache)
    }
    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.model.project(hidden)
    }
    fn checkpoint_parameters(&self) -> Vec<CheckpointTensor> {
        self.model.checkpoint_parameters()
    }
}

/// The log-probabilities a full forward pass gives each completion's tokens.
fn full_pass_log_probs(
    model: &impl CausalLm,
    prompt: &[u32],
    completions: &[Completion],
) -> Vec<f32> {
    let device = Device::flex();
    let sequences: Vec<Vec<u32>> = (completions.iter())
        .map(|completion| [prompt, &completion.tokens].concat())
        .collect();
    let [new, prompt_len] = [completions[0].tokens.len(), prompt.len()];
    assert!(completions.iter().all(|c| c.tokens.len() == new));
    let tokens = tokens_tensor(&sequences, &device);
    let log_probs = log_softmax(model.logits(tokens.clone()), 2)
        .narrow(1, prompt_len - 1, new)
        .gather(2, tokens.narrow(1, prompt_len, new).unsqueeze_dim::<3>(2));
    read(log_probs)
}

fn returned_log_probs(completions: &[Completion]) -> Vec<f64> {
    (completions.iter())
        .flat_map(|completion| completion.log_probs.iter().map(|&p| f64::from(p)))
        .collect()
}

#[test]
fn batched_greedy_decoding_matches_transformers() {
    for name in ["gpt2", "llama", "neox"] {
        let (case, seed) = case(name);
        let model = case.load(seed, &Device::flex());
        let config = SamplingConfig::greedy(case.greedy.continuation.len());
        let completions = run(&model, &case.greedy.prompt, &config).unwrap();
        for completion in &completions {
            assert_eq!(completion.tokens, case.greedy.continuation, "{name}");
            assert!(!completion.stopped);
        }
        assert_close(
            &format!("{name} greedy log-probabilities"),
            &full_pass_log_probs(&model, &case.greedy.prompt, &completions),
            &returned_log_probs(&completions),
            TOLERANCE,
            false,
        );
    }
}

#[test]
fn sampled_log_probs_are_those_of_a_full_forward_pass() {
    for name in ["gpt2", "llama", "neox"] {
        let (case, seed) = case(name);
        let model = case.load(seed, &Device::flex());
        let completions = run(&model, &case.greedy.prompt, &sampling(17)).unwrap();
        assert!(
            completions
                .iter()
                .all(|c| c.tokens.len() == 20 && !c.stopped)
        );
        assert_close(
            &format!("{name} sampled log-probabilities"),
            &full_pass_log_probs(&model, &case.greedy.prompt, &completions),
            &returned_log_probs(&completions),
            TOLERANCE,
            false,
        );
    }
}

#[test]
fn a_seed_repeats_a_sampling_run_exactly() {
    let (case, seed) = case("llama");
    let model = case.load(seed, &Device::flex());
    let prompt = &case.greedy.prompt;
    let first = run(&model, prompt, &sampling(7)).unwrap();
    let again = run(&model, prompt, &sampling(7)).unwrap();
    assert_eq!(
        first, again,
        "the same seed repeats tokens and log-probabilities"
    );
    let other = run(&model, prompt, &sampling(8)).unwrap();
    assert_ne!(first, other, "another seed samples otherwise");
    assert!(
        first.iter().any(|c| c.tokens != first[0].tokens),
        "the sequences of a batch draw their own numbers"
    );
    for completion in &first {
        println!("seed 7: {:?}", completion.tokens);
    }
}

#[test]
fn top_k_one_is_greedy() {
    let (case, seed) = case("gpt2");
    let model = case.load(seed, &Device::flex());
    let config = SamplingConfig {
        temperature: 1.0,
        top_k: 1,
        top_p: 1.0,
        ..sampling(3)
    };
    for completion in run(&model, &case.greedy.prompt, &config).unwrap() {
        assert_eq!(completion.tokens, case.greedy.continuation);
    }
}

/// A stop token ends each sequence where the same run without it first sampled that token; the
/// run ends as soon as every sequence has stopped.
#[test]
fn stop_tokens_end_each_sequence() {
    let (case, seed) = case("neox");
    let model = case.load(seed, &Device::flex());
    let prompt = &case.greedy.prompt;
    let free = run(&model, prompt, &sampling(21)).unwrap();
    let stop = free[0].tokens[2];
    let config = SamplingConfig {
        stop_tokens: vec![stop],
        ..sampling(21)
    };
    let counting = Counting {
        model: &model,
        passes: Cell::new(0),
    };
    let stopped = run(&counting, prompt, &config).unwrap();
    let mut longest = 0;
    for (free, stopped) in free.iter().zip(&stopped) {
        let end = free.tokens.iter().position(|&t| t == stop);
        let kept = end.map_or(free.tokens.len(), |at| at + 1);
        assert_eq!(stopped.tokens, free.tokens[..kept]);
        assert_eq!(stopped.log_probs, free.log_probs[..kept]);
        assert_eq!(stopped.stopped, end.is_some());
        longest = longest.max(kept);
    }
    assert_eq!(
        counting.passes.get(),
        longest,
        "one forward pass per step, none after"
    );

    let greedy = SamplingConfig {
        stop_tokens: vec![case.greedy.continuation[3]],
        ..SamplingConfig::greedy(20)
    };
    let first = case
        .greedy
        .continuation
        .iter()
        .position(|&t| t == greedy.stop_tokens[0]);
    let counting = Counting {
        model: &model,
        passes: Cell::new(0),
    };
    for completion in run(&counting, prompt, &greedy).unwrap() {
        assert_eq!(
            completion.tokens,
            case.greedy.continuation[..=first.unwrap()]
        );
        assert!(completion.stopped);
    }
    assert_eq!(counting.passes.get(), first.unwrap() + 1);
}

#[test]
fn more_tokens_than_the_positions_is_an_error() {
    let (case, seed) = case("gpt2");
    let model = case.load(seed, &Device::flex());
    let prompt = &case.greedy.prompt;
    let positions = model.max_positions();
    let fits = SamplingConfig {
        max_new_tokens: positions - prompt.len(),
        ..sampling(1)
    };
    let completions = run(&model, prompt, &fits).unwrap();
    assert_eq!(completions[0].tokens.len(), positions - prompt.len());
    let too_many = SamplingConfig {
        max_new_tokens: positions - prompt.len() + 1,
        ..sampling(1)
    };
    let error = run(&model, prompt, &too_many).expect_err("too long");
    println!("{error}");
    assert!(matches!(error, LabError::Config(_)));
    assert!(
        error
            .to_string()
            .contains(&format!("{positions} positions"))
    );
}

#[test]
fn prompts_of_different_lengths_are_refused() {
    let (case, seed) = case("gpt2");
    let model = case.load(seed, &Device::flex());
    let prompts = vec![vec![1, 2, 3], vec![4, 5]];
    let error = pollster::block_on(generate(&model, &prompts, &sampling(1), &Device::flex()))
        .expect_err("different lengths");
    println!("{error}");
    assert!(error.to_string().contains("same length"));
    let bad = SamplingConfig {
        top_p: 0.0,
        ..sampling(1)
    };
    let error = run(&model, &case.greedy.prompt, &bad).expect_err("top-p 0");
    assert!(error.to_string().contains("top_p"));
}

/// Different prompts of one length share a batch; each continues as it would alone.
#[test]
fn different_prompts_of_one_length_decode_as_alone() {
    let (case, seed) = case("llama");
    let device = Device::flex();
    let model = case.load(seed, &device);
    let prompts: Vec<Vec<u32>> = case.tokens.iter().map(|row| row[..6].to_vec()).collect();
    let config = SamplingConfig::greedy(10);
    let together = pollster::block_on(generate(&model, &prompts, &config, &device)).unwrap();
    for (prompt, completion) in prompts.iter().zip(&together) {
        let alone = pollster::block_on(generate(
            &model,
            std::slice::from_ref(prompt),
            &config,
            &device,
        ))
        .unwrap()
        .remove(0);
        assert_eq!(completion.tokens, alone.tokens);
        assert_close(
            "log-probabilities in a batch and alone",
            &completion.log_probs,
            &returned_log_probs(&[alone]),
            TOLERANCE,
            false,
        );
    }
}
