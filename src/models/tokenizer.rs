//! Text to token ids and back, through Hugging Face's `tokenizers` (the same Rust code as its
//! Python binding), loaded from a `tokenizer.json` or rebuilt from a GGUF file's metadata.
//!
//! Padding and truncation are the caller's business: a `tokenizer.json` that asks for them (as
//! sentence-transformers exports do, padding every text to 128 tokens) has them switched off
//! on loading, so `encode` returns exactly the tokens of the text; the length it truncated to
//! stays available as `truncation_length`.

use crate::LabError;
use serde::{Deserialize, Serialize};
use tokenizers::models::ModelWrapper;

/// The ids of the tokens with a role, where the tokenizer has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
    pub unk: Option<u32>,
}

/// How special tokens are conventionally spelt, most common first. `tokenizer.json` records no
/// roles, so they are recognised by name; `Tokenizer::with_special_tokens` overrides them.
const BOS_NAMES: [&str; 5] = [
    "<s>",
    "<|begin_of_text|>",
    "<|startoftext|>",
    "<bos>",
    "<|endoftext|>",
];
const EOS_NAMES: [&str; 4] = ["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];
const PAD_NAMES: [&str; 4] = ["<pad>", "[PAD]", "<|pad|>", "<|padding|>"];
const UNK_NAMES: [&str; 3] = ["<unk>", "[UNK]", "<|unk|>"];

/// A tokenizer with the ids of its special tokens.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
    truncation_length: Option<usize>,
}

impl Tokenizer {
    /// A tokenizer from the bytes of a `tokenizer.json`. Special tokens are found by their
    /// conventional names (`<s>`, `</s>`, `<|endoftext|>`, `[PAD]`, ...), the padding token the
    /// file names, and the model's unknown token.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, LabError> {
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|error| {
            LabError::Tokenizer(format!(
                "the tokenizer.json is not readable ({error}); it may be truncated, or not a \
                 tokenizer file of Hugging Face's tokenizers"
            ))
        })?;
        let pad_named = inner.get_padding().map(|padding| padding.pad_id);
        let truncation_length = inner
            .get_truncation()
            .map(|truncation| truncation.max_length);
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|error| LabError::Tokenizer(error.to_string()))?;
        let special = SpecialTokens {
            bos: find_special(&inner, &BOS_NAMES),
            eos: find_special(&inner, &EOS_NAMES),
            pad: pad_named.or_else(|| find_special(&inner, &PAD_NAMES)),
            unk: model_unk(&inner).or_else(|| find_special(&inner, &UNK_NAMES)),
        };
        Ok(Self {
            inner,
            special,
            truncation_length,
        })
    }

    /// Wraps a tokenizer built in code, with the given special tokens.
    pub fn from_parts(inner: tokenizers::Tokenizer, special: SpecialTokens) -> Self {
        Self {
            inner,
            special,
            truncation_length: None,
        }
    }

    /// The same tokenizer with other special-token roles.
    pub fn with_special_tokens(mut self, special: SpecialTokens) -> Self {
        self.special = special;
        self
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// The ids of `text`; with `add_special_tokens`, framed as the tokenizer's post-processor
    /// says (`[CLS] ... [SEP]` for BERT, a leading BOS for some decoders, nothing for GPT-2).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, LabError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|error| LabError::Tokenizer(format!("encoding failed: {error}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The ids of each text. One after the other rather than on threads, which a browser
    /// worker does not have.
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>, LabError> {
        texts
            .iter()
            .map(|text| self.encode(text.as_ref(), add_special_tokens))
            .collect()
    }

    /// The text of `ids`, leaving out special tokens when `skip_special_tokens`. Ids outside
    /// the vocabulary are skipped, as the reference tokenizer skips them.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, LabError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|error| LabError::Tokenizer(format!("decoding failed: {error}")))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The length a `tokenizer.json` asked to truncate to (sentence-transformers' exports
    /// name the length their encoder was trained with), for callers that truncate.
    pub fn truncation_length(&self) -> Option<usize> {
        self.truncation_length
    }

    pub fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.special.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.special.eos
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.special.pad
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.special.unk
    }

    /// How many distinct tokens it knows, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// One more than the largest id it can produce: the embedding rows a model needs.
    pub fn id_bound(&self) -> usize {
        let vocab = self.inner.get_vocab(true);
        vocab.values().max().map_or(0, |&id| id as usize + 1)
    }

    /// Fails unless every id it produces has a row in a model's embedding of `vocab_size`
    /// rows. A model's vocabulary may be larger than its tokenizer's (padded for speed), never
    /// smaller.
    pub fn check_fits(&self, vocab_size: usize) -> Result<(), LabError> {
        let bound = self.id_bound();
        if bound > vocab_size {
            return Err(LabError::Tokenizer(format!(
                "the tokenizer produces ids up to {}, but the model's vocabulary has only \
                 {vocab_size} entries: the tokenizer does not belong to this model",
                bound - 1
            )));
        }
        Ok(())
    }
}

/// The first of `names` that the tokenizer knows as a special token.
fn find_special(tokenizer: &tokenizers::Tokenizer, names: &[&str]) -> Option<u32> {
    let added = tokenizer.get_added_tokens_decoder();
    names.iter().find_map(|name| {
        let (&id, _) = added
            .iter()
            .find(|(_, token)| token.special && token.content == *name)?;
        Some(id)
    })
}

/// The id of the model's own unknown token, for the models that name one.
fn model_unk(tokenizer: &tokenizers::Tokenizer) -> Option<u32> {
    let name = match tokenizer.get_model() {
        ModelWrapper::BPE(bpe) => bpe.get_unk_token().clone()?,
        ModelWrapper::WordPiece(wordpiece) => wordpiece.unk_token.clone(),
        ModelWrapper::WordLevel(wordlevel) => wordlevel.unk_token.clone(),
        ModelWrapper::Unigram(_) => return None,
    };
    tokenizer.token_to_id(&name)
}
