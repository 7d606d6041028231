//! The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`), rebuilt as a
//! `tokenizers` tokenizer. The lab reads byte-level BPE (`tokenizer.ggml.model` = `gpt2`):
//! the tokens in id order, the merges in rank order, the token types (3 marks control tokens
//! such as `<|im_start|>`, 4 user-defined ones), the ids of the special tokens, and the name of
//! the pre-tokenizer (`tokenizer.ggml.pre`), which decides where words may be split.

use super::GgufFile;
use crate::LabError;
use crate::models::tokenizer::{SpecialTokens, Tokenizer};
use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper};

/// Which reading of the metadata to follow where llama.cpp and transformers differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GgufTokenizerFlavor {
    /// As the file describes the tokenizer and llama.cpp runs it: the pre-tokenizer that
    /// `tokenizer.ggml.pre` names (`smollm` splits every digit off before GPT-2's word
    /// pattern, as SmolLM2 was trained), user-defined tokens added, and BOS or EOS framing only
    /// where `tokenizer.ggml.add_bos_token` and `add_eos_token` ask for it.
    #[default]
    AsFile,
    /// As transformers 4.57 rebuilds it for a Llama model (`AutoTokenizer.from_pretrained(...,
    /// gguf_file=...)`): GPT-2's byte-level pre-tokenizer whatever the file names, and the BOS
    /// token in front of every text when special tokens are added. It differs from `AsFile`
    /// where whitespace runs precede digits and in that framing; use it to match a reference
    /// computed with transformers.
    Transformers,
}

/// llama.cpp's token types.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The tokenizer in `file`'s metadata. Its special-token ids are the file's
/// (`tokenizer.ggml.bos_token_id`, ...) in both flavors.
pub fn tokenizer_from_gguf(
    file: &GgufFile,
    flavor: GgufTokenizerFlavor,
) -> Result<Tokenizer, LabError> {
    let name = file.file_name();
    let kind = file.require_str("tokenizer.ggml.model")?;
    if kind != "gpt2" {
        return Err(LabError::Tokenizer(format!(
            "{name} holds a tokenizer of the kind {kind}; the lab rebuilds byte-level BPE \
             tokenizers (tokenizer.ggml.model = gpt2) from GGUF files"
        )));
    }
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = merges(file)?;
    let special = SpecialTokens {
        bos: token_id(file, "tokenizer.ggml.bos_token_id", tokens.len())?,
        eos: token_id(file, "tokenizer.ggml.eos_token_id", tokens.len())?,
        pad: token_id(file, "tokenizer.ggml.padding_token_id", tokens.len())?,
        unk: token_id(file, "tokenizer.ggml.unknown_token_id", tokens.len())?,
    };
    let content = |id: Option<u32>| id.map(|id| tokens[id as usize].to_string());

    let vocab: Vocab = (tokens.iter().enumerate())
        .map(|(id, token)| (token.to_string(), id as u32))
        .collect();
    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unk) = content(special.unk) {
        bpe = bpe.unk_token(unk);
    }
    let bpe = bpe.build().map_err(|error| {
        LabError::Tokenizer(format!(
            "{name}: the tokenizer's merges do not fit its tokens: {error}"
        ))
    })?;
    let mut inner = tokenizers::Tokenizer::new(bpe);

    let (control, user_defined) = added_tokens(file, &tokens, special)?;
    inner.add_special_tokens(&control);
    if flavor == GgufTokenizerFlavor::AsFile {
        inner.add_tokens(&user_defined);
    }

    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = match flavor {
        GgufTokenizerFlavor::AsFile => pre_tokenizer_named(file)?,
        GgufTokenizerFlavor::Transformers => byte_level.into(),
    };
    inner.with_pre_tokenizer(Some(pre_tokenizer));

    let decoder: DecoderWrapper = match flavor {
        GgufTokenizerFlavor::AsFile => byte_level.into(),
        // transformers' decoder for Llama tokenizers, byte-level included; for byte-level
        // vocabularies the first three steps change nothing but are kept for equality.
        GgufTokenizerFlavor::Transformers => DecoderSequence::new(vec![
            ByteFallback::new().into(),
            Fuse::new().into(),
            Replace::new("\u{2581}", " ")
                .expect("a plain pattern")
                .into(),
            byte_level.into(),
        ])
        .into(),
    };
    inner.with_decoder(Some(decoder));

    let (add_bos, add_eos) = match flavor {
        GgufTokenizerFlavor::AsFile => (
            file.optional_bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(false),
            file.optional_bool("tokenizer.ggml.add_eos_token")?
                .unwrap_or(false),
        ),
        GgufTokenizerFlavor::Transformers => (true, false),
    };
    let bos = content(special.bos).filter(|_| add_bos).zip(special.bos);
    let eos = content(special.eos).filter(|_| add_eos).zip(special.eos);
    if let Some(framing) = framing(bos, eos) {
        inner.with_post_processor(Some(framing));
    }
    Ok(Tokenizer::from_parts(inner, special))
}

/// A string array of the metadata.
fn strings<'f>(file: &'f GgufFile, key: &str) -> Result<Vec<&'f str>, LabError> {
    (file.require_array(key)?.iter())
        .map(|value| {
            value.as_str().ok_or_else(|| {
                LabError::Tokenizer(format!(
                    "{}: {key} holds a {} where strings belong",
                    file.file_name(),
                    value.type_name()
                ))
            })
        })
        .collect()
}

