//! GPT-NeoX against Hugging Face transformers' GPTNeoXForCausalLM on tiny random checkpoints
//! (`tests/oracle/neox.py`, fixture `tests/fixtures/neox.json`): Pythia's parallel residual
//! with a quarter of each head rotating, and the sequential residual with half rotating and no
//! attention biases. Logits, final hidden states, the next-token loss and its gradients, and
//! greedy decoding through the key-value cache. Tolerances are explained in
//! `tests/causal_lm/mod.rs`.

mod causal_lm;
mod common;

use burn::tensor::Device;
use causal_lm::{Fixture, Renamed};
use common::fixture;
use superlab::models::CausalLm;

#[test]
fn logits_and_hidden_states_match_transformers() {
    let fixture: Fixture = fixture("neox");
    for (name, case) in &fixture.cases {
        causal_lm::check_logits_and_hidden(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn loss_and_gradients_match_pytorch_autograd() {
    let fixture: Fixture = fixture("neox");
    for (name, case) in &fixture.cases {
        causal_lm::check_loss_and_gradients(name, case, fixture.seed);
    }
}

#[test]
fn greedy_decoding_through_the_cache_matches() {
    let fixture: Fixture = fixture("neox");
    for (name, case) in &fixture.cases {
        causal_lm::check_greedy(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn parameters_list_back_as_the_checkpoint() {
    let fixture: Fixture = fixture("neox");
    for (name, case) in &fixture.cases {
        causal_lm::check_checkpoint_parameters(name, case, fixture.seed, &Device::flex());
    }
}

/// The decoder's tensors load with or without the `gpt_neox.` prefix; `embed_out` has none
/// either way.
#[test]
fn the_gpt_neox_prefix_is_optional() {
    let fixture: Fixture = fixture("neox");
    let case = &fixture.cases["parallel"];
    let weights = case.weights(fixture.seed);
    let unprefixed = Renamed {
        inner: &weights,
        rename: |name: &str| match name {
            "embed_out.weight" => Some(name.to_string()),
            _ => Some(format!("gpt_neox.{name}")),
        },
    };
    let device = Device::flex();
    let model = case.load_from(&unprefixed, &device);
    causal_lm::check_model_logits("parallel, no prefix", &model, case, &device);
    let names: Vec<String> = (model.checkpoint_parameters().into_iter())
        .map(|tensor| tensor.name)
        .collect();
    assert!(names.contains(&"layers.0.attention.query_key_value.weight".to_string()));
    assert!(names.contains(&"embed_out.weight".to_string()));
}

/// A checkpoint of `GPTNeoXModel` alone has no output projection to load.
#[test]
fn a_checkpoint_without_embed_out_is_refused() {
    let fixture: Fixture = fixture("neox");
    let case = &fixture.cases["parallel"];
    let weights = case.weights(fixture.seed);
    let headless = Renamed {
        inner: &weights,
        rename: |name: &str| (name != "embed_out.weight").then(|| name.to_string()),
    };
    let error = superlab::models::language_model::LanguageModel::from_hub(
        &case.config_json(),
        &headless,
        &Device::flex(),
    )
    .expect_err("refused");
    println!("{error}");
    assert!(error.to_string().contains("embed_out.weight"));
}
