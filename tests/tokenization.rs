//! Tokenisation against Hugging Face's `tokenizers` Python binding and transformers' GGUF
//! tokenizer.
//!
//! `tests/fixtures/tokenization.json` is the output of `tests/oracle/tokenization.py`: for
//! GPT-2's and all-MiniLM-L6-v2's `tokenizer.json`, for the tokenizer transformers rebuilds
//! from the SmolLM2 GGUF file and for the same with the pre-tokenizer the file names, the ids
//! and decodings of hand-written lines (unicode, emoji, whitespace runs, digits, code, special
//! token markers) in full, and for each of the 2461 verses of the Psalms (Debian's `bible`
//! reader, which this test runs too) a 32-bit FNV-1a hash of its ids and of its decoding.
//! Token ids are integers: everything must be equal, and the first line that differs is named.

mod common;

use common::{fixture, read_asset};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use superlab::LabError;
use superlab::models::gguf::{GgufFile, GgufTokenizerFlavor, tokenizer_from_gguf};
use superlab::models::tokenizer::Tokenizer;
use superlab::rng::fnv1a64;

const SMOLLM2: &str = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Deserialize)]
struct Fixture {
    produced_by: String,
    bible_range: String,
    verse_count: usize,
    verses_hash: String,
    first_verse: String,
    hand_written: Vec<String>,
    gguf_special_ids: BTreeMap<String, u32>,
    transformers_gguf_roles: TransformersRoles,
    tokenizers: BTreeMap<String, Reference>,
}

#[derive(Deserialize)]
struct TransformersRoles {
    bos: u32,
    unk: u32,
}

#[derive(Deserialize)]
struct Reference {
    vocab_size: usize,
    special_ids: BTreeMap<String, Option<u32>>,
    tokens_of_ids: BTreeMap<String, Option<String>>,
    hand_written: Vec<HandWritten>,
    verse_token_count: usize,
    verses: Vec<[String; 2]>,
    truncation_length: Option<usize>,
}

#[derive(Deserialize)]
struct HandWritten {
    ids: Vec<u32>,
    ids_with_special_tokens: Vec<u32>,
    decoded: String,
    decoded_framed_skipping_special: String,
}

fn load() -> Fixture {
    let fixture: Fixture = fixture("tokenization");
    println!("reference: {}", fixture.produced_by);
    fixture
}

/// The verses as the oracle formats them (`Psalms 1:1 Blessed is ...`), from the same reader.
fn bible_verses(fixture: &Fixture) -> Vec<String> {
    let output = Command::new("bible")
        .args(["-l", "100000", &fixture.bible_range])
        .stdin(Stdio::null())
        .output()
        .expect("Debian's bible-kjv is installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "bible failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let (mut verses, mut chapter) = (Vec::new(), String::new());
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if line.starts_with(' ') {
            let (number, verse) = line.trim_start().split_once(char::is_whitespace).unwrap();
            verses.push(format!("{chapter}:{number} {}", verse.trim()));
        } else {
            chapter = line.trim().to_string();
        }
    }
    assert_eq!(verses.len(), fixture.verse_count, "the number of verses");
    assert_eq!(verses[0], fixture.first_verse);
    assert_eq!(
        format!("{:016x}", fnv1a64(verses.join("\n").as_bytes())),
        fixture.verses_hash,
        "the bible reader gives other text than the oracle saw"
    );
    verses
}

fn hash32(bytes: &[u8]) -> String {
    format!("{:08x}", fnv1a64(bytes) & 0xFFFF_FFFF)
}

