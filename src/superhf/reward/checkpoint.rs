//! Trained reward models written back as safetensors under the hub's tensor names, so that
//! the lab (`EncoderReward::from_hub`) and transformers read them as they read the originals.

use crate::LabError;
use crate::device::read;
use crate::models::checkpoint::{CheckpointTensor, HeldTensor, linear_tensors, norm_tensors};
use crate::models::encoder::TextEncoder;
use crate::models::encoder::bert::{self, BertModel};
use crate::models::encoder::distilbert::{self, DistilBertModel};
use crate::models::encoder::layer::{EncoderLayer, LayerNames};
use crate::models::encoder::reward::{PooledScalarHead, REWARD_HEAD};
use burn::nn::Embedding;
use safetensors::tensor::TensorView;

/// The head and the encoder of a pooled reward model, under the names of a plain encoder's
/// checkpoint (`embeddings.word_embeddings.weight`, ...) and `reward_head.weight` `[1, width]`,
/// `reward_head.bias` `[1]`.
pub fn pooled_reward_tensors(model: &PooledScalarHead) -> Vec<CheckpointTensor> {
    let mut tensors = head_tensors(model);
    tensors.extend(encoder_tensors(&model.encoder));
    tensors
}

/// Only the head: what a reward model trained on a frozen encoder adds to it.
pub fn head_tensors(model: &PooledScalarHead) -> Vec<CheckpointTensor> {
    linear_tensors(REWARD_HEAD, &model.head, true)
}

/// The encoder's parameters under the names of a `BertModel` or `DistilBertModel` checkpoint.
pub fn encoder_tensors(encoder: &TextEncoder) -> Vec<CheckpointTensor> {
    match encoder {
        TextEncoder::Bert(model) => bert_tensors(model),
        TextEncoder::DistilBert(model) => distilbert_tensors(model),
    }
}

fn table(name: &str, embedding: &Embedding) -> CheckpointTensor {
    let held = HeldTensor::Matrix(embedding.weight.val());
    CheckpointTensor::new(format!("{name}.weight"), held)
}

fn norm(name: &str, norm: &burn::nn::LayerNorm) -> Vec<CheckpointTensor> {
    norm_tensors(name, &norm.gamma, norm.beta.as_ref())
}

fn bert_tensors(model: &BertModel) -> Vec<CheckpointTensor> {
    let embeddings = &model.embeddings;
    let mut tensors = vec![
        table("embeddings.word_embeddings", &embeddings.words),
        table("embeddings.position_embeddings", &embeddings.positions),
        table("embeddings.token_type_embeddings", &embeddings.token_types),
    ];
    tensors.extend(norm("embeddings.LayerNorm", &embeddings.norm));
    tensors.extend(layer_tensors(&model.layers, &bert::LAYER_NAMES));
    tensors
}

fn distilbert_tensors(model: &DistilBertModel) -> Vec<CheckpointTensor> {
    let embeddings = &model.embeddings;
    let mut tensors = vec![
        table("embeddings.word_embeddings", &embeddings.words),
        table("embeddings.position_embeddings", &embeddings.positions),
    ];
    tensors.extend(norm("embeddings.LayerNorm", &embeddings.norm));
    tensors.extend(layer_tensors(&model.layers, &distilbert::LAYER_NAMES));
    tensors
}

fn layer_tensors(layers: &[EncoderLayer], names: &LayerNames) -> Vec<CheckpointTensor> {
    let mut tensors = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        for (part, linear) in layer.linears(names) {
            tensors.extend(linear_tensors(&names.of(i, part), linear, true));
        }
        for (part, layer_norm) in layer.norms(names) {
            tensors.extend(norm(&names.of(i, part), layer_norm));
        }
    }
    tensors
}

/// The bytes of a safetensors file holding the tensors as f32, in the checkpoint's layout.
pub async fn to_safetensors(tensors: &[CheckpointTensor]) -> Result<Vec<u8>, LabError> {
    let mut stored = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        let values = read(tensor.values()).await?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        stored.push((tensor.name.clone(), tensor.shape(), bytes));
    }
    let views = (stored.iter())
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes);
            view.map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| LabError::Execution(format!("cannot lay out the tensors: {error}")))?;
    safetensors::serialize(views, None)
        .map_err(|error| LabError::Execution(format!("cannot write safetensors: {error}")))
}
