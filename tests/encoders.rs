//! BERT and DistilBERT encoders, their sequence-classification heads and the reward models on
//! them, against Hugging Face transformers on tiny random checkpoints.
//!
//! The reference values come from `tests/oracle/encoders.py` (transformers' eager attention,
//! PyTorch autograd): hidden states, logits, rewards, losses and parameter gradients on
//! right-padded batches. The checkpoints are rebuilt here from the fixture's list of tensor
//! names, shapes and scales, written as safetensors and loaded through the lab's reader.
//!
//! Tolerance 1e-4 (absolute): both sides compute in f32 with values of order one; the
//! summation orders of matmuls and reductions differ, which moves results by about 1e-6.

mod common;

use std::collections::BTreeMap;

use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Gradients;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{WeightSpec, assert_close, weights_from_spec};
use safetensors::tensor::TensorView;
use serde::Deserialize;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::encoder::TextEncoder;
use superlab::models::encoder::batch::TokenBatch;
use superlab::models::encoder::reward::{EncoderReward, LogitReading, RewardModel, Scorer};
use superlab::models::weights::{WeightSource, Weights};
use superlab::superhf::loss::bradley_terry;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    classifiers: BTreeMap<String, ClassifierCase>,
    pooled: BTreeMap<String, PooledCase>,
}

#[derive(Deserialize)]
struct ClassifierCase {
    config: serde_json::Value,
    weights: Vec<WeightSpec>,
    tokens: Vec<Vec<u32>>,
    mask: Vec<Vec<u32>>,
    token_types: Option<Vec<Vec<u32>>>,
    hidden: Vec<f64>,
    logits: Vec<f64>,
    rewards: Vec<f64>,
    /// Class indices, or regression targets for a one-label head.
    labels: Vec<f64>,
    loss: f64,
    gradients: BTreeMap<String, Vec<f64>>,
}

#[derive(Deserialize)]
struct PooledCase {
    config: serde_json::Value,
    weights: Vec<WeightSpec>,
    tokens: Vec<Vec<u32>>,
    mask: Vec<Vec<u32>>,
    hidden: Vec<f64>,
    rewards: Vec<f64>,
    loss: f64,
    gradients: BTreeMap<String, Vec<f64>>,
}

fn load_fixture() -> Fixture {
    common::fixture("encoders")
}

/// The fixture's padded rows cut back to their real tokens, then padded again by the lab.
fn batch(
    tokens: &[Vec<u32>],
    mask: &[Vec<u32>],
    token_types: Option<&Vec<Vec<u32>>>,
    device: &Device,
) -> TokenBatch {
    let lengths: Vec<usize> = mask
        .iter()
        .map(|row| row.iter().sum::<u32>() as usize)
        .collect();
    let cut = |rows: &[Vec<u32>]| -> Vec<Vec<u32>> {
        rows.iter()
            .zip(&lengths)
            .map(|(row, &n)| row[..n].to_vec())
            .collect()
    };
    let batch = TokenBatch::right_padded(&cut(tokens), 0, device).unwrap();
    assert_eq!(batch.dims(), [tokens.len(), tokens[0].len()]);
    match token_types {
        Some(types) => batch.with_token_types(&cut(types)).unwrap(),
        None => batch,
    }
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn reward_model(
    seed: u64,
    config: &serde_json::Value,
    specs: &[WeightSpec],
    device: &Device,
) -> EncoderReward {
    let weights = weights_from_spec(seed, specs);
    EncoderReward::from_hub(&config.to_string(), &weights, device).unwrap()
}

/// The encoder's hidden states and the logits a scorer reads from them.
fn hidden_and_logits(scorer: &Scorer, batch: &TokenBatch) -> (Tensor<3>, Tensor<2>) {
    match scorer {
        Scorer::Bert(model) => {
            let hidden = model.bert.forward(batch).unwrap();
            (hidden.clone(), model.classify(hidden))
        }
        Scorer::DistilBert(model) => {
            let hidden = model.distilbert.forward(batch).unwrap();
            (hidden.clone(), model.classify(hidden))
        }
        Scorer::Pooled(model) => (
            model.encoder.forward(batch).unwrap(),
            model.logits(batch).unwrap(),
        ),
    }
}

/// transformers' loss for the labels it was given: cross-entropy over classes, or the mean
/// squared error for a one-label head.
fn transformers_loss(logits: Tensor<2>, labels: &[f64]) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    let device = logits.device();
    if classes == 1 {
        let targets: Vec<f32> = labels.iter().map(|&t| t as f32).collect();
        let targets = Tensor::<2>::from_data(TensorData::new(targets, [batch, 1]), &device);
        return (logits - targets).powi_scalar(2).mean();
    }
    let indices: Vec<i32> = labels.iter().map(|&label| label as i32).collect();
    let indices = Tensor::<2, Int>::from_data(TensorData::new(indices, [batch, 1]), &device);
    -log_softmax(logits, 1).gather(1, indices).mean()
}

