//! GGUF, llama.cpp's single-file model format (versions 2 and 3): a header, typed metadata
//! key-values, tensor descriptions, and the aligned tensor data.
//!
//! Everything is checked against the file's length when it is opened: a truncated or corrupt
//! file is an error naming what is wrong and where, and reads after that cannot go out of
//! bounds. [`GgufFile`] reads tensors under their GGUF names; [`LlamaGguf`] offers a Llama
//! model's tensors under Hugging Face's names, its `config.json` values and its tokenizer.

mod cursor;
mod ggml_type;
mod llama;
mod tokenizer;
mod value;

pub use ggml_type::GgmlType;
pub use llama::{LlamaGguf, LlamaHfConfig};
pub use tokenizer::{GgufTokenizerFlavor, tokenizer_from_gguf};
pub use value::MetaValue;

use super::weights::WeightSource;
use crate::LabError;
use cursor::Cursor;
use std::collections::HashMap;

const MAGIC: &[u8; 4] = b"GGUF";
/// Where tensor data is aligned when the file does not say (`general.alignment`).
const DEFAULT_ALIGNMENT: usize = 32;
/// ggml tensors have at most four dimensions.
const MOST_DIMENSIONS: usize = 4;
/// The fewest bytes a tensor description takes: an empty name, one dimension, type, offset.
const SMALLEST_TENSOR_INFO: usize = 8 + 4 + 8 + 4 + 8;
/// The fewest bytes a metadata entry takes: an empty key, the type, a one-byte value.
const SMALLEST_ENTRY: usize = 8 + 4 + 1;

/// Named items in the file's order, with an index by name.
type Indexed<T> = (Vec<(String, T)>, HashMap<String, usize>);

/// One tensor's description.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml's dimensions, fastest-varying first: `dims[0]` is the length of a row.
    pub dims: Vec<usize>,
    pub kind: GgmlType,
    /// Where its data starts, counted from the start of the data section.
    pub offset: usize,
    pub byte_len: usize,
}

impl TensorInfo {
    /// The shape in row-major order, slowest-varying first, as PyTorch and burn write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }

    pub fn element_count(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file that owns its bytes.
pub struct GgufFile {
    file_name: String,
    bytes: Vec<u8>,
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    alignment: usize,
    data_start: usize,
}

impl GgufFile {
    /// Parses and validates `bytes`; `file_name` only names the file in messages.
    pub fn parse(file_name: &str, bytes: Vec<u8>) -> Result<Self, LabError> {
        let mut cursor = Cursor::new(file_name, &bytes);
        let version = read_header(&mut cursor)?;
        let tensor_count = cursor.length("the tensor count")?;
        let (metadata, metadata_index) = read_metadata(&mut cursor)?;
        let alignment = read_alignment(&cursor, &metadata, &metadata_index)?;
        let (tensors, tensor_index) = read_tensor_infos(&mut cursor, tensor_count, alignment)?;
        let data_start = cursor.position().next_multiple_of(alignment);
        check_data(file_name, bytes.len(), data_start, &tensors)?;
        Ok(Self {
            file_name: file_name.to_string(),
            version,
            metadata,
            metadata_index,
            tensors,
            tensor_index,
            alignment,
            data_start,
            bytes,
        })
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The metadata in the file's order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Where the data section starts in the file.
    pub fn data_start(&self) -> usize {
        self.data_start
    }

    /// `general.architecture`, such as `llama`.
    pub fn architecture(&self) -> Result<&str, LabError> {
        self.require_str("general.architecture")
    }

    /// The stored bytes of a tensor.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8], LabError> {
        let info = self.require_tensor(name)?;
        let start = self.data_start + info.offset;
        Ok(&self.bytes[start..start + info.byte_len])
    }

    fn require_tensor(&self, name: &str) -> Result<&TensorInfo, LabError> {
        self.tensor_info(name).ok_or_else(|| {
            LabError::Weights(format!("{} has no tensor named {name}", self.file_name))
        })
    }

    /// The value of a metadata key that must be present.
    pub fn require(&self, key: &str) -> Result<&MetaValue, LabError> {
        self.get(key).ok_or_else(|| {
            LabError::Weights(format!(
                "{} has no metadata key {key}; the file is incomplete or of another kind of model",
                self.file_name
            ))
        })
    }

    fn wrong_type(&self, key: &str, value: &MetaValue, wanted: &str) -> LabError {
        LabError::Weights(format!(
            "{}: the metadata key {key} holds a {} where {wanted} belongs",
            self.file_name,
            value.type_name()
        ))
    }

    pub fn require_u64(&self, key: &str) -> Result<u64, LabError> {
        let value = self.require(key)?;
        value
            .as_u64()
            .ok_or_else(|| self.wrong_type(key, value, "a non-negative integer"))
    }

    pub fn require_usize(&self, key: &str) -> Result<usize, LabError> {
        let value = self.require_u64(key)?;
        usize::try_from(value).map_err(|_| {
            LabError::Weights(format!("{}: {key} = {value} is too large", self.file_name))
        })
    }

    pub fn require_f64(&self, key: &str) -> Result<f64, LabError> {
        let value = self.require(key)?;
        value
            .as_f64()
            .ok_or_else(|| self.wrong_type(key, value, "a floating-point number"))
    }

    pub fn require_str(&self, key: &str) -> Result<&str, LabError> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(key, value, "a string"))
    }

