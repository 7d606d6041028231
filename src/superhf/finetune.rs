//! SuperHF's fine-tuning: the kept completions, each after its prompt, trained with
//! cross-entropy on the completion tokens plus the KL prior towards the reference model, one
//! AdamW step per minibatch.
//!
//! Only positions whose next token belongs to a completion count; the prompt and the padding
//! do not. The logits are projected from the first such position on, so a long prompt costs
//! hidden states but no full-vocabulary logits.

use super::loss::{SuperHfLoss, superhf_loss};
use super::rollout::PromptTurn;
use super::schedule::CosineWithWarmup;
use crate::LabError;
use crate::device::read;
use crate::models::CausalLm;
use crate::models::generate::tokens_tensor;
use crate::models::language_model::LanguageModel;
use crate::models::tokenizer::Tokenizer;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// PyTorch's AdamW epsilon, which the reference trains with.
const ADAM_EPSILON: f32 = 1e-8;

/// One kept completion as a training sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The prompt's tokens, then the completion's.
    pub tokens: Vec<u32>,
    /// How many of `tokens` are the prompt's.
    pub prompt_len: usize,
}

impl Example {
    /// The prompt's tokens followed by those of `" " + completion` (the text the reward model
    /// scored after the prompt), cut to the model's `max_positions`.
    pub fn new(
        prompt: &PromptTurn,
        completion: &str,
        tokenizer: &Tokenizer,
        max_positions: usize,
    ) -> Result<Self, LabError> {
        let mut tokens = prompt.tokens.clone();
        tokens.extend(tokenizer.encode(&format!(" {completion}"), false)?);
        tokens.truncate(max_positions);
        Ok(Self {
            tokens,
            prompt_len: prompt.tokens.len(),
        })
    }
}

/// A minibatch of examples as tensors.
///
/// Shapes: `inputs` is `[batch, positions]`, every sequence but its last token, padded on the
/// right; `targets` and `mask` are `[batch, positions - first]`, the token each position from
/// `first` on predicts, and 1 where that token is a completion token.
#[derive(Debug, Clone)]
pub struct TrainingBatch {
    pub inputs: Tensor<2, Int>,
    pub targets: Tensor<2, Int>,
    pub mask: Tensor<2>,
    /// The first position whose target is a completion token in some sequence.
    pub first: usize,
}

impl TrainingBatch {
    pub fn new(examples: &[Example], device: &Device) -> Result<Self, LabError> {
        let positions = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
        if positions < 2 || examples.iter().any(|example| example.tokens.is_empty()) {
            return Err(LabError::Config(
                "a training batch needs sequences of tokens, one at least two long".into(),
            ));
        }
        let positions = positions - 1;
        let first = (examples.iter())
            .map(|example| example.prompt_len.max(1) - 1)
            .min()
            .unwrap_or(0)
            .min(positions - 1);
        let row = |tokens: &[u32], from: usize| -> Vec<u32> {
            (from..positions)
                .map(|i| tokens.get(i).copied().unwrap_or(0))
                .collect()
        };
        let inputs: Vec<Vec<u32>> = (examples.iter())
            .map(|example| row(&example.tokens[..example.tokens.len() - 1], 0))
            .collect();
        let targets: Vec<Vec<u32>> = (examples.iter())
            .map(|example| row(&example.tokens[1..], first))
            .collect();
        let mask: Vec<f32> = (examples.iter())
            .flat_map(|example| {
                let (start, end) = (example.prompt_len, example.tokens.len());
                (first..positions).map(move |t| f32::from(u8::from(start <= t + 1 && t + 1 < end)))
            })
            .collect();
        Ok(Self {
            inputs: tokens_tensor(&inputs, device),
            targets: tokens_tensor(&targets, device),
            mask: Tensor::from_data(
                TensorData::new(mask, [examples.len(), positions - first]),
                device,
            ),
            first,
        })
    }
}

/// SuperHF's loss of one minibatch: `reference` is the frozen initial policy (for LoRA, the
/// policy with its adapters switched off).
pub fn minibatch_loss(
    policy: &impl CausalLm,
    reference: &impl CausalLm,
    batch: &TrainingBatch,
    kl_coefficient: f64,
) -> SuperHfLoss {
    let logits = |model: &dyn CausalLm| {
        let hidden = model.hidden(batch.inputs.clone());
        let [_, positions, _] = hidden.dims();
        model.project(hidden.narrow(1, batch.first, positions - batch.first))
    };
    superhf_loss(
        logits(policy),
        logits(reference),
        batch.targets.clone(),
        batch.mask.clone(),
        kl_coefficient,
    )
}