/// A parameter's gradient in the checkpoint's layout (`nn.Linear` weights are `[out, in]`,
/// burn's `[in, out]`), found by its hub name.
fn gradient(scorer: &Scorer, hub_name: &str, grads: &Gradients) -> Vec<f32> {
    let name = (hub_name.strip_prefix("bert."))
        .or_else(|| hub_name.strip_prefix("distilbert."))
        .unwrap_or(hub_name);
    let parts: Vec<&str> = name.split('.').collect();
    let matrix = |tensor: Tensor<2>, transposed: bool| {
        let grad = tensor.grad(grads).expect("the parameter has a gradient");
        values(if transposed { grad.transpose() } else { grad })
    };
    let vector =
        |tensor: Tensor<1>| values(tensor.grad(grads).expect("the parameter has a gradient"));
    let linear = |linear: &burn::nn::Linear, part: &str| match part {
        "weight" => matrix(linear.weight.val(), true),
        _ => vector(linear.bias.as_ref().unwrap().val()),
    };
    let norm = |norm: &burn::nn::LayerNorm, part: &str| match part {
        "weight" => vector(norm.gamma.val()),
        _ => vector(norm.beta.as_ref().unwrap().val()),
    };
    match (scorer, parts.as_slice()) {
        (Scorer::Bert(model), ["pooler", "dense", part]) => linear(&model.pooler, part),
        (Scorer::Bert(model), ["classifier", part]) => linear(&model.classifier, part),
        (Scorer::DistilBert(model), ["pre_classifier", part]) => {
            linear(&model.pre_classifier, part)
        }
        (Scorer::DistilBert(model), ["classifier", part]) => linear(&model.classifier, part),
        (Scorer::Pooled(model), ["reward_head", part]) => linear(&model.head, part),
        (Scorer::Bert(model), _) => bert_gradient(&model.bert, &parts, &matrix, &linear, &norm),
        (Scorer::DistilBert(model), _) => {
            distilbert_gradient(&model.distilbert, &parts, &matrix, &linear, &norm)
        }
        (Scorer::Pooled(model), _) => match &model.encoder {
            TextEncoder::Bert(bert) => bert_gradient(bert, &parts, &matrix, &linear, &norm),
            TextEncoder::DistilBert(distilbert) => {
                distilbert_gradient(distilbert, &parts, &matrix, &linear, &norm)
            }
        },
    }
}

type Matrix<'a> = dyn Fn(Tensor<2>, bool) -> Vec<f32> + 'a;
type LinearGrad<'a> = dyn Fn(&burn::nn::Linear, &str) -> Vec<f32> + 'a;
type NormGrad<'a> = dyn Fn(&burn::nn::LayerNorm, &str) -> Vec<f32> + 'a;