    pub fn require_array(&self, key: &str) -> Result<&[MetaValue], LabError> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| self.wrong_type(key, value, "an array"))
    }

    /// An optional key that, when present, must be an integer.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, LabError> {
        self.get(key).map(|_| self.require_u64(key)).transpose()
    }

    /// An optional key that, when present, must be an integer that fits in memory sizes.
    pub fn optional_usize(&self, key: &str) -> Result<Option<usize>, LabError> {
        self.get(key).map(|_| self.require_usize(key)).transpose()
    }

    /// An optional key that, when present, must be a boolean.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, LabError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        value
            .as_bool()
            .map(Some)
            .ok_or_else(|| self.wrong_type(key, value, "a boolean"))
    }
}

/// Tensors under their GGUF names, with row-major shapes (`token_embd.weight` of a model with
/// width 576 and 49152 tokens is `[49152, 576]`).
impl WeightSource for GgufFile {
    fn contains(&self, name: &str) -> bool {
        self.tensor_index.contains_key(name)
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        let info = self.require_tensor(name)?;
        let values = info.kind.dequantize(self.tensor_bytes(name)?).ok_or_else(|| {
            let readable: Vec<&str> = GgmlType::READABLE.iter().map(|t| t.name()).collect();
            LabError::Weights(format!(
                "{}: the tensor {name} is stored as {}; the lab reads GGUF tensors of the types \
                 {}: choose a file quantised to one of them (Q8_0 or Q4_1, for instance)",
                self.file_name,
                info.kind.name(),
                readable.join(", ")
            ))
        })?;
        Ok((values, info.shape()))
    }
}

/// Checks the magic bytes and returns the version, which must be 2 or 3.
fn read_header(cursor: &mut Cursor) -> Result<u32, LabError> {
    let magic = cursor.take(4, "the magic bytes")?;
    if magic != MAGIC {
        return Err(cursor.error(format!(
            "it starts with {:?} instead of \"GGUF\"; it is another kind of file (a \
             safetensors or PyTorch checkpoint?)",
            String::from_utf8_lossy(magic)
        )));
    }
    let version = cursor.u32("the version")?;
    match version {
        2 | 3 => Ok(version),
        1 => Err(cursor.error(
            "it is GGUF version 1, an early format that the lab does not read; convert the model \
             again with a current llama.cpp",
        )),
        _ if matches!(version.swap_bytes(), 2 | 3) => Err(cursor.error(
            "it is a big-endian GGUF file; the lab reads little-endian files, the usual kind",
        )),
        _ => Err(cursor.error(format!(
            "its version is {version}; the lab reads GGUF versions 2 and 3"
        ))),
    }
}

/// The metadata count and entries, with an index by key.
fn read_metadata(cursor: &mut Cursor) -> Result<Indexed<MetaValue>, LabError> {
    let count = cursor.length("the metadata count")?;
    if count > cursor.remaining() / SMALLEST_ENTRY {
        return Err(cursor.error(format!(
            "the header announces {count} metadata entries, more than the rest of the file can \
             hold: the file is cut short or corrupt"
        )));
    }
    let (mut entries, mut index) = (Vec::with_capacity(count), HashMap::with_capacity(count));
    for entry in 0..count {
        let key = cursor.string(&format!("the key of metadata entry {entry}"))?;
        let what = format!("the value of metadata key {key}");
        let type_id = cursor.u32(&what)?;
        let value = MetaValue::read(cursor, type_id, &what)?;
        if index.insert(key.clone(), entries.len()).is_some() {
            return Err(cursor.error(format!("the metadata key {key} appears twice")));
        }
        entries.push((key, value));
    }
    Ok((entries, index))
}

