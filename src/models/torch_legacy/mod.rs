//! Checkpoints in PyTorch's legacy serialisation, what `torch.save` wrote before version 1.6
//! made zip archives the default (and still writes with `_use_new_zipfile_serialization=False`).
//!
//! The format, as `torch/serialization.py` documents and writes it, is five pickles in a row,
//! then raw storage data:
//!
//! 1. the magic number `0x1950a86a20f9469cfc6c`;
//! 2. the protocol version, 1001;
//! 3. system information: byte order and C type sizes;
//! 4. the object itself. Each storage it refers to is a persistent id
//!    `('storage', storage class, key, location, element count, view)`, where the view is
//!    `None` or `(view key, element offset, element count)` within the storage `key`; each
//!    tensor is a call `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`;
//! 5. the list of storage keys, in the order their data follows.
//!
//! Then, for each key in that order, the element count as a little-endian 64-bit integer and
//! the elements, little-endian.
//!
//! [`TorchCheckpoint`] reads a state dict (a dict or `OrderedDict` of names to tensors, or such a
//! dict under `state_dict` or `model`) and offers its tensors as a [`WeightSource`]. Any
//! truncation or inconsistency is a [`LabError::Weights`] naming the file and what is wrong.

pub mod pickle;

use crate::LabError;
use crate::models::weights::WeightSource;
use half::{bf16, f16};
use pickle::{HeapObject, Pickle, Value};
use std::collections::HashMap;

const MAGIC_NUMBER: i128 = 0x1950_a86a_20f9_469c_fc6c;
const PROTOCOL_VERSION: i128 = 1001;
/// A zip archive's first bytes: PyTorch's current format.
const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";

/// The element types of storages, by their legacy class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// The element at the start of `raw` (little-endian), widened to f32.
    fn read(self, raw: &[u8]) -> f32 {
        let array = |n: usize| -> [u8; 8] {
            let mut bytes = [0; 8];
            bytes[..n].copy_from_slice(&raw[..n]);
            bytes
        };
        let b = array(self.size());
        match self {
            Self::F64 => f64::from_le_bytes(b) as f32,
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::I64 => i64::from_le_bytes(b) as f32,
            Self::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Self::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])),
            Self::I8 => f32::from(b[0] as i8),
            Self::U8 => f32::from(b[0]),
            Self::Bool => f32::from(u8::from(b[0] != 0)),
        }
    }
}

/// A tensor of the checkpoint: a strided view of one storage.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub dtype: StorageDtype,
    pub shape: Vec<usize>,
    /// In elements.
    pub strides: Vec<usize>,
    /// Where the storage's element 0 lies in the file.
    storage_start: usize,
    /// The element, within the storage, of the tensor's first element.
    offset: usize,
}

/// The tensors of a legacy PyTorch checkpoint, read from its bytes.
pub struct TorchCheckpoint {
    file_name: String,
    bytes: Vec<u8>,
    /// In the order the checkpoint lists them.
    names: Vec<String>,
    tensors: HashMap<String, TensorInfo>,
}

/// A storage as persistent ids name it: a key of the data section, its element type and count,
/// or a view into another key's storage.
#[derive(Debug, Clone)]
struct StorageRef {
    key: String,
    dtype: StorageDtype,
    numel: usize,
    /// `(element offset, element count)` within the storage `key`, for a view.
    view: Option<(usize, usize)>,
}

impl TorchCheckpoint {
    pub fn from_bytes(file_name: &str, bytes: Vec<u8>) -> Result<Self, LabError> {
        let fail = |what: String| LabError::Weights(format!("{file_name}: {what}"));
        if bytes.starts_with(ZIP_SIGNATURE) {
            return Err(fail(
                "this is a PyTorch checkpoint in the zip format of PyTorch 1.6 and later; the \
                 lab reads the legacy format and safetensors. Convert it with \
                 `safetensors.torch.save_file(torch.load(path), 'model.safetensors')`"
                    .into(),
            ));
        }
        let (tensors, storage_keys, data_start) = read_pickles(&bytes).map_err(fail)?;
        let storage_starts = locate_storages(&bytes, data_start, &storage_keys).map_err(fail)?;
        let mut checkpoint = Self {
            file_name: file_name.to_string(),
            bytes,
            names: Vec::new(),
            tensors: HashMap::new(),
        };
        for (name, tensor) in tensors {
            let info = resolve_tensor(&name, tensor, &storage_starts).map_err(fail)?;
            checkpoint.names.push(name.clone());
            checkpoint.tensors.insert(name, info);
        }
        Ok(checkpoint)
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The tensors' names, in the checkpoint's order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }
}

