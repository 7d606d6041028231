//! Training items over a pool of tokenised texts: labelled texts for regression, or pairs of
//! texts for the Bradley-Terry loss; their losses on the device and their evaluation on the
//! host.

use super::config::RewardLoss;
use super::data::pairs_from_labels;
use super::metrics::{pair_accuracy, pearson, spearman};
use crate::LabError;
use crate::rng::SplitMix64;
use crate::superhf::loss::bradley_terry;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

/// Token ids of training texts and the id that pads them into batches.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenisedData {
    pub pad_id: u32,
    pub items: TokenisedItems,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenisedItems {
    Labelled {
        sequences: Vec<Vec<u32>>,
        labels: Vec<f32>,
    },
    Pairs {
        chosen: Vec<Vec<u32>>,
        rejected: Vec<Vec<u32>>,
    },
}

/// The mean squared error between rewards and labels.
///
/// Shapes: both are `[texts]`; the result is `[1]`.
pub fn regression_loss(rewards: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    (rewards - labels).powi_scalar(2).mean()
}

/// How rewards fare on items set aside from training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub items: usize,
    /// The training loss on these items.
    pub loss: f64,
    /// Pairs: the fraction whose chosen text gets the higher reward.
    pub accuracy: Option<f64>,
    /// Labelled texts: the correlations of rewards with labels.
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
}

impl Evaluation {
    /// The metrics as a progress event names them, under `prefix`.
    pub fn metrics(&self, prefix: &str) -> Vec<(String, f64)> {
        let named = [
            ("loss", Some(self.loss)),
            ("accuracy", self.accuracy),
            ("pearson", self.pearson),
            ("spearman", self.spearman),
        ];
        (named.into_iter())
            .filter_map(|(name, value)| Some((format!("{prefix}_{name}"), value?)))
            .collect()
    }
}

pub(super) enum Items {
    /// (text, label).
    Labels(Vec<(usize, f32)>),
    /// (chosen text, rejected text).
    Pairs(Vec<(usize, usize)>),
}

/// Every distinct text once, and the items that refer to them by index, so that a frozen
/// encoder embeds each text once.
pub(super) struct Problem {
    pub sequences: Vec<Vec<u32>>,
    pub pad_id: u32,
    pub items: Items,
}

impl Problem {
    pub fn new(
        data: &TokenisedData,
        loss: RewardLoss,
        numbers: &mut SplitMix64,
    ) -> Result<Self, LabError> {
        let (sequences, items) = match (&data.items, loss) {
            (TokenisedItems::Labelled { sequences, labels }, RewardLoss::Regression) => {
                let items = labels.iter().copied().enumerate().collect();
                (sequences.clone(), Items::Labels(items))
            }
            (TokenisedItems::Labelled { sequences, labels }, RewardLoss::BradleyTerry) => {
                let pairs = pairs_from_labels(labels, numbers);
                (sequences.clone(), Items::Pairs(pairs))
            }
            (TokenisedItems::Pairs { chosen, rejected }, RewardLoss::BradleyTerry) => {
                let sequences = chosen.iter().zip(rejected);
                let sequences = sequences
                    .flat_map(|(c, r)| [c.clone(), r.clone()])
                    .collect();
                let pairs = (0..chosen.len()).map(|i| (2 * i, 2 * i + 1)).collect();
                (sequences, Items::Pairs(pairs))
            }
            (TokenisedItems::Pairs { .. }, RewardLoss::Regression) => {
                return Err(LabError::Config(
                    "preference pairs have no labels to regress on: train them with the \
                     Bradley-Terry loss"
                        .into(),
                ));
            }
        };
        if let TokenisedItems::Labelled { sequences, labels } = &data.items
            && sequences.len() != labels.len()
        {
            return Err(LabError::Config(format!(
                "{} texts but {} labels: each text needs one label",
                sequences.len(),
                labels.len()
            )));
        }
        if let Some(empty) = sequences.iter().position(Vec::is_empty) {
            return Err(LabError::Config(format!(
                "text {} has no tokens: every text needs at least one",
                empty + 1
            )));
        }
        let problem = Self {
            sequences,
            pad_id: data.pad_id,
            items,
        };
        if problem.len() == 0 {
            return Err(LabError::Config(
                "there is nothing to train on: no texts, or no pair of texts with different \
                 labels"
                    .into(),
            ));
        }
        Ok(problem)
    }

    pub fn len(&self) -> usize {
        match &self.items {
            Items::Labels(items) => items.len(),
            Items::Pairs(items) => items.len(),
        }
    }

    /// The texts the items need scored, in the order [`Problem::loss`] reads their rewards:
    /// each labelled text; or every chosen text, then every rejected one.
    pub fn texts_of(&self, items: &[usize]) -> Vec<usize> {
        match &self.items {
            Items::Labels(all) => items.iter().map(|&i| all[i].0).collect(),
            Items::Pairs(all) => (items.iter().map(|&i| all[i].0))
                .chain(items.iter().map(|&i| all[i].1))
                .collect(),
        }
    }

    /// The loss of the items from the rewards of [`Problem::texts_of`].
    ///
    /// Shapes: `rewards` is `[texts]`; the result is `[1]`.
    pub fn loss(&self, rewards: Tensor<1>, items: &[usize], device: &Device) -> Tensor<1> {
        let count = items.len();
        match &self.items {
            Items::Labels(all) => {
                let labels: Vec<f32> = items.iter().map(|&i| all[i].1).collect();
                let labels = Tensor::from_data(TensorData::new(labels, [count]), device);
                regression_loss(rewards, labels)
            }
            Items::Pairs(_) => bradley_terry(
                rewards.clone().narrow(0, 0, count),
                rewards.narrow(0, count, count),
            ),
        }
    }

    /// The loss and agreement metrics from rewards read back to the host.
    pub fn evaluate(&self, rewards: &[f32], items: &[usize]) -> Evaluation {
        let count = items.len();
        match &self.items {
            Items::Labels(all) => {
                let labels: Vec<f32> = items.iter().map(|&i| all[i].1).collect();
                let squared = (rewards.iter().zip(&labels))
                    .map(|(&r, &y)| (f64::from(r) - f64::from(y)).powi(2));
                Evaluation {
                    items: count,
                    loss: squared.sum::<f64>() / count.max(1) as f64,
                    accuracy: None,
                    pearson: Some(pearson(rewards, &labels)),
                    spearman: Some(spearman(rewards, &labels)),
                }
            }
            Items::Pairs(_) => {
                let (chosen, rejected) = rewards.split_at(count);
                let losses = (chosen.iter().zip(rejected))
                    .map(|(&c, &r)| softplus(f64::from(r) - f64::from(c)));
                Evaluation {
                    items: count,
                    loss: losses.sum::<f64>() / count.max(1) as f64,
                    accuracy: Some(pair_accuracy(chosen, rejected)),
                    pearson: None,
                    spearman: None,
                }
            }
        }
    }
}

/// `ln(1 + e^x)` without overflow: `-log sigmoid(c - r)` is `softplus(r - c)`.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