fn read_tensor_infos(
    cursor: &mut Cursor,
    count: usize,
    alignment: usize,
) -> Result<(Vec<TensorInfo>, HashMap<String, usize>), LabError> {
    if count > cursor.remaining() / SMALLEST_TENSOR_INFO {
        return Err(cursor.error(format!(
            "the header announces {count} tensors, more than the rest of the file can describe: \
             the file is cut short or corrupt"
        )));
    }
    let (mut tensors, mut index) = (Vec::with_capacity(count), HashMap::with_capacity(count));
    for number in 0..count {
        let info = read_tensor_info(cursor, number, alignment)?;
        if index.insert(info.name.clone(), tensors.len()).is_some() {
            return Err(cursor.error(format!("the tensor {} is described twice", info.name)));
        }
        tensors.push(info);
    }
    Ok((tensors, index))
}

fn read_alignment(
    cursor: &Cursor,
    metadata: &[(String, MetaValue)],
    index: &HashMap<String, usize>,
) -> Result<usize, LabError> {
    let Some(&at) = index.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let value = &metadata[at].1;
    match value.as_u64().and_then(|v| usize::try_from(v).ok()) {
        Some(alignment) if alignment.is_power_of_two() => Ok(alignment),
        _ => Err(cursor.error(format!(
            "general.alignment is {value:?}; it must be a power of two"
        ))),
    }
}

fn read_tensor_info(
    cursor: &mut Cursor,
    number: usize,
    alignment: usize,
) -> Result<TensorInfo, LabError> {
    let name = cursor.string(&format!("the name of tensor {number}"))?;
    let what = format!("the description of tensor {name}");
    let dimension_count = cursor.u32(&what)? as usize;
    if !(1..=MOST_DIMENSIONS).contains(&dimension_count) {
        return Err(cursor.error(format!(
            "the tensor {name} has {dimension_count} dimensions; ggml tensors have 1 to \
             {MOST_DIMENSIONS}"
        )));
    }
    let dims = (0..dimension_count)
        .map(|_| cursor.length(&what))
        .collect::<Result<Vec<_>, _>>()?;
    let type_id = cursor.u32(&what)?;
    let kind = GgmlType::from_id(type_id).ok_or_else(|| {
        cursor.error(format!(
            "the tensor {name} has the tensor type {type_id}, which no ggml version defines; the \
             file is corrupt or from a newer llama.cpp than the lab knows"
        ))
    })?;
    let offset = cursor.length(&what)?;
    let too_large = || {
        cursor.error(format!(
            "the tensor {name} with dimensions {dims:?} is too large"
        ))
    };
    let elements = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(too_large)?;
    if !dims[0].is_multiple_of(kind.block_len()) {
        return Err(cursor.error(format!(
            "the tensor {name} has rows of {} values, not a whole number of {} blocks of {}",
            dims[0],
            kind.name(),
            kind.block_len()
        )));
    }
    let row_bytes = kind.row_bytes(dims[0]).ok_or_else(too_large)?;
    let rows = elements.checked_div(dims[0]).unwrap_or(0);
    let byte_len = rows.checked_mul(row_bytes).ok_or_else(too_large)?;
    if !offset.is_multiple_of(alignment) {
        return Err(cursor.error(format!(
            "the data of tensor {name} starts at offset {offset}, which is not a multiple of the \
             alignment {alignment}"
        )));
    }
    Ok(TensorInfo {
        name,
        dims,
        kind,
        offset,
        byte_len,
    })
}

/// Every tensor's data must lie inside the file and apart from the others.
fn check_data(
    file_name: &str,
    file_len: usize,
    data_start: usize,
    tensors: &[TensorInfo],
) -> Result<(), LabError> {
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|info| info.offset);
    let mut previous: Option<(&str, usize)> = None;
    for info in by_offset {
        let end = (data_start.checked_add(info.offset))
            .and_then(|start| start.checked_add(info.byte_len))
            .filter(|&end| end <= file_len)
            .ok_or_else(|| {
                LabError::Weights(format!(
                    "{file_name} is cut short: the data of tensor {} ({} bytes at offset {} of \
                     the data section, which starts at byte {data_start}) runs past the end of \
                     the file at byte {file_len}; the file is truncated (an interrupted \
                     download?) or corrupt",
                    info.name, info.byte_len, info.offset
                ))
            })?;
        if let Some((other, other_end)) = previous
            && data_start + info.offset < other_end
        {
            return Err(LabError::Weights(format!(
                "{file_name} is not a valid GGUF file: the data of tensors {other} and {} overlap",
                info.name
            )));
        }
        previous = Some((&info.name, end));
    }
    Ok(())
}
