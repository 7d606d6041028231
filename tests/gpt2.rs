//! GPT-2 against Hugging Face transformers' GPT2LMHeadModel on tiny random checkpoints
//! (`tests/oracle/gpt2.py`, fixture `tests/fixtures/gpt2.json`): logits, final hidden states,
//! the next-token loss and its gradients, and greedy decoding through the key-value cache.
//! Tolerances are explained in `tests/causal_lm/mod.rs`.

mod causal_lm;
mod common;

use burn::tensor::Device;
use causal_lm::{Fixture, Renamed};
use common::fixture;

#[test]
fn logits_and_hidden_states_match_transformers() {
    let fixture: Fixture = fixture("gpt2");
    for (name, case) in &fixture.cases {
        causal_lm::check_logits_and_hidden(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn loss_and_gradients_match_pytorch_autograd() {
    let fixture: Fixture = fixture("gpt2");
    for (name, case) in &fixture.cases {
        causal_lm::check_loss_and_gradients(name, case, fixture.seed);
    }
}

#[test]
fn greedy_decoding_through_the_cache_matches() {
    let fixture: Fixture = fixture("gpt2");
    for (name, case) in &fixture.cases {
        causal_lm::check_greedy(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn parameters_list_back_as_the_checkpoint() {
    let fixture: Fixture = fixture("gpt2");
    for (name, case) in &fixture.cases {
        causal_lm::check_checkpoint_parameters(name, case, fixture.seed, &Device::flex());
    }
}

/// `GPT2LMHeadModel.save_pretrained` names the tensors `transformer.wte.weight`, ...; the hub's
/// `gpt2` checkpoint has them without the prefix. Both load to the same model.
#[test]
fn the_transformer_prefix_is_optional() {
    let fixture: Fixture = fixture("gpt2");
    let case = &fixture.cases["gelu_new"];
    let weights = case.weights(fixture.seed);
    let prefixed = Renamed {
        inner: &weights,
        rename: |name: &str| name.strip_prefix("transformer.").map(str::to_string),
    };
    let device = Device::flex();
    let model = case.load_from(&prefixed, &device);
    causal_lm::check_model_logits("gelu_new, prefixed", &model, case, &device);
    let names: Vec<String> = (superlab::models::CausalLm::checkpoint_parameters(&model))
        .into_iter()
        .map(|tensor| tensor.name)
        .collect();
    assert!(
        names.iter().all(|name| name.starts_with("transformer.")),
        "{names:?}"
    );
}
