//! Trained reward models written back as safetensors under the hub's tensor names, so that
//! the lab (`EncoderReward::from_hub`) and transformers read them as they read the originals.

use super::train::read;
use crate::LabError;
use crate::models::checkpoint::{CheckpointTensor, HeldTensor, linear_tensors, norm_tensors};
use crate::models::encoder::TextEncoder;
use crate::models::encoder::bert::BertModel;
use crate::models::encoder::distilbert::DistilBertModel;
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
    for (i, layer) in model.layers.iter().enumerate() {
        let name = |part: &str| format!("encoder.layer.{i}.{part}");
        let linears = [
            ("attention.self.query", &layer.query),
            ("attention.self.key", &layer.key),
            ("attention.self.value", &layer.value),
            ("attention.output.dense", &layer.attention_out),
            ("intermediate.dense", &layer.intermediate),
            ("output.dense", &layer.output),
        ];
        for (part, linear) in linears {
            tensors.extend(linear_tensors(&name(part), linear, true));
        }
        tensors.extend(norm(
            &name("attention.output.LayerNorm"),
            &layer.norm_attention,
        ));
        tensors.extend(norm(&name("output.LayerNorm"), &layer.norm_output));
    }
    tensors
}

fn distilbert_tensors(model: &DistilBertModel) -> Vec<CheckpointTensor> {
    let embeddings = &model.embeddings;
    let mut tensors = vec![
        table("embeddings.word_embeddings", &embeddings.words),
        table("embeddings.position_embeddings", &embeddings.positions),
    ];
    tensors.extend(norm("embeddings.LayerNorm", &embeddings.norm));
    for (i, layer) in model.layers.iter().enumerate() {
        let name = |part: &str| format!("transformer.layer.{i}.{part}");
        let linears = [
            ("attention.q_lin", &layer.query),
            ("attention.k_lin", &layer.key),
            ("attention.v_lin", &layer.value),
            ("attention.out_lin", &layer.attention_out),
            ("ffn.lin1", &layer.ffn_in),
            ("ffn.lin2", &layer.ffn_out),
        ];
        for (part, linear) in linears {
            tensors.extend(linear_tensors(&name(part), linear, true));
        }
        tensors.extend(norm(&name("sa_layer_norm"), &layer.norm_attention));
        tensors.extend(norm(&name("output_layer_norm"), &layer.norm_output));
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