fn bert_gradient(
    bert: &superlab::models::encoder::bert::BertModel,
    parts: &[&str],
    matrix: &Matrix,
    linear: &LinearGrad,
    norm: &NormGrad,
) -> Vec<f32> {
    let embeddings = &bert.embeddings;
    match parts {
        ["embeddings", "word_embeddings", _] => matrix(embeddings.words.weight.val(), false),
        ["embeddings", "position_embeddings", _] => {
            matrix(embeddings.positions.weight.val(), false)
        }
        ["embeddings", "token_type_embeddings", _] => {
            matrix(embeddings.token_types.weight.val(), false)
        }
        ["embeddings", "LayerNorm", part] => norm(&embeddings.norm, part),
        ["encoder", "layer", i, rest @ ..] => {
            let layer = &bert.layers[i.parse::<usize>().unwrap()];
            match rest {
                ["attention", "self", "query", part] => linear(&layer.query, part),
                ["attention", "self", "key", part] => linear(&layer.key, part),
                ["attention", "self", "value", part] => linear(&layer.value, part),
                ["attention", "output", "dense", part] => linear(&layer.attention_out, part),
                ["attention", "output", "LayerNorm", part] => norm(&layer.norm_attention, part),
                ["intermediate", "dense", part] => linear(&layer.mlp_in, part),
                ["output", "dense", part] => linear(&layer.mlp_out, part),
                ["output", "LayerNorm", part] => norm(&layer.norm_output, part),
                _ => panic!("no BERT parameter {parts:?}"),
            }
        }
        _ => panic!("no BERT parameter {parts:?}"),
    }
}

fn distilbert_gradient(
    distilbert: &superlab::models::encoder::distilbert::DistilBertModel,
    parts: &[&str],
    matrix: &Matrix,
    linear: &LinearGrad,
    norm: &NormGrad,
) -> Vec<f32> {
    let embeddings = &distilbert.embeddings;
    match parts {
        ["embeddings", "word_embeddings", _] => matrix(embeddings.words.weight.val(), false),
        ["embeddings", "position_embeddings", _] => {
            matrix(embeddings.positions.weight.val(), false)
        }
        ["embeddings", "LayerNorm", part] => norm(&embeddings.norm, part),
        ["transformer", "layer", i, rest @ ..] => {
            let layer = &distilbert.layers[i.parse::<usize>().unwrap()];
            match rest {
                ["attention", "q_lin", part] => linear(&layer.query, part),
                ["attention", "k_lin", part] => linear(&layer.key, part),
                ["attention", "v_lin", part] => linear(&layer.value, part),
                ["attention", "out_lin", part] => linear(&layer.attention_out, part),
                ["sa_layer_norm", part] => norm(&layer.norm_attention, part),
                ["ffn", "lin1", part] => linear(&layer.mlp_in, part),
                ["ffn", "lin2", part] => linear(&layer.mlp_out, part),
                ["output_layer_norm", part] => norm(&layer.norm_output, part),
                _ => panic!("no DistilBERT parameter {parts:?}"),
            }
        }
        _ => panic!("no DistilBERT parameter {parts:?}"),
    }
}

/// Hidden states (padded positions included), logits, rewards, transformers' loss and the
/// gradients of that loss, for BERT and DistilBERT classifiers with one and two labels, the
/// positive label first or second.
#[test]
fn classifiers_match_transformers() {
    let fixture = load_fixture();
    let device = Device::flex().autodiff();
    for (name, case) in &fixture.classifiers {
        let model = reward_model(fixture.seed, &case.config, &case.weights, &device);
        let batch = batch(&case.tokens, &case.mask, case.token_types.as_ref(), &device);
        let (hidden, logits) = hidden_and_logits(&model.scorer, &batch);
        assert_close(
            &format!("{name} hidden"),
            &values(hidden),
            &case.hidden,
            TOLERANCE,
            false,
        );
        assert_close(
            &format!("{name} logits"),
            &values(logits.clone()),
            &case.logits,
            TOLERANCE,
            false,
        );
        let rewards = model.rewards(&batch).unwrap();
        assert_close(
            &format!("{name} rewards"),
            &values(rewards),
            &case.rewards,
            TOLERANCE,
            false,
        );

        let loss = transformers_loss(logits, &case.labels);
        assert_close(
            &format!("{name} loss"),
            &values(loss.clone()),
            &[case.loss],
            TOLERANCE,
            false,
        );
        let grads = loss.backward();
        for (parameter, want) in &case.gradients {
            let got = gradient(&model.scorer, parameter, &grads);
            assert_close(
                &format!("{name} d loss / d {parameter}"),
                &got,
                want,
                TOLERANCE,
                false,
            );
        }
    }
}

