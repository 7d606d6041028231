//! A batch of token sequences for an encoder: ids, the attention mask that tells real tokens
//! from padding, and optional token types (BERT's segment ids).

use crate::LabError;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// Shapes: `tokens`, `mask` and `token_types` are `[batch, seq]`; `mask` is 1 at real tokens
/// and 0 at padding, as a tokenizer's `attention_mask`.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    token_types: Option<Tensor<2, Int>>,
    /// Known when the batch was built from host values, so that ids past a model's tables are
    /// an error rather than an out-of-bounds read on the device.
    lengths: Option<Vec<usize>>,
    largest_token: Option<u32>,
    largest_type: Option<u32>,
}

impl TokenBatch {
    /// Sequences of different lengths, each padded on the right with `pad_id` to the longest.
    pub fn right_padded<S: AsRef<[u32]>>(
        sequences: &[S],
        pad_id: u32,
        device: &Device,
    ) -> Result<Self, LabError> {
        let lengths: Vec<usize> = sequences.iter().map(|s| s.as_ref().len()).collect();
        if lengths.is_empty() || lengths.contains(&0) {
            return Err(LabError::Config(
                "an encoder needs at least one sequence, and every sequence needs at least one \
                 token"
                    .into(),
            ));
        }
        let longest = *lengths.iter().max().unwrap_or(&0);
        let mask_rows: Vec<Vec<u32>> = lengths.iter().map(|&len| vec![1; len]).collect();
        let largest_token = sequences.iter().flat_map(|s| s.as_ref()).copied().max();
        Ok(Self {
            tokens: padded(sequences, pad_id, longest, device),
            mask: padded(&mask_rows, 0, longest, device),
            token_types: None,
            lengths: Some(lengths),
            largest_token,
            largest_type: None,
        })
    }

    /// Adds token types (segment ids) to a batch built by [`TokenBatch::right_padded`], one
    /// per token of each sequence; they are padded with 0.
    pub fn with_token_types<S: AsRef<[u32]>>(mut self, types: &[S]) -> Result<Self, LabError> {
        let [_, longest] = self.tokens.dims();
        let lengths = self.lengths.as_deref().unwrap_or_default();
        let fits = types.len() == lengths.len()
            && (types.iter().zip(lengths)).all(|(t, &len)| t.as_ref().len() == len);
        if !fits {
            return Err(LabError::Config(
                "the token types must give one type for every token of every sequence".into(),
            ));
        }
        self.largest_type = types.iter().flat_map(|t| t.as_ref()).copied().max();
        self.token_types = Some(padded(types, 0, longest, &self.tokens.device()));
        Ok(self)
    }

    /// A batch already on the device. Its ids are not checked against a model's tables:
    /// they must be smaller than the vocabulary size.
    pub fn from_tensors(
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Int>,
        token_types: Option<Tensor<2, Int>>,
    ) -> Result<Self, LabError> {
        let shapes_agree = mask.dims() == tokens.dims()
            && (token_types.as_ref()).is_none_or(|types| types.dims() == tokens.dims());
        if !shapes_agree {
            return Err(LabError::Config(format!(
                "the tokens are {:?} but the mask is {:?}: they must have one shape",
                tokens.dims(),
                mask.dims()
            )));
        }
        Ok(Self {
            tokens,
            mask,
            token_types,
            lengths: None,
            largest_token: None,
            largest_type: None,
        })
    }

    /// `[batch, seq]`.
    pub fn dims(&self) -> [usize; 2] {
        self.tokens.dims()
    }

    pub fn tokens(&self) -> Tensor<2, Int> {
        self.tokens.clone()
    }

    /// 1 at real tokens, 0 at padding.
    pub fn mask(&self) -> Tensor<2, Int> {
        self.mask.clone()
    }

    /// True at padding: the keys no query may attend to.
    pub fn padding(&self) -> Tensor<2, Bool> {
        self.mask.clone().equal_elem(0)
    }

    /// The token types, or all zeros (the first segment) when none were given.
    pub fn token_types(&self) -> Tensor<2, Int> {
        match &self.token_types {
            Some(types) => types.clone(),
            None => Tensor::zeros(self.dims(), &self.tokens.device()),
        }
    }

    /// Refuses a batch that a model with these tables cannot read.
    pub(crate) fn check_fits(
        &self,
        model: &str,
        vocab_size: usize,
        type_vocab_size: usize,
        max_positions: usize,
    ) -> Result<(), LabError> {
        let [_, seq] = self.dims();
        if seq > max_positions {
            return Err(LabError::Config(format!(
                "{model} reads at most {max_positions} tokens per sequence, but the batch has \
                 {seq}: truncate the sequences"
            )));
        }
        if let Some(largest) = self.largest_token.filter(|&id| id as usize >= vocab_size) {
            return Err(LabError::Config(format!(
                "the token id {largest} is outside {model}'s vocabulary of {vocab_size}: the \
                 tokenizer does not belong to this model"
            )));
        }
        if let Some(largest) = self.largest_type.filter(|&t| t as usize >= type_vocab_size) {
            return Err(LabError::Config(match type_vocab_size {
                1 => format!("{model} has no token types: give none (or only type 0)"),
                _ => format!(
                    "the token type {largest} is outside {model}'s {type_vocab_size} token types"
                ),
            }));
        }
        Ok(())
    }
}

/// Rows of different lengths as a `[rows, width]` tensor, filled on the right with `fill`.
fn padded<S: AsRef<[u32]>>(rows: &[S], fill: u32, width: usize, device: &Device) -> Tensor<2, Int> {
    let values: Vec<i32> = rows
        .iter()
        .flat_map(|row| {
            let row = row.as_ref();
            (0..width).map(move |i| row.get(i).copied().unwrap_or(fill) as i32)
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), width]), device)
}