impl WeightSource for TorchCheckpoint {
    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        let info = self.tensors.get(name).ok_or_else(|| {
            LabError::Weights(format!("{}: no tensor named {name}", self.file_name))
        })?;
        let size = info.dtype.size();
        let count: usize = info.shape.iter().product();
        let mut values = Vec::with_capacity(count);
        // Walks the tensor in row-major order; its extent was checked against the storage.
        let mut index = vec![0usize; info.shape.len()];
        let mut element = info.offset;
        for _ in 0..count {
            let at = info.storage_start + element * size;
            values.push(info.dtype.read(&self.bytes[at..at + size]));
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                element += info.strides[axis];
                if index[axis] < info.shape[axis] {
                    break;
                }
                element -= info.strides[axis] * info.shape[axis];
                index[axis] = 0;
            }
        }
        Ok((values, info.shape.clone()))
    }
}

/// A tensor as the object pickle describes it.
struct PickledTensor {
    storage: StorageRef,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

/// The five pickles: the tensors by name, the storage keys in data order with their element
/// types and counts, and where the data section starts.
#[allow(clippy::type_complexity)]
fn read_pickles(
    bytes: &[u8],
) -> Result<(Vec<(String, PickledTensor)>, Vec<StorageRef>, usize), String> {
    let mut at = 0;
    let mut next = |what: &str| -> Result<Pickle, String> {
        let pickle = pickle::read(&bytes[at..]).map_err(|error| {
            format!(
                "the {what} cannot be read: {error} (file offset {}); the file is truncated, \
                 corrupt or not a legacy PyTorch checkpoint",
                at + error.offset
            )
        })?;
        at += pickle.end;
        Ok(pickle)
    };
    let magic = next("magic number")?;
    if magic.value != Value::Int(MAGIC_NUMBER) {
        return Err("this is not a legacy PyTorch checkpoint (its magic number is wrong)".into());
    }
    let version = next("protocol version")?;
    if version.value != Value::Int(PROTOCOL_VERSION) {
        return Err(format!(
            "the checkpoint's protocol version is {:?}; the lab reads version 1001",
            version.value
        ));
    }
    let system = next("system information")?;
    check_byte_order(&system)?;
    let object = next("object")?;
    let tensors = state_dict(&object)?;
    let keys = next("storage key list")?;
    let data_start = at;
    let key_list = keys
        .items(keys.value)
        .ok_or("the storage key list is not a list")?;
    let roots = storage_roots(&object)?;
    let storages = key_list
        .iter()
        .map(|&key| {
            let key = keys.str(key).ok_or("a storage key is not text")?;
            let &(dtype, numel) = roots.get(key).ok_or_else(|| {
                format!("the storage {key} has data but nothing refers to it; the file is corrupt")
            })?;
            Ok(StorageRef {
                key: key.to_string(),
                dtype,
                numel,
                view: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((tensors, storages, data_start))
}

/// The element type and count of every storage the object pickle refers to, by key.
fn storage_roots(object: &Pickle) -> Result<HashMap<String, (StorageDtype, usize)>, String> {
    let mut roots = HashMap::new();
    for (index, entry) in object.heap.iter().enumerate() {
        if !matches!(entry, HeapObject::Persistent(_)) {
            continue;
        }
        let storage = storage_ref(object, Value::Ref(index))?;
        let root = (storage.dtype, storage.numel);
        if roots
            .insert(storage.key.clone(), root)
            .is_some_and(|known| known != root)
        {
            return Err(format!(
                "the storage {} is described in two inconsistent ways; the file is corrupt",
                storage.key
            ));
        }
    }
    Ok(roots)
}

fn check_byte_order(system: &Pickle) -> Result<(), String> {
    let items = system
        .dict_items(system.value)
        .ok_or("the system information is not a dict")?;
    let little_endian = items
        .iter()
        .find(|(key, _)| system.str(*key) == Some("little_endian"))
        .map(|(_, value)| *value);
    match little_endian {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => Err(
            "the checkpoint was written on a big-endian machine; the lab reads little-endian \
                 checkpoints only"
                .into(),
        ),
        _ => Err("the system information does not give the byte order".into()),
    }
}

/// The named tensors of the object pickle: a dict of tensors, or one under `state_dict` or
/// `model`.
fn state_dict(object: &Pickle) -> Result<Vec<(String, PickledTensor)>, String> {
    let not_a_state_dict = || {
        "the checkpoint holds no state dict (a dict of names to tensors); if it stores a whole \
         module, save `model.state_dict()` instead"
            .to_string()
    };
    let mut items = object
        .dict_items(object.value)
        .ok_or_else(not_a_state_dict)?;
    let nested = items.iter().find(|(key, value)| {
        matches!(object.str(*key), Some("state_dict" | "model"))
            && object.dict_items(*value).is_some()
    });
    if let Some(&(_, inner)) = nested {
        items = object.dict_items(inner).expect("checked above");
    }
    let mut tensors = Vec::new();
    for &(key, value) in items {
        let name = object.str(key).ok_or("a state dict key is not text")?;
        match pickled_tensor(object, value) {
            Some(tensor) => tensors.push((name.to_string(), tensor?)),
            // Other entries (`_metadata`, hyper-parameters) are not weights.
            None => continue,
        }
    }
    if tensors.is_empty() {
        return Err(not_a_state_dict());
    }
    Ok(tensors)
}

/// `None` when `value` is not a tensor at all, an error when it is a malformed one.
fn pickled_tensor(pickle: &Pickle, mut value: Value) -> Option<Result<PickledTensor, String>> {
    // An `nn.Parameter` wraps its tensor; a few wrappings deep is already unusual.
    for _ in 0..4 {
        let HeapObject::Object(object) = pickle.get(value)? else {
            return None;
        };
        let (module, function) = pickle.global(object.class)?;
        if module != "torch._utils" {
            return None;
        }
        let args = pickle.items(object.args).unwrap_or(&[]);
        match function {
            "_rebuild_tensor" | "_rebuild_tensor_v2" => return Some(rebuild_tensor(pickle, args)),
            "_rebuild_parameter" | "_rebuild_parameter_with_state" => match args.first() {
                Some(&tensor) => value = tensor,
                None => {
                    return Some(Err(
                        "a parameter without its tensor; the file is corrupt".into()
                    ));
                }
            },
            _ => return None,
        }
    }
    None
}

fn rebuild_tensor(pickle: &Pickle, args: &[Value]) -> Result<PickledTensor, String> {
    let [storage, offset, shape, strides, ..] = args else {
        return Err("a tensor is missing its storage, offset, size or stride".into());
    };
    let sizes = |value: Value, what: &str| -> Result<Vec<usize>, String> {
        let items = pickle
            .items(value)
            .ok_or_else(|| format!("a tensor's {what} is not a tuple"))?;
        items.iter().map(|&item| to_usize(item, what)).collect()
    };
    let tensor = PickledTensor {
        storage: storage_ref(pickle, *storage)?,
        offset: to_usize(*offset, "storage offset")?,
        shape: sizes(*shape, "size")?,
        strides: sizes(*strides, "stride")?,
    };
    if tensor.shape.len() != tensor.strides.len() {
        return Err("a tensor has as many strides as dimensions; this one does not".into());
    }
    Ok(tensor)
}

fn storage_ref(pickle: &Pickle, value: Value) -> Result<StorageRef, String> {
    let Some(HeapObject::Persistent(id)) = pickle.get(value) else {
        return Err("a tensor's storage is not a persistent reference".into());
    };
    let fields = pickle.items(*id).ok_or("a persistent id is not a tuple")?;
    if fields.first().and_then(|&f| pickle.str(f)) != Some("storage") {
        return Err(
            "the checkpoint refers to something other than a storage (a whole module?); save \
             `model.state_dict()` instead"
                .into(),
        );
    }
    let [_, class, key, _location, numel, view] = fields else {
        return Err("a storage reference has the wrong number of fields".into());
    };
    let class_name = pickle.global(*class).map(|(_, name)| name).unwrap_or("?");
    let dtype = StorageDtype::from_class(class_name)
        .ok_or_else(|| format!("the storage type {class_name} is not one the lab reads"))?;
    let key = pickle.str(*key).ok_or("a storage key is not text")?;
    let view = match pickle.items(*view) {
        None => None,
        Some([_view_key, offset, count]) => Some((
            to_usize(*offset, "view offset")?,
            to_usize(*count, "view size")?,
        )),
        Some(_) => return Err("a storage view has the wrong number of fields".into()),
    };
    Ok(StorageRef {
        key: key.to_string(),
        dtype,
        numel: to_usize(*numel, "storage size")?,
        view,
    })
}

fn to_usize(value: Value, what: &str) -> Result<usize, String> {
    match value {
        Value::Int(n) => usize::try_from(n).map_err(|_| format!("a {what} of {n} is out of range")),
        _ => Err(format!("a {what} is not an integer")),
    }
}

/// Where each storage's elements start in the file, checking each one's element count and that
/// the file holds all of them.
fn locate_storages(
    bytes: &[u8],
    data_start: usize,
    storages: &[StorageRef],
) -> Result<HashMap<String, (StorageRef, usize)>, String> {
    let truncated = |key: &str| {
        format!(
            "the file ends inside the data of storage {key}; it is truncated (download it again)"
        )
    };
    let mut at = data_start;
    let mut located = HashMap::new();
    for storage in storages {
        let header = bytes
            .get(at..at + 8)
            .ok_or_else(|| truncated(&storage.key))?;
        let count = u64::from_le_bytes(header.try_into().expect("eight bytes"));
        if usize::try_from(count) != Ok(storage.numel) {
            return Err(format!(
                "the storage {} holds {count} elements, but the tensors say {}; the file is \
                 corrupt",
                storage.key, storage.numel
            ));
        }
        let length = (storage.numel)
            .checked_mul(storage.dtype.size())
            .ok_or_else(|| truncated(&storage.key))?;
        let start = at + 8;
        let end = start.checked_add(length).filter(|&end| end <= bytes.len());
        at = end.ok_or_else(|| truncated(&storage.key))?;
        located.insert(storage.key.clone(), (storage.clone(), start));
    }
    Ok(located)
}

/// Checks that the tensor's every element lies inside its storage.
fn resolve_tensor(
    name: &str,
    tensor: PickledTensor,
    storages: &HashMap<String, (StorageRef, usize)>,
) -> Result<TensorInfo, String> {
    let (root, start) = storages.get(&tensor.storage.key).ok_or_else(|| {
        format!(
            "the tensor {name} uses the storage {}, which has no data in the file; the file is \
             corrupt",
            tensor.storage.key
        )
    })?;
    let (view_offset, storage_len) = tensor.storage.view.unwrap_or((0, root.numel));
    let out_of_bounds = || {
        format!(
            "the tensor {name} reaches beyond its storage {}; the file is corrupt",
            root.key
        )
    };
    if view_offset
        .checked_add(storage_len)
        .is_none_or(|end| end > root.numel)
    {
        return Err(out_of_bounds());
    }
    let count = (tensor.shape.iter()).try_fold(1usize, |n, &size| n.checked_mul(size));
    let Some(count) = count else {
        return Err(out_of_bounds());
    };
    if count > 0 {
        let last = (tensor.shape.iter().zip(&tensor.strides))
            .try_fold(tensor.offset, |sum, (&size, &stride)| {
                sum.checked_add((size - 1).checked_mul(stride)?)
            });
        if last.is_none_or(|last| last >= storage_len) {
            return Err(out_of_bounds());
        }
    }
    Ok(TensorInfo {
        dtype: root.dtype,
        shape: tensor.shape,
        strides: tensor.strides,
        storage_start: start + view_offset * root.dtype.size(),
        offset: tensor.offset,
    })
}
