//! Llama against Hugging Face transformers' LlamaForCausalLM on tiny random checkpoints
//! (`tests/oracle/llama.py`, fixture `tests/fixtures/llama.json`): one case with grouped-query
//! attention and tied embeddings, one with its own `lm_head`, biases and a wider `head_dim`.
//! Logits, final hidden states, the next-token loss and its gradients, greedy decoding through
//! the key-value cache; logits also on wgpu. Tolerances are explained in
//! `tests/causal_lm/mod.rs`.

mod causal_lm;
mod common;

use burn::tensor::Device;
use causal_lm::{Fixture, Renamed};
use common::fixture;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::language_model::LanguageModel;

#[test]
fn logits_and_hidden_states_match_transformers() {
    let fixture: Fixture = fixture("llama");
    for (name, case) in &fixture.cases {
        causal_lm::check_logits_and_hidden(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn loss_and_gradients_match_pytorch_autograd() {
    let fixture: Fixture = fixture("llama");
    for (name, case) in &fixture.cases {
        causal_lm::check_loss_and_gradients(name, case, fixture.seed);
    }
}

#[test]
fn greedy_decoding_through_the_cache_matches() {
    let fixture: Fixture = fixture("llama");
    for (name, case) in &fixture.cases {
        causal_lm::check_greedy(name, case, fixture.seed, &Device::flex());
    }
}

#[test]
fn parameters_list_back_as_the_checkpoint() {
    let fixture: Fixture = fixture("llama");
    for (name, case) in &fixture.cases {
        causal_lm::check_checkpoint_parameters(name, case, fixture.seed, &Device::flex());
    }
}

/// The same logits on the GPU backend (Mesa's lavapipe where there is no GPU), against the
/// same reference and tolerance, and the same greedy continuation through the cache there.
#[test]
fn logits_and_greedy_decoding_match_on_wgpu() {
    let fixture: Fixture = fixture("llama");
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .unwrap_or_else(|error| panic!("no wgpu device: {error}"));
    println!("wgpu: {}", device.report.description);
    let case = &fixture.cases["gqa_tied"];
    let model = case.load(fixture.seed, &device.device);
    causal_lm::check_model_logits("gqa_tied on wgpu", &model, case, &device.device);
    causal_lm::check_greedy("gqa_tied on wgpu", case, fixture.seed, &device.device);
}

/// Checkpoints saved from `LlamaModel` (without the causal-LM wrapper) have no `model.` prefix.
#[test]
fn the_model_prefix_is_optional() {
    let fixture: Fixture = fixture("llama");
    let case = &fixture.cases["untied_bias_head_dim"];
    let weights = case.weights(fixture.seed);
    let unprefixed = Renamed {
        inner: &weights,
        rename: |name: &str| match name {
            "lm_head.weight" => Some(name.to_string()),
            _ => Some(format!("model.{name}")),
        },
    };
    let device = Device::flex();
    let model = case.load_from(&unprefixed, &device);
    causal_lm::check_model_logits("untied_bias_head_dim, no prefix", &model, case, &device);
}

fn load_error(
    config: &serde_json::Value,
    weights: &impl superlab::models::weights::WeightSource,
) -> String {
    match LanguageModel::from_hub(&config.to_string(), weights, &Device::flex()) {
        Ok(_) => panic!("{config} loaded"),
        Err(error) => {
            println!("{error}");
            error.to_string()
        }
    }
}

/// Weights of another configuration are refused with messages that say what does not fit.
#[test]
fn weights_that_do_not_match_the_config_are_refused() {
    let fixture: Fixture = fixture("llama");
    let case = &fixture.cases["gqa_tied"];
    let weights = case.weights(fixture.seed);

    let mut wider = case.config.clone();
    wider["hidden_size"] = 64.into();
    wider["head_dim"] = 8.into();
    wider["num_attention_heads"] = 8.into();
    assert!(load_error(&wider, &weights).contains("has shape"));

    let mut deeper = case.config.clone();
    deeper["num_hidden_layers"] = 3.into();
    assert!(load_error(&deeper, &weights).contains("model.layers.2."));

    let mut shallower = case.config.clone();
    shallower["num_hidden_layers"] = 1.into();
    assert!(load_error(&shallower, &weights).contains("only 1 layers"));

    let mut untied = case.config.clone();
    untied["tie_word_embeddings"] = false.into();
    assert!(load_error(&untied, &weights).contains("lm_head.weight"));

    let other = fixture.cases["untied_bias_head_dim"].weights(fixture.seed);
    assert!(load_error(&case.config, &other).contains("has shape"));
}

#[test]
fn unknown_architectures_and_unsupported_settings_are_refused() {
    let fixture: Fixture = fixture("llama");
    let case = &fixture.cases["gqa_tied"];
    let weights = case.weights(fixture.seed);

    let mut bert = case.config.clone();
    bert["model_type"] = "bert".into();
    let message = load_error(&bert, &weights);
    assert!(message.contains("'bert'") && message.contains("gpt2, gpt_neox, llama"));

    let mut untyped = case.config.clone();
    untyped.as_object_mut().unwrap().remove("model_type");
    assert!(load_error(&untyped, &weights).contains("no model_type"));

    let mut scaled = case.config.clone();
    scaled["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 8.0});
    assert!(load_error(&scaled, &weights).contains("rope_scaling"));

    let mut grouped = case.config.clone();
    grouped["num_key_value_heads"] = 4.into();
    assert!(load_error(&grouped, &weights).contains("not a multiple"));

    let error = LanguageModel::from_hub("{not json", &weights, &Device::flex()).err();
    assert!(matches!(error, Some(LabError::ModelConfig(_))), "{error:?}");
}

/// The loaded model is a burn `Module` an optimiser can step: one Adam step on the fixture's
/// batch lowers its loss, and the rotary positions and other settings survive the update.
#[test]
fn an_optimiser_step_lowers_the_loss() {
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::activation::log_softmax;
    use superlab::models::CausalLm;

    let fixture: Fixture = fixture("llama");
    let case = &fixture.cases["gqa_tied"];
    let device = Device::flex().autodiff();
    let loss_of = |model: &LanguageModel| {
        let tokens = case.tokens(&device);
        let [batch, positions] = tokens.dims();
        let predicted = model.logits(tokens.clone()).narrow(1, 0, positions - 1);
        let targets = tokens
            .narrow(1, 1, positions - 1)
            .reshape([batch, positions - 1, 1]);
        log_softmax(predicted, 2).gather(2, targets).mean().neg()
    };
    let model = case.load(fixture.seed, &device);
    let loss = loss_of(&model);
    let before = causal_lm::read(loss.clone())[0];
    let gradients = GradientsParams::from_grads(loss.backward(), &model);
    let mut optimizer = AdamConfig::new().init();
    let model = optimizer.step(1e-2, model, gradients);
    let after = causal_lm::read(loss_of(&model))[0];
    println!("loss before {before}, after one Adam step {after}");
    assert!(
        after < before - 0.05,
        "the loss went from {before} to {after}"
    );
    assert_eq!(model.max_positions(), 64);
}
