//! The GGUF reader against llama.cpp's Python reader and transformers' GGUF loader.
//!
//! `tests/fixtures/gguf_reader.json` is the output of `tests/oracle/gguf_reader.py`: for the
//! packaged SmolLM2-135M-Instruct file, the layout, metadata and every tensor as the `gguf`
//! package reads and dequantises it, and the configuration and state dict that transformers
//! builds from it; and a small file written by `gguf.GGUFWriter` with metadata of every type
//! and tensors of the types F32, F16, BF16, Q4_0, Q4_1 and Q8_0 (stored in the fixture).
//!
//! Dequantisation is exact arithmetic on f16 scales (one rounding per product and sum, in the
//! same order as the reference), so every value must be equal: each tensor's checksum over all
//! its values' bits must match, and sampled values, sums and norms are compared within 1e-6
//! (relative to the sum of magnitudes for the sums); the largest differences are printed.

mod common;

use common::{fixture, read_asset};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use superlab::LabError;
use superlab::models::gguf::{GgufFile, LlamaGguf, MetaValue};
use superlab::models::weights::WeightSource;
use superlab::rng::fnv1a64;

const SMOLLM2: &str = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const TOLERANCE: f64 = 1e-6;
/// Arrays longer than this are described by length and hash (as the oracle does).
const LONGEST_LISTED_ARRAY: usize = 16;

#[derive(Deserialize)]
struct Fixture {
    produced_by: String,
    smollm2: Smollm2,
    synthetic: Reading,
}

#[derive(Deserialize)]
struct Smollm2 {
    file: String,
    gguf: Reading,
    transformers: Transformers,
}

#[derive(Deserialize)]
struct Reading {
    header: BTreeMap<String, u64>,
    layout: Layout,
    metadata: BTreeMap<String, Entry>,
    tensors: Vec<TensorReading>,
    #[serde(default)]
    file_hex: Option<String>,
}

#[derive(Deserialize)]
struct Layout {
    file_length: usize,
    metadata_start: usize,
    tensor_infos_start: usize,
    data_start: usize,
    alignment: usize,
}

#[derive(Deserialize)]
struct Entry {
    types: Vec<String>,
    value: Value,
}