fn ids_hash(ids: &[u32]) -> String {
    hash32(
        &ids.iter()
            .flat_map(|id| id.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// Everything the fixture records about one tokenizer.
fn check(name: &str, tokenizer: &Tokenizer, fixture: &Fixture, verses: &[String]) {
    let reference = &fixture.tokenizers[name];
    assert_eq!(
        tokenizer.vocab_size(),
        reference.vocab_size,
        "{name}: vocabulary size"
    );
    for (token, id) in &reference.special_ids {
        assert_eq!(
            tokenizer.token_to_id(token),
            *id,
            "{name}: the id of {token}"
        );
    }
    for (id, token) in &reference.tokens_of_ids {
        let id: u32 = id.parse().unwrap();
        assert_eq!(
            tokenizer.id_to_token(id),
            *token,
            "{name}: the token of {id}"
        );
    }

    for (text, want) in fixture.hand_written.iter().zip(&reference.hand_written) {
        let ids = tokenizer.encode(text, false).unwrap();
        assert_eq!(ids, want.ids, "{name}: the ids of {text:?}");
        let framed = tokenizer.encode(text, true).unwrap();
        assert_eq!(
            framed, want.ids_with_special_tokens,
            "{name}: {text:?} with special tokens"
        );
        assert_eq!(
            tokenizer.decode(&ids, false).unwrap(),
            want.decoded,
            "{name}: {text:?}"
        );
        assert_eq!(
            tokenizer.decode(&framed, true).unwrap(),
            want.decoded_framed_skipping_special,
            "{name}: {text:?} decoded without special tokens"
        );
    }

    let batch = tokenizer.encode_batch(verses, false).unwrap();
    let mut token_count = 0;
    for ((verse, ids), [want_ids, want_text]) in verses.iter().zip(&batch).zip(&reference.verses) {
        token_count += ids.len();
        assert_eq!(
            &ids_hash(ids),
            want_ids,
            "{name}: the first verse tokenised differently: {verse}"
        );
        let decoded = tokenizer.decode(ids, false).unwrap();
        assert_eq!(
            &hash32(decoded.as_bytes()),
            want_text,
            "{name}: decoded {verse:?} as {decoded:?}"
        );
    }
    assert_eq!(
        token_count, reference.verse_token_count,
        "{name}: tokens in all verses"
    );
    println!(
        "{name}: {} hand-written lines and {} verses ({token_count} tokens) equal",
        fixture.hand_written.len(),
        verses.len()
    );
}

fn smollm2(flavor: GgufTokenizerFlavor) -> Tokenizer {
    let file = GgufFile::parse("SmolLM2-135M-Instruct.Q4_1.gguf", read_asset(SMOLLM2)).unwrap();
    tokenizer_from_gguf(&file, flavor).expect("the file's tokenizer")
}

/// GPT-2's byte-level BPE; `<|endoftext|>` is its BOS and EOS, and it has no padding or
/// unknown token.
#[test]
fn gpt2_tokenizes_as_the_reference() {
    let fixture = load();
    let verses = bible_verses(&fixture);
    let tokenizer = Tokenizer::from_json_bytes(&read_asset("models/gpt2/tokenizer.json")).unwrap();
    check("gpt2", &tokenizer, &fixture, &verses);
    let end_of_text = fixture.tokenizers["gpt2"].special_ids["<|endoftext|>"];
    assert_eq!(
        (tokenizer.bos_id(), tokenizer.eos_id()),
        (end_of_text, end_of_text)
    );
    assert_eq!((tokenizer.pad_id(), tokenizer.unk_id()), (None, None));
    assert_eq!(tokenizer.truncation_length(), None);
}

/// BERT's WordPiece with lower-casing, `[CLS] ... [SEP]` framing; `[PAD]` and `[UNK]` found.
#[test]
fn minilm_tokenizes_as_the_reference() {
    let fixture = load();
    let verses = bible_verses(&fixture);
    let json = read_asset("models/all-MiniLM-L6-v2/tokenizer.json");
    let tokenizer = Tokenizer::from_json_bytes(&json).unwrap();
    check("minilm", &tokenizer, &fixture, &verses);
    let ids = &fixture.tokenizers["minilm"].special_ids;
    assert_eq!(tokenizer.pad_id(), ids["[PAD]"]);
    assert_eq!(tokenizer.unk_id(), ids["[UNK]"]);
    assert_eq!((tokenizer.bos_id(), tokenizer.eos_id()), (None, None));
    assert_eq!(
        tokenizer.truncation_length(),
        Some(fixture.tokenizers["minilm"].truncation_length.unwrap())
    );
}

/// The SmolLM2 GGUF tokenizer as transformers rebuilds it, and its special tokens as the
/// file's metadata (read by the `gguf` package) names them.
#[test]
fn smollm2_gguf_tokenizes_as_transformers() {
    let fixture = load();
    let verses = bible_verses(&fixture);
    let tokenizer = smollm2(GgufTokenizerFlavor::Transformers);
    check("smollm2_transformers", &tokenizer, &fixture, &verses);
    let roles = tokenizer.special_tokens();
    let file_ids = &fixture.gguf_special_ids;
    assert_eq!(roles.bos, Some(file_ids["bos"]));
    assert_eq!(roles.eos, Some(file_ids["eos"]));
    assert_eq!(roles.pad, Some(file_ids["padding"]));
    assert_eq!(roles.unk, Some(file_ids["unknown"]));
    assert_eq!(roles.bos, Some(fixture.transformers_gguf_roles.bos));
    assert_eq!(roles.unk, Some(fixture.transformers_gguf_roles.unk));
    tokenizer.check_fits(49152).expect("SmolLM2's vocabulary");
}

/// The SmolLM2 GGUF tokenizer with the pre-tokenizer the file names (`smollm`: digits split
/// one by one) and no BOS framing (`add_bos_token` is false). The two readings must really
/// differ on some hand-written lines, or this would prove nothing beyond the other test.
#[test]
fn smollm2_gguf_tokenizes_as_the_file_names() {
    let fixture = load();
    let verses = bible_verses(&fixture);
    let tokenizer = smollm2(GgufTokenizerFlavor::AsFile);
    check("smollm2_file", &tokenizer, &fixture, &verses);
    let (file, transformers) = (
        &fixture.tokenizers["smollm2_file"].hand_written,
        &fixture.tokenizers["smollm2_transformers"].hand_written,
    );
    let differing = file
        .iter()
        .zip(transformers)
        .filter(|(a, b)| a.ids != b.ids)
        .count();
    println!("the two readings differ on {differing} hand-written lines");
    assert!(differing > 0);
}

#[test]
fn a_tokenizer_too_large_for_the_model_is_detected() {
    let tokenizer = Tokenizer::from_json_bytes(&read_asset("models/gpt2/tokenizer.json")).unwrap();
    tokenizer.check_fits(50257).expect("GPT-2's own vocabulary");
    tokenizer.check_fits(50304).expect("a padded vocabulary");
    match tokenizer.check_fits(49152) {
        Err(LabError::Tokenizer(message)) => {
            assert!(
                message.contains("50256") && message.contains("49152"),
                "{message}"
            );
            println!("{message}");
        }
        other => panic!("GPT-2's tokenizer fits 49152 embeddings: {other:?}"),
    }
}

#[test]
fn a_corrupt_tokenizer_json_is_a_clear_error() {
    let json = read_asset("models/gpt2/tokenizer.json");
    let cases: [(&str, &[u8]); 4] = [
        ("truncated", &json[..json.len() / 2]),
        ("empty", b""),
        ("not JSON", b"\x89PNG\r\n\x1a\n"),
        (
            "JSON of another shape",
            br#"{"model": {"type": "BPE", "vocab": 5}}"#,
        ),
    ];
    for (what, bytes) in cases {
        match Tokenizer::from_json_bytes(bytes) {
            Err(LabError::Tokenizer(message)) => {
                assert!(
                    message.contains("tokenizer.json is not readable"),
                    "{what}: {message}"
                );
                println!("{what}: {message}");
            }
            Err(other) => panic!("{what}: the wrong kind of error: {other}"),
            Ok(_) => panic!("{what}: read as a tokenizer"),
        }
    }
}