/// The reading of the logits follows `id2label`, wherever the positive label sits.
#[test]
fn rewards_read_the_labels_by_name() {
    let fixture = load_fixture();
    let readings: BTreeMap<&str, LogitReading> = (fixture.classifiers.iter())
        .map(|(name, case)| {
            let model = reward_model(fixture.seed, &case.config, &case.weights, &Device::flex());
            (name.as_str(), model.reading())
        })
        .collect();
    let two = |positive, negative| LogitReading::PositiveMinusNegative { positive, negative };
    assert_eq!(readings["bert_sentiment"], two(1, 0));
    assert_eq!(readings["bert_single_label"], LogitReading::Single);
    assert_eq!(readings["distilbert_sentiment"], two(0, 1));
    assert_eq!(readings["distilbert_relu"], two(1, 0));
}

/// Plain encoders with a linear head on mean-pooled hidden states: rewards, the
/// Bradley-Terry loss of the pairs (0, 1) and (2, 3), and its gradients for the head and the
/// encoder.
#[test]
fn pooled_reward_heads_match_transformers() {
    let fixture = load_fixture();
    let device = Device::flex().autodiff();
    for (name, case) in &fixture.pooled {
        let model = reward_model(fixture.seed, &case.config, &case.weights, &device);
        assert!(matches!(model.scorer, Scorer::Pooled(_)), "{name}");
        let batch = batch(&case.tokens, &case.mask, None, &device);
        let (hidden, _) = hidden_and_logits(&model.scorer, &batch);
        assert_close(
            &format!("{name} hidden"),
            &values(hidden),
            &case.hidden,
            TOLERANCE,
            false,
        );
        let rewards = model.rewards(&batch).unwrap();
        assert_close(
            &format!("{name} rewards"),
            &values(rewards.clone()),
            &case.rewards,
            TOLERANCE,
            false,
        );
        let loss = pair_loss(rewards);
        assert_close(
            &format!("{name} loss"),
            &values(loss.clone()),
            &[case.loss],
            TOLERANCE,
            false,
        );
        let grads = loss.backward();
        for (parameter, want) in &case.gradients {
            let got = gradient(&model.scorer, parameter, &grads);
            assert_close(
                &format!("{name} d loss / d {parameter}"),
                &got,
                want,
                TOLERANCE,
                false,
            );
        }
    }
}

/// The Bradley-Terry loss of a batch whose even rows are preferred to the odd rows after them.
fn pair_loss(rewards: Tensor<1>) -> Tensor<1> {
    let [count] = rewards.dims();
    let device = rewards.device();
    let rows = |start: i64| Tensor::<1, Int>::arange_step(start..count as i64, 2, &device);
    bradley_terry(
        rewards.clone().select(0, rows(0)),
        rewards.select(0, rows(1)),
    )
}

/// With the encoder frozen, only the head receives gradients, and they are the ones
/// transformers computes for the head.
#[test]
fn a_frozen_encoder_leaves_the_head_trainable() {
    let fixture = load_fixture();
    let case = &fixture.pooled["bert_pooled"];
    let device = Device::flex().autodiff();
    let model = reward_model(fixture.seed, &case.config, &case.weights, &device).freeze_encoder();
    let batch = batch(&case.tokens, &case.mask, None, &device);
    let grads = pair_loss(model.rewards(&batch).unwrap()).backward();
    let Scorer::Pooled(pooled) = &model.scorer else {
        panic!("a plain encoder gets a pooled head")
    };
    let TextEncoder::Bert(bert) = &pooled.encoder else {
        panic!("a BERT encoder")
    };
    assert!(bert.embeddings.words.weight.val().grad(&grads).is_none());
    assert!(bert.layers[1].value.weight.val().grad(&grads).is_none());
    let got = gradient(&model.scorer, "reward_head.weight", &grads);
    assert_close(
        "frozen d loss / d head",
        &got,
        &case.gradients["reward_head.weight"],
        TOLERANCE,
        false,
    );
}