#[derive(Deserialize)]
struct TensorReading {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    dims: Vec<usize>,
    data_offset: usize,
    summary: Summary,
    #[serde(default)]
    values: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct Summary {
    checksum: String,
    sum: f64,
    sum_abs: f64,
    sum_squares: f64,
    positions: Vec<usize>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct Transformers {
    config: BTreeMap<String, Value>,
    tensors: Vec<HfTensor>,
}

#[derive(Deserialize)]
struct HfTensor {
    name: String,
    shape: Vec<usize>,
    summary: Summary,
}

fn load() -> Fixture {
    let fixture: Fixture = fixture("gguf_reader");
    println!("reference: {}", fixture.produced_by);
    fixture
}

/// The oracle's checksum: the sum of `bits(value) * (i + 1)` modulo 2^64.
fn checksum(values: &[f32]) -> String {
    let sum = (values.iter().enumerate()).fold(0u64, |sum, (i, v)| {
        sum.wrapping_add(u64::from(v.to_bits()).wrapping_mul(i as u64 + 1))
    });
    format!("{sum:016x}")
}

/// The largest differences seen, by what was compared.
#[derive(Default)]
struct Differences {
    samples: f64,
    sums: f64,
}

impl Differences {
    fn report(&self, what: &str) {
        println!(
            "{what}: largest difference of sampled values {:.3e}, of sums and norms (relative) \
             {:.3e}",
            self.samples, self.sums
        );
    }
}

/// Compares dequantised values with the reference's summary of them.
fn compare(what: &str, values: &[f32], reference: &Summary, seen: &mut Differences) {
    assert_eq!(
        checksum(values),
        reference.checksum,
        "{what}: the values differ from the reference somewhere (checksums differ)"
    );
    for (&at, &want) in reference.positions.iter().zip(&reference.values) {
        let difference = (f64::from(values[at]) - want).abs();
        seen.samples = seen.samples.max(difference);
        assert!(
            difference <= TOLERANCE,
            "{what}[{at}]: {} against {want}",
            values[at]
        );
    }
    let wide = values.iter().map(|&v| f64::from(v));
    let sum: f64 = wide.clone().sum();
    let sum_abs: f64 = wide.clone().map(f64::abs).sum();
    let sum_squares: f64 = wide.map(|v| v * v).sum();
    let scale = reference.sum_abs.max(1.0);
    for (name, got, want, scale) in [
        ("sum", sum, reference.sum, scale),
        ("sum of magnitudes", sum_abs, reference.sum_abs, scale),
        (
            "sum of squares",
            sum_squares,
            reference.sum_squares,
            reference.sum_squares.max(1.0),
        ),
    ] {
        let relative = (got - want).abs() / scale;
        seen.sums = seen.sums.max(relative);
        assert!(relative <= TOLERANCE, "{what}: {name} {got} against {want}");
    }
}

/// A metadata value in the oracle's JSON form: scalars as they are, arrays of up to 16
/// elements listed, longer ones as their length and a hash of their elements.
fn describe(value: &MetaValue) -> (Vec<String>, Value) {
    match value {
        MetaValue::Array(elements) => {
            let element_type = elements.first().map_or("UINT8", MetaValue::type_name);
            let described = if elements.len() <= LONGEST_LISTED_ARRAY {
                serde_json::json!({"elements": elements.iter().map(scalar).collect::<Vec<_>>()})
            } else {
                let bytes: Vec<u8> = elements.iter().flat_map(element_bytes).collect();
                serde_json::json!({"length": elements.len(), "hash": format!("{:016x}", fnv1a64(&bytes))})
            };
            (vec!["ARRAY".into(), element_type.into()], described)
        }
        other => (vec![other.type_name().into()], scalar(other)),
    }
}

fn scalar(value: &MetaValue) -> Value {
    match value {
        MetaValue::F32(v) => Value::from(f64::from(*v)),
        MetaValue::F64(v) => Value::from(*v),
        MetaValue::Bool(v) => Value::from(*v),
        MetaValue::String(v) => Value::from(v.as_str()),
        MetaValue::U64(v) => Value::from(*v),
        other => Value::from(other.as_i64().expect("an integer")),
    }
}

/// The oracle's canonical bytes of an array element.
fn element_bytes(value: &MetaValue) -> Vec<u8> {
    match value {
        MetaValue::String(v) => [v.as_bytes(), &[0]].concat(),
        MetaValue::F32(v) => f64::from(*v).to_le_bytes().to_vec(),
        MetaValue::F64(v) => v.to_le_bytes().to_vec(),
        MetaValue::Bool(v) => vec![u8::from(*v)],
        other => other.as_i64().expect("an integer").to_le_bytes().to_vec(),
    }
}

/// JSON values equal, numbers that are not integers to 1e-15 relative (JSON parsers may
/// round the last bit differently).
fn same_json(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (a - b).abs() <= 1e-15 * a.abs().max(b.abs())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => got == want,
    }
}

/// Checks the layout, metadata, tensor descriptions and dequantised values of a file.
fn check_reading(file: &GgufFile, reading: &Reading, what: &str) {
    check_reading_as(file, reading, reading.header["GGUF.version"], what);
}

/// The same, for a copy of the file marked with another version.
fn check_reading_as(file: &GgufFile, reading: &Reading, version: u64, what: &str) {
    assert_eq!(u64::from(file.version()), version);
    assert_eq!(
        file.tensors().len() as u64,
        reading.header["GGUF.tensor_count"]
    );
    assert_eq!(
        file.metadata().len() as u64,
        reading.header["GGUF.kv_count"]
    );
    assert_eq!(file.alignment(), reading.layout.alignment);
    assert_eq!(file.data_start(), reading.layout.data_start);

    assert_eq!(file.metadata().len(), reading.metadata.len());
    for (key, value) in file.metadata() {
        let entry = (reading.metadata.get(key))
            .unwrap_or_else(|| panic!("{what}: the reference has no metadata key {key}"));
        let (types, described) = describe(value);
        assert_eq!(types, entry.types, "{what}: the type of {key}");
        assert!(
            same_json(&described, &entry.value),
            "{what}: {key} reads {described}, the reference {}",
            entry.value
        );
    }
    println!("{what}: {} metadata entries equal", file.metadata().len());

    let mut by_type: BTreeMap<String, (usize, Differences)> = BTreeMap::new();
    for reference in &reading.tensors {
        let info = file
            .tensor_info(&reference.name)
            .expect("the tensor is described");
        assert_eq!(info.kind.name(), reference.kind, "{}: type", reference.name);
        assert_eq!(info.dims, reference.dims, "{}: dimensions", reference.name);
        assert_eq!(
            file.data_start() + info.offset,
            reference.data_offset,
            "{}",
            reference.name
        );
        let (values, shape) = file.read_f32(&reference.name).expect("a readable type");
        assert_eq!(shape, info.dims.iter().rev().copied().collect::<Vec<_>>());
        let (count, seen) = by_type.entry(reference.kind.clone()).or_default();
        *count += 1;
        compare(&reference.name, &values, &reference.summary, seen);
        if let Some(all) = &reference.values {
            common::assert_close(&reference.name, &values, all, TOLERANCE, false);
        }
    }
    for (kind, (count, seen)) in &by_type {
        seen.report(&format!("{what}: {count} tensors of type {kind}"));
    }
}

fn smollm2_bytes() -> Vec<u8> {
    read_asset(SMOLLM2)
}

fn synthetic_bytes(fixture: &Fixture) -> Vec<u8> {
    let hex = fixture
        .synthetic
        .file_hex
        .as_ref()
        .expect("the synthetic file is stored");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Every tensor of the packaged SmolLM2 file, as the `gguf` package reads it.
#[test]
fn smollm2_reads_as_llama_cpp_reads_it() {
    let fixture = load();
    let bytes = smollm2_bytes();
    assert_eq!(bytes.len(), fixture.smollm2.gguf.layout.file_length);
    let file = GgufFile::parse(&fixture.smollm2.file, bytes).expect("the packaged file parses");
    check_reading(&file, &fixture.smollm2.gguf, "SmolLM2");
}

/// The Hugging Face view of SmolLM2: configuration and every tensor of the state dict that
/// transformers builds from the file, the query and key rows put back in Hugging Face's order.
#[test]
fn smollm2_reads_as_transformers_loads_it() {
    let fixture = load();
    let reference = &fixture.smollm2.transformers;
    let model = LlamaGguf::open(&fixture.smollm2.file, smollm2_bytes()).expect("a Llama file");

    let config = serde_json::to_value(model.config()).expect("serialisable");
    for (key, want) in &reference.config {
        let got = &config[key];
        assert!(
            same_json(got, want),
            "config {key}: {got} against transformers' {want}"
        );
    }
    assert_eq!(config.as_object().unwrap().len(), reference.config.len());
    println!("config: {config}");

    let names: Vec<&str> = reference.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(model.names(), names, "the state dict's names");
    let mut seen = Differences::default();
    for tensor in &reference.tensors {
        let (values, shape) = model.read_f32(&tensor.name).expect("readable");
        assert_eq!(shape, tensor.shape, "{}: shape", tensor.name);
        compare(&tensor.name, &values, &tensor.summary, &mut seen);
    }
    seen.report(&format!(
        "{} tensors under Hugging Face names",
        reference.tensors.len()
    ));

    // The query and key rows really were reordered: in the file's order they differ.
    for (hf, gguf) in [
        (
            "model.layers.3.self_attn.q_proj.weight",
            "blk.3.attn_q.weight",
        ),
        (
            "model.layers.3.self_attn.k_proj.weight",
            "blk.3.attn_k.weight",
        ),
    ] {
        let (stored, _) = model.file().read_f32(gguf).expect("readable");
        let reference = reference
            .tensors
            .iter()
            .find(|t| t.name == hf)
            .expect("in the state dict");
        assert_ne!(
            checksum(&stored),
            reference.summary.checksum,
            "{gguf} is not reordered"
        );
    }
    assert!(
        !model.contains("lm_head.weight"),
        "tied: no separate output projection"
    );
    assert!(model.config().tie_word_embeddings);
}

/// A file with metadata of every type and tensors of every type the lab reads, as the `gguf`
/// package wrote and reads it; the same file marked as version 2 reads the same.
#[test]
fn synthetic_file_reads_as_llama_cpp_reads_it() {
    let fixture = load();
    let bytes = synthetic_bytes(&fixture);
    let file = GgufFile::parse("synthetic.gguf", bytes.clone()).expect("parses");
    check_reading(&file, &fixture.synthetic, "synthetic");
    assert_eq!(file.alignment(), 64);

    let mut version_2 = bytes;
    version_2[4..8].copy_from_slice(&2u32.to_le_bytes());
    let file = GgufFile::parse("synthetic-v2.gguf", version_2).expect("version 2 parses");
    assert_eq!(file.version(), 2);
    check_reading_as(&file, &fixture.synthetic, 2, "synthetic, version 2");
}

fn expect_error(result: Result<GgufFile, LabError>, what: &str, needle: &str) -> String {
    match result {
        Ok(_) => panic!("{what}: parsed without complaint"),
        Err(LabError::Weights(message)) => {
            assert!(
                message.contains(needle),
                "{what}: the message {message:?} lacks {needle:?}"
            );
            println!("{what}: {message}");
            message
        }
        Err(other) => panic!("{what}: the wrong kind of error: {other}"),
    }
}

/// SmolLM2 cut inside the header, the metadata, the tensor descriptions and the data.
#[test]
fn truncated_files_are_clear_errors() {
    let fixture = load();
    let layout = &fixture.smollm2.gguf.layout;
    let bytes = smollm2_bytes();
    let cuts = [
        ("inside the header", 10),
        ("inside the metadata", layout.metadata_start + 1000),
        ("inside the token list", layout.metadata_start + 600_000),
        (
            "inside the tensor descriptions",
            layout.tensor_infos_start + 100,
        ),
        ("before the data", layout.data_start - 1),
        ("inside the data", layout.data_start + 5_000_000),
        ("one byte short", layout.file_length - 1),
    ];
    for (what, cut) in cuts {
        expect_error(
            GgufFile::parse("cut.gguf", bytes[..cut].to_vec()),
            what,
            "cut short",
        );
    }
    expect_error(
        GgufFile::parse("empty.gguf", Vec::new()),
        "an empty file",
        "cut short",
    );

    // Cut anywhere before the end of its last tensor's data, the small file is an error each
    // time, and never a panic; only the padding after the data may go.
    let synthetic = synthetic_bytes(&fixture);
    let file = GgufFile::parse("synthetic.gguf", synthetic.clone()).expect("parses");
    let data_end = (file.tensors().iter())
        .map(|info| file.data_start() + info.offset + info.byte_len)
        .max()
        .unwrap();
    for cut in 0..synthetic.len() {
        let parsed = GgufFile::parse("cut.gguf", synthetic[..cut].to_vec());
        assert_eq!(
            parsed.is_err(),
            cut < data_end,
            "cut at {cut} of {}",
            synthetic.len()
        );
    }
}

#[test]
fn wrong_magic_version_and_types_are_clear_errors() {
    let fixture = load();
    let bytes = synthetic_bytes(&fixture);
    let patched = |at: usize, new: &[u8]| {
        let mut copy = bytes.clone();
        copy[at..at + new.len()].copy_from_slice(new);
        copy
    };
    expect_error(
        GgufFile::parse("x.gguf", patched(0, b"GGUX")),
        "wrong magic",
        "instead of \"GGUF\"",
    );
    expect_error(
        GgufFile::parse("x.gguf", patched(4, &1u32.to_le_bytes())),
        "version 1",
        "version 1",
    );
    expect_error(
        GgufFile::parse("x.gguf", patched(4, &7u32.to_le_bytes())),
        "version 7",
        "version is 7",
    );
    expect_error(
        GgufFile::parse("x.gguf", patched(4, &3u32.to_be_bytes())),
        "big-endian",
        "big-endian",
    );

    // The first tensor description: name, dimension count, dimensions, then the type.
    let first = &fixture.synthetic.tensors[0];
    let type_at = fixture.synthetic.layout.tensor_infos_start
        + 8
        + first.name.len()
        + 4
        + 8 * first.dims.len();
    let message = expect_error(
        GgufFile::parse("x.gguf", patched(type_at, &99u32.to_le_bytes())),
        "unknown tensor type",
        "tensor type 99",
    );
    assert!(message.contains(&first.name));

    // A type ggml defines but the lab does not dequantise: the file parses, the read fails.
    let q4_0 = fixture
        .synthetic
        .tensors
        .iter()
        .position(|t| t.kind == "Q4_0")
        .unwrap();
    let file = GgufFile::parse("x.gguf", bytes.clone()).unwrap();
    let name = &file.tensors()[q4_0].name;
    let mut at = fixture.synthetic.layout.tensor_infos_start;
    for info in &file.tensors()[..q4_0] {
        at += 8 + info.name.len() + 4 + 8 * info.dims.len() + 4 + 8;
    }
    at += 8 + name.len() + 4 + 8 * file.tensors()[q4_0].dims.len();
    let file = GgufFile::parse("x.gguf", patched(at, &6u32.to_le_bytes())).expect("Q5_0 fits");
    match file.read_f32(name) {
        Err(LabError::Weights(message)) => {
            assert!(
                message.contains("Q5_0") && message.contains("Q8_0"),
                "{message}"
            );
            println!("unreadable type: {message}");
        }
        other => panic!("a Q5_0 tensor read as {:?}", other.map(|(_, shape)| shape)),
    }

    // Any byte of the header, metadata and descriptions overwritten: an error or a file, never
    // a panic.
    for at in 0..fixture.synthetic.layout.data_start {
        let _ = GgufFile::parse("x.gguf", patched(at, &[0xFF]));
    }
}

/// A file that is not a Llama model is refused by the Llama view, with the reason.
#[test]
fn the_llama_view_refuses_other_architectures() {
    let fixture = load();
    match LlamaGguf::open("synthetic.gguf", synthetic_bytes(&fixture)) {
        Err(LabError::Weights(message)) => {
            assert!(
                message.contains("synthetic") && message.contains("Llama"),
                "{message}"
            );
            println!("{message}");
        }
        Ok(_) => panic!("a synthetic file read as Llama"),
        Err(other) => panic!("the wrong kind of error: {other}"),
    }
}