/// Merges are stored as "left right"; byte-level tokens never contain a space.
fn merges(file: &GgufFile) -> Result<Merges, LabError> {
    let merges = strings(file, "tokenizer.ggml.merges")?;
    (merges.iter().enumerate())
        .map(|(rank, merge)| {
            let (left, right) = merge.split_once(' ').ok_or_else(|| {
                LabError::Tokenizer(format!(
                    "{}: merge {rank} ({merge:?}) is not two tokens separated by a space",
                    file.file_name()
                ))
            })?;
            Ok((left.to_string(), right.to_string()))
        })
        .collect()
}

/// An optional token id, which must name one of the tokens.
fn token_id(file: &GgufFile, key: &str, token_count: usize) -> Result<Option<u32>, LabError> {
    let Some(id) = file.optional_u64(key)? else {
        return Ok(None);
    };
    match u32::try_from(id) {
        Ok(id) if (id as usize) < token_count => Ok(Some(id)),
        _ => Err(LabError::Tokenizer(format!(
            "{}: {key} is {id}, but the tokenizer has only {token_count} tokens",
            file.file_name()
        ))),
    }
}

/// Control tokens become special tokens, which are matched before pre-tokenisation and never
/// split; user-defined ones are matched the same way but decode like text. Without token
/// types, the tokens with a role are the special ones.
fn added_tokens(
    file: &GgufFile,
    tokens: &[&str],
    special: SpecialTokens,
) -> Result<(Vec<AddedToken>, Vec<AddedToken>), LabError> {
    let Some(types) = file.get("tokenizer.ggml.token_type") else {
        let roles = [special.unk, special.bos, special.eos, special.pad];
        let control = roles
            .into_iter()
            .flatten()
            .map(|id| AddedToken::from(tokens[id as usize], true));
        return Ok((control.collect(), Vec::new()));
    };
    let types = types
        .as_array()
        .filter(|types| types.len() == tokens.len())
        .ok_or_else(|| {
            LabError::Tokenizer(format!(
                "{}: tokenizer.ggml.token_type must be an array of one type per token ({})",
                file.file_name(),
                tokens.len()
            ))
        })?;
    let (mut control, mut user_defined) = (Vec::new(), Vec::new());
    for (token, kind) in tokens.iter().zip(types) {
        match kind.as_i64() {
            Some(CONTROL) => control.push(AddedToken::from(*token, true)),
            Some(USER_DEFINED) => {
                user_defined.push(AddedToken::from(*token, false).normalized(false))
            }
            Some(_) => {}
            None => {
                return Err(LabError::Tokenizer(format!(
                    "{}: tokenizer.ggml.token_type holds a {} where integers belong",
                    file.file_name(),
                    kind.type_name()
                )));
            }
        }
    }
    Ok((control, user_defined))
}

/// The pre-tokenizer `tokenizer.ggml.pre` names. llama.cpp's `smollm` runs the pattern
/// `\p{N}` (each number character alone) before GPT-2's; `gpt2` runs GPT-2's alone, as does a
/// file that names none.
fn pre_tokenizer_named(file: &GgufFile) -> Result<PreTokenizerWrapper, LabError> {
    let byte_level = ByteLevel::new(false, true, true);
    let name = match file.get("tokenizer.ggml.pre") {
        Some(_) => file.require_str("tokenizer.ggml.pre")?,
        None => "gpt2",
    };
    match name {
        "gpt2" => Ok(byte_level.into()),
        "smollm" => {
            Ok(PreTokenizerSequence::new(vec![Digits::new(true).into(), byte_level.into()]).into())
        }
        other => Err(LabError::Tokenizer(format!(
            "{}: the pre-tokenizer {other} (tokenizer.ggml.pre) is not one the lab knows (gpt2, \
             smollm); GgufTokenizerFlavor::Transformers reads any of them as gpt2, as \
             transformers does",
            file.file_name()
        ))),
    }
}

/// A post-processor that puts `bos` before and `eos` after each sequence, or none when there
/// is nothing to add. Pairs get type ids 0 and 1, as transformers frames them.
fn framing(bos: Option<(String, u32)>, eos: Option<(String, u32)>) -> Option<TemplateProcessing> {
    if bos.is_none() && eos.is_none() {
        return None;
    }
    let (has_bos, has_eos) = (bos.is_some(), eos.is_some());
    let sequence = |name: &str, type_id: u32| {
        let before = if has_bos {
            format!("BOS:{type_id} ")
        } else {
            String::new()
        };
        let after = if has_eos {
            format!(" EOS:{type_id}")
        } else {
            String::new()
        };
        format!("{before}${name}:{type_id}{after}")
    };
    let marks = [("BOS", bos), ("EOS", eos)];
    let special_tokens: Vec<SpecialToken> = (marks.into_iter())
        .filter_map(|(key, token)| {
            let (content, id) = token?;
            Some(SpecialToken::new(key.into(), vec![id], vec![content]).expect("one id, one token"))
        })
        .collect();
    let template = TemplateProcessing::builder()
        .try_single(sequence("A", 0))
        .and_then(|builder| builder.try_pair(format!("{} {}", sequence("A", 0), sequence("B", 1))))
        .expect("well-formed templates")
        .special_tokens(special_tokens)
        .build()
        .expect("every mark has its token");
    Some(template)
}