/// A head of zeros on a plain encoder learns to prefer the chosen texts: the Bradley-Terry
/// loss starts at ln 2 (equal rewards) and falls under plain gradient descent.
#[test]
fn an_untrained_head_learns_preferences() {
    let fixture = load_fixture();
    let case = &fixture.pooled["distilbert_pooled"];
    let device = Device::flex().autodiff();
    let specs: Vec<WeightSpec> = (case.weights.iter())
        .filter(|s| !s.name.starts_with("reward_head"))
        .cloned()
        .collect();
    let mut model = reward_model(fixture.seed, &case.config, &specs, &device).freeze_encoder();
    let batch = batch(&case.tokens, &case.mask, None, &device);
    let mut optimizer = SgdConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..20 {
        let loss = pair_loss(model.rewards(&batch).unwrap());
        losses.push(values(loss.clone())[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(0.5, model, grads);
    }
    println!("Bradley-Terry losses: {losses:?}");
    assert!(
        (losses[0] - std::f32::consts::LN_2).abs() < 1e-6,
        "{}",
        losses[0]
    );
    assert!(losses[19] < 0.5 * losses[0], "{losses:?}");
}

/// A classifier checkpoint's encoder (under `bert.`) loads as a plain encoder and computes
/// the classifier's hidden states.
#[test]
fn an_encoder_loads_from_a_classifier_checkpoint() {
    let fixture = load_fixture();
    let device = Device::flex();
    for name in ["bert_sentiment", "distilbert_sentiment"] {
        let case = &fixture.classifiers[name];
        let weights = weights_from_spec(fixture.seed, &case.weights);
        let encoder = TextEncoder::from_hub(&case.config.to_string(), &weights, &device).unwrap();
        let batch = batch(&case.tokens, &case.mask, case.token_types.as_ref(), &device);
        let hidden = values(encoder.forward(&batch).unwrap());
        assert_close(
            &format!("{name} encoder alone"),
            &hidden,
            &case.hidden,
            TOLERANCE,
            false,
        );
    }
}

/// The same forward passes on wgpu (Vulkan; Mesa's lavapipe without a GPU), where the lab
/// scores text in the browser.
#[test]
fn classifiers_match_transformers_on_wgpu() {
    let fixture = load_fixture();
    let lab_device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .expect("a wgpu device");
    let device = lab_device.device.clone();
    for name in ["bert_sentiment", "distilbert_sentiment"] {
        let case = &fixture.classifiers[name];
        let model = reward_model(fixture.seed, &case.config, &case.weights, &device);
        let batch = batch(&case.tokens, &case.mask, case.token_types.as_ref(), &device);
        let (hidden, logits) = hidden_and_logits(&model.scorer, &batch);
        assert_close(
            &format!("{name} hidden, wgpu"),
            &values(hidden),
            &case.hidden,
            TOLERANCE,
            false,
        );
        assert_close(
            &format!("{name} logits, wgpu"),
            &values(logits),
            &case.logits,
            TOLERANCE,
            false,
        );
        let rewards = values(model.rewards(&batch).unwrap());
        assert_close(
            &format!("{name} rewards, wgpu"),
            &rewards,
            &case.rewards,
            TOLERANCE,
            false,
        );
    }
}

fn load_error(config: &serde_json::Value, specs: &[WeightSpec], seed: u64) -> String {
    let weights = weights_from_spec(seed, specs);
    match EncoderReward::from_hub(&config.to_string(), &weights, &Device::flex()) {
        Ok(_) => panic!("loading should fail"),
        Err(error) => error.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    println!("{message}");
    for part in parts {
        assert!(
            message.contains(part),
            "the message lacks {part:?}: {message}"
        );
    }
}

/// Weights of another architecture, missing tensors and wrong shapes are errors that say
/// which tensor is wrong.
#[test]
fn mismatched_weights_are_clear_errors() {
    let fixture = load_fixture();
    let seed = fixture.seed;
    let bert = &fixture.classifiers["bert_sentiment"];
    let distilbert = &fixture.classifiers["distilbert_sentiment"];

    let message = load_error(&bert.config, &distilbert.weights, seed);
    assert_mentions(
        &message,
        &[
            "encoder.layer.0.attention.self.query.weight",
            "not of this architecture",
        ],
    );
    let message = load_error(&distilbert.config, &bert.weights, seed);
    assert_mentions(
        &message,
        &[
            "transformer.layer.0.attention.q_lin.weight",
            "not of this architecture",
        ],
    );

    let missing = "bert.encoder.layer.1.output.dense.bias";
    let specs: Vec<WeightSpec> = (bert.weights.iter())
        .filter(|s| s.name != missing)
        .cloned()
        .collect();
    assert_mentions(&load_error(&bert.config, &specs, seed), &[missing]);
    let specs: Vec<WeightSpec> = (distilbert.weights.iter())
        .filter(|s| s.name != "pre_classifier.weight")
        .cloned()
        .collect();
    assert_mentions(
        &load_error(&distilbert.config, &specs, seed),
        &["pre_classifier.weight"],
    );

    // Three labels' worth of classifier against a configuration of two.
    let mut specs = bert.weights.clone();
    for spec in specs
        .iter_mut()
        .filter(|s| s.name.starts_with("classifier."))
    {
        spec.shape[0] = 3;
    }
    assert_mentions(
        &load_error(&bert.config, &specs, seed),
        &["classifier.weight", "[3, 32]", "[2, 32]"],
    );

    // A wider model's weights against a narrower configuration.
    let mut config = bert.config.clone();
    config["hidden_size"] = 16.into();
    assert_mentions(
        &load_error(&config, &bert.weights, seed),
        &["[53, 32]", "[53, 16]"],
    );
}

/// Configurations the lab cannot score text with are errors that say what it reads.
#[test]
fn unusable_configurations_are_clear_errors() {
    let fixture = load_fixture();
    let seed = fixture.seed;
    let bert = &fixture.classifiers["bert_sentiment"];
    let with = |key: &str, value: serde_json::Value| {
        let mut config = bert.config.clone();
        config[key] = value;
        config
    };

    let gpt2 = serde_json::json!({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]});
    assert_mentions(
        &load_error(&gpt2, &bert.weights, seed),
        &["gpt2", "GPT2LMHeadModel", "BERT"],
    );
    let question_answering = with(
        "architectures",
        serde_json::json!(["BertForQuestionAnswering"]),
    );
    assert_mentions(
        &load_error(&question_answering, &bert.weights, seed),
        &["BertForQuestionAnswering", "BertForSequenceClassification"],
    );
    let inconsistent = with(
        "architectures",
        serde_json::json!(["DistilBertForSequenceClassification"]),
    );
    assert_mentions(
        &load_error(&inconsistent, &bert.weights, seed),
        &["inconsistent"],
    );
    let unnamed = with(
        "id2label",
        serde_json::json!({"0": "LABEL_0", "1": "LABEL_1"}),
    );
    assert_mentions(
        &load_error(&unnamed, &bert.weights, seed),
        &["LABEL_0", "POSITIVE"],
    );
    let three = with(
        "id2label",
        serde_json::json!({"0": "a", "1": "b", "2": "c"}),
    );
    assert_mentions(&load_error(&three, &bert.weights, seed), &["3 labels"]);
    let relative = with("position_embedding_type", "relative_key".into());
    assert_mentions(
        &load_error(&relative, &bert.weights, seed),
        &["relative_key", "absolute"],
    );
    let activation = with("hidden_act", "mish".into());
    assert_mentions(&load_error(&activation, &bert.weights, seed), &["mish"]);
    let heads = with("num_attention_heads", 5.into());
    assert_mentions(&load_error(&heads, &bert.weights, seed), &["32", "5"]);

    let weights = weights_from_spec(seed, &bert.weights);
    let Err(error) = EncoderReward::from_hub("{ not json", &weights, &Device::flex()) else {
        panic!("a broken config.json should fail")
    };
    assert!(matches!(error, LabError::ModelConfig(_)), "{error}");
    assert_mentions(&error.to_string(), &["config.json"]);
}

/// Batches a model cannot read are errors, not out-of-bounds reads on the device.
#[test]
fn unreadable_batches_are_clear_errors() {
    let fixture = load_fixture();
    let bert = &fixture.classifiers["bert_sentiment"];
    let device = Device::flex();
    let model = reward_model(fixture.seed, &bert.config, &bert.weights, &device);
    let rewards_error = |batch: TokenBatch| model.rewards(&batch).unwrap_err().to_string();

    let outside = TokenBatch::right_padded(&[vec![1, 2, 53]], 0, &device).unwrap();
    assert_mentions(&rewards_error(outside), &["53", "vocabulary of 53"]);
    let long = TokenBatch::right_padded(&[vec![1; 25]], 0, &device).unwrap();
    assert_mentions(&rewards_error(long), &["24", "25", "truncate"]);
    let types = TokenBatch::right_padded(&[vec![1, 2]], 0, &device).unwrap();
    let types = types.with_token_types(&[vec![0, 2]]).unwrap();
    assert_mentions(&rewards_error(types), &["token type 2"]);

    let distilbert = &fixture.classifiers["distilbert_sentiment"];
    let model = reward_model(
        fixture.seed,
        &distilbert.config,
        &distilbert.weights,
        &device,
    );
    let types = TokenBatch::right_padded(&[vec![1, 2]], 0, &device).unwrap();
    let types = types.with_token_types(&[vec![0, 1]]).unwrap();
    assert_mentions(
        &model.rewards(&types).unwrap_err().to_string(),
        &["no token types"],
    );

    let empty: [Vec<u32>; 0] = [];
    assert!(TokenBatch::right_padded(&empty, 0, &device).is_err());
    assert!(TokenBatch::right_padded(&[vec![1], vec![]], 0, &device).is_err());
    let short_types = TokenBatch::right_padded(&[vec![1, 2]], 0, &device).unwrap();
    assert!(short_types.with_token_types(&[vec![0]]).is_err());
}

/// Checkpoints whose layer norms use the `gamma` and `beta` names of early BERT conversions
/// load to the same model.
#[test]
fn legacy_layer_norm_names_load() {
    let fixture = load_fixture();
    let case = &fixture.classifiers["bert_sentiment"];
    let legacy = |name: &str| {
        (name
            .strip_suffix("LayerNorm.weight")
            .map(|s| format!("{s}LayerNorm.gamma")))
        .or_else(|| {
            name.strip_suffix("LayerNorm.bias")
                .map(|s| format!("{s}LayerNorm.beta"))
        })
        .unwrap_or_else(|| name.to_string())
    };
    let weights = renamed(&weights_from_spec(fixture.seed, &case.weights), legacy);
    assert!(
        weights
            .names()
            .iter()
            .any(|name| name.ends_with("LayerNorm.gamma"))
    );
    let device = Device::flex();
    let model = EncoderReward::from_hub(&case.config.to_string(), &weights, &device).unwrap();
    let batch = batch(&case.tokens, &case.mask, case.token_types.as_ref(), &device);
    let logits = values(model.scorer.logits(&batch).unwrap());
    assert_close(
        "legacy names logits",
        &logits,
        &case.logits,
        TOLERANCE,
        false,
    );
}

/// The same tensors stored under new names.
fn renamed(weights: &Weights, rename: impl Fn(&str) -> String) -> Weights {
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = (weights.names().iter())
        .map(|name| {
            let (values, shape) = weights.read_f32(name).unwrap();
            (
                rename(name),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                shape,
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = (tensors.iter())
        .map(|(name, bytes, shape)| {
            let view = TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap();
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    Weights::from_safetensors("renamed.safetensors", bytes).unwrap()
}
