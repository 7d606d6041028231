//! The real all-MiniLM-L6-v2 encoder (the cached asset `models/all-MiniLM-L6-v2/`) against
//! Hugging Face transformers and sentence-transformers' pooling, on six English sentences.
//!
//! The reference values come from `tests/oracle/minilm.py`: the sentences tokenised by the
//! `tokenizers` package from the asset's `tokenizer.json` (ids and mask in the fixture),
//! transformers' `BertModel` on the asset's weights, the mean of the last hidden states over
//! the mask, then normalisation to unit length.
//!
//! Tolerance 1e-4 (absolute): both sides compute in f32 through six layers of width 384 with
//! values of order one; summation orders differ, which moves results by about 1e-6.

mod common;

use burn::tensor::{Device, Tensor};
use common::{assert_close, read_asset};
use serde::Deserialize;
use superlab::models::encoder::TextEncoder;
use superlab::models::encoder::batch::TokenBatch;
use superlab::models::encoder::pooling::mean_over_tokens;
use superlab::models::encoder::reward::{EncoderReward, LogitReading, RewardModel, Scorer};
use superlab::models::weights::Weights;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    tokens: Vec<Vec<u32>>,
    mask: Vec<Vec<u32>>,
    token_types: Vec<Vec<u32>>,
    first_position: Vec<f64>,
    pooled_norms: Vec<f64>,
    embeddings: Vec<f64>,
    cosine_similarities: Vec<f64>,
}

struct MiniLm {
    config_json: String,
    weights: Weights,
}

fn minilm() -> MiniLm {
    let config = read_asset("models/all-MiniLM-L6-v2/config.json");
    let weights = read_asset("models/all-MiniLM-L6-v2/model.safetensors");
    MiniLm {
        config_json: String::from_utf8(config).expect("config.json is UTF-8"),
        weights: Weights::from_safetensors("model.safetensors", weights).unwrap(),
    }
}

/// The fixture's rows cut back to their real tokens and padded again by the lab.
fn batch(fixture: &Fixture, device: &Device) -> TokenBatch {
    let lengths = fixture
        .mask
        .iter()
        .map(|row| row.iter().sum::<u32>() as usize);
    let cut = |rows: &[Vec<u32>]| -> Vec<Vec<u32>> {
        rows.iter()
            .zip(lengths.clone())
            .map(|(row, n)| row[..n].to_vec())
            .collect()
    };
    let batch = TokenBatch::right_padded(&cut(&fixture.tokens), 0, device).unwrap();
    assert_eq!(
        batch.dims(),
        [fixture.tokens.len(), fixture.tokens[0].len()]
    );
    batch.with_token_types(&cut(&fixture.token_types)).unwrap()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

/// Unit-length sentence embeddings, their cosine similarities, the norms of the pooled
/// vectors before normalisation and the first position's hidden states.
#[test]
fn sentence_embeddings_match_sentence_transformers() {
    let fixture: Fixture = common::fixture("minilm");
    let model = minilm();
    let device = Device::flex();
    let encoder = TextEncoder::from_hub(&model.config_json, &model.weights, &device).unwrap();
    assert!(matches!(encoder, TextEncoder::Bert(_)));
    assert_eq!(encoder.width(), 384);
    let batch = batch(&fixture, &device);

    let hidden = encoder.forward(&batch).unwrap();
    let [sentences, _, width] = hidden.dims();
    let first = hidden.clone().narrow(1, 0, 1).reshape([sentences, width]);
    assert_close(
        "first position",
        &values(first),
        &fixture.first_position,
        TOLERANCE,
        false,
    );
    let norms = mean_over_tokens(hidden, batch.mask())
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt();
    assert_close(
        "pooled norms",
        &values(norms),
        &fixture.pooled_norms,
        TOLERANCE,
        false,
    );

    let embeddings = encoder.sentence_embeddings(&batch).unwrap();
    let similarities = embeddings.clone().matmul(embeddings.clone().transpose());
    assert_close(
        "embeddings",
        &values(embeddings),
        &fixture.embeddings,
        TOLERANCE,
        false,
    );
    assert_close(
        "cosine similarities",
        &values(similarities),
        &fixture.cosine_similarities,
        TOLERANCE,
        false,
    );
}

/// As a reward model, the plain encoder gets a scalar head of zeros on its pooled states:
/// every sentence scores 0 until the head is trained.
#[test]
fn the_encoder_becomes_an_untrained_reward_model() {
    let fixture: Fixture = common::fixture("minilm");
    let model = minilm();
    let device = Device::flex();
    let reward = EncoderReward::from_hub(&model.config_json, &model.weights, &device).unwrap();
    assert_eq!(reward.reading(), LogitReading::Single);
    let Scorer::Pooled(pooled) = &reward.scorer else {
        panic!("a BertModel checkpoint gets a pooled head")
    };
    assert_eq!(pooled.head.weight.dims(), [384, 1]);
    let rewards = values(reward.rewards(&batch(&fixture, &device)).unwrap());
    assert_eq!(rewards, vec![0.0; fixture.tokens.len()]);
}