/// The loss terms of one optimiser step, read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLoss {
    pub total: f64,
    pub cross_entropy: f64,
    pub kl: f64,
    pub learning_rate: f64,
}

/// AdamW on the policy's trainable parameters, on the learning-rate schedule.
pub struct FineTuner {
    optimizer: ModuleOptimizer,
    schedule: CosineWithWarmup,
    steps_taken: usize,
    kl_coefficient: f64,
    minibatch_size: usize,
}

impl FineTuner {
    pub fn new(
        schedule: CosineWithWarmup,
        weight_decay: f64,
        kl_coefficient: f64,
        minibatch_size: usize,
    ) -> Self {
        let optimizer = AdamWConfig::new()
            .with_epsilon(ADAM_EPSILON)
            .with_weight_decay(weight_decay as f32)
            .init();
        Self {
            optimizer,
            schedule,
            steps_taken: 0,
            kl_coefficient,
            minibatch_size,
        }
    }

    /// One optimiser step per minibatch of `examples`, in order, for SuperHF step `step`.
    /// `dropout_seed` seeds the adapters' dropout (each minibatch its own masks). A loss that
    /// is not finite stops before its optimiser step, leaving `policy` as the last one made it.
    pub async fn train(
        &mut self,
        policy: &mut LanguageModel,
        reference: &LanguageModel,
        examples: &[Example],
        (step, dropout_seed): (usize, u64),
        device: &Device,
    ) -> Result<Vec<StepLoss>, LabError> {
        let mut losses = Vec::new();
        for (index, minibatch) in examples.chunks(self.minibatch_size).enumerate() {
            let batch = TrainingBatch::new(minibatch, device)?;
            let seed = dropout_seed.wrapping_add(index as u64);
            let dropped_out = policy.clone().with_adapter_dropout(Some(seed));
            let loss = minibatch_loss(&dropped_out, reference, &batch, self.kl_coefficient);
            let learning_rate = self.schedule.learning_rate(self.steps_taken);
            let terms = read_terms(&loss).await?;
            let [total, cross_entropy, kl] = terms;
            if !terms.iter().all(|value| value.is_finite()) {
                return Err(LabError::Diverged {
                    step,
                    what: format!(
                        "the loss is {total} (cross-entropy {cross_entropy}, KL {kl}); lower the \
                         learning rate ({learning_rate:e} at this step)"
                    ),
                });
            }
            let gradients = GradientsParams::from_grads(loss.total.backward(), &dropped_out);
            // The step writes new tensors; the policy's old ones are released with it.
            *policy = (self.optimizer)
                .step(learning_rate, dropped_out, gradients)
                .with_adapter_dropout(None);
            self.steps_taken += 1;
            losses.push(StepLoss {
                total,
                cross_entropy,
                kl,
                learning_rate,
            });
        }
        Ok(losses)
    }
}

async fn read_terms(loss: &SuperHfLoss) -> Result<[f64; 3], LabError> {
    let terms = [&loss.total, &loss.cross_entropy, &loss.kl].map(|t| t.clone().detach());
    let values = read(Tensor::cat(terms.to_vec(), 0)).await?;
    Ok([0, 1, 2].map(|i| f64::from(values[i])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(tensor: Tensor<2, Int>) -> Vec<i32> {
        tensor.into_data().convert::<i32>().try_to_vec().unwrap()
    }

    /// Prompts of different lengths: positions start at the earliest completion target, and
    /// only completion tokens count.
    #[test]
    fn a_batch_masks_prompts_and_padding() {
        let examples = [
            Example {
                tokens: vec![1, 2, 3, 4, 5, 6],
                prompt_len: 2,
            },
            Example {
                tokens: vec![7, 8, 9, 10],
                prompt_len: 3,
            },
        ];
        let batch = TrainingBatch::new(&examples, &Device::flex()).unwrap();
        assert_eq!(batch.first, 1);
        assert_eq!(ints(batch.inputs), [1, 2, 3, 4, 5, 7, 8, 9, 0, 0]);
        assert_eq!(ints(batch.targets), [3, 4, 5, 6, 9, 10, 0, 0]);
        let mask: Vec<f32> = batch.mask.into_data().try_to_vec().unwrap();
        assert_eq!(mask, [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        let empty = [Example {
            tokens: Vec::new(),
            prompt_len: 0,
        }];
        assert!(TrainingBatch::new(&empty, &Device::flex()).is_err());
    }
}
