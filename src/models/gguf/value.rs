//! The values of GGUF metadata: thirteen scalar types, strings, and arrays of any of them
//! (arrays of arrays included).

use super::cursor::Cursor;
use crate::LabError;

/// One metadata value, as typed in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
}

/// Arrays of arrays are legal; a corrupt file could nest them until the stack runs out.
const DEEPEST_NESTING: usize = 8;

impl MetaValue {
    /// The type's name as the GGUF specification spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "UINT8",
            Self::I8(_) => "INT8",
            Self::U16(_) => "UINT16",
            Self::I16(_) => "INT16",
            Self::U32(_) => "UINT32",
            Self::I32(_) => "INT32",
            Self::U64(_) => "UINT64",
            Self::I64(_) => "INT64",
            Self::F32(_) => "FLOAT32",
            Self::F64(_) => "FLOAT64",
            Self::Bool(_) => "BOOL",
            Self::String(_) => "STRING",
            Self::Array(_) => "ARRAY",
        }
    }

    /// An integer of any width and sign, when it is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// An integer of any width and sign.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// A floating-point number, widened to f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            Self::Array(v) => Some(v),
            _ => None,
        }
    }

    /// Reads a value of the type numbered `type_id` in the GGUF specification.
    pub(super) fn read(cursor: &mut Cursor, type_id: u32, what: &str) -> Result<Self, LabError> {
        Self::read_nested(cursor, type_id, what, 0)
    }

    fn read_nested(
        cursor: &mut Cursor,
        type_id: u32,
        what: &str,
        depth: usize,
    ) -> Result<Self, LabError> {
        Ok(match type_id {
            0 => Self::U8(cursor.u8(what)?),
            1 => Self::I8(cursor.u8(what)? as i8),
            2 => Self::U16(cursor.u16(what)?),
            3 => Self::I16(cursor.u16(what)? as i16),
            4 => Self::U32(cursor.u32(what)?),
            5 => Self::I32(cursor.u32(what)? as i32),
            6 => Self::F32(f32::from_bits(cursor.u32(what)?)),
            7 => Self::Bool(cursor.u8(what)? != 0),
            8 => Self::String(cursor.string(what)?),
            9 => Self::Array(Self::read_array(cursor, what, depth)?),
            10 => Self::U64(cursor.u64(what)?),
            11 => Self::I64(cursor.u64(what)? as i64),
            12 => Self::F64(f64::from_bits(cursor.u64(what)?)),
            other => {
                return Err(cursor.error(format!("{what} has the unknown value type {other}")));
            }
        })
    }

    fn read_array(cursor: &mut Cursor, what: &str, depth: usize) -> Result<Vec<Self>, LabError> {
        if depth >= DEEPEST_NESTING {
            return Err(cursor.error(format!(
                "{what} nests arrays more than {DEEPEST_NESTING} deep"
            )));
        }
        let element_type = cursor.u32(what)?;
        let count = cursor.length(what)?;
        // Checked before allocating, so a corrupt count cannot ask for terabytes.
        let smallest = smallest_encoding(element_type).ok_or_else(|| {
            cursor.error(format!(
                "{what} has the unknown element type {element_type}"
            ))
        })?;
        if count > cursor.remaining() / smallest {
            return Err(cursor.error(format!(
                "{what} claims {count} elements, more than the rest of the file can hold: the \
                 file is cut short or corrupt"
            )));
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(Self::read_nested(cursor, element_type, what, depth + 1)?);
        }
        Ok(values)
    }
}

/// The fewest bytes one value of a type can take: its size, or the length field alone for
/// strings and arrays.
fn smallest_encoding(type_id: u32) -> Option<usize> {
    Some(match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of an array header: element type, then count.
    fn array_header(element_type: u32, count: u64) -> Vec<u8> {
        [element_type.to_le_bytes().as_slice(), &count.to_le_bytes()].concat()
    }

    fn read(bytes: &[u8]) -> Result<MetaValue, LabError> {
        MetaValue::read(&mut Cursor::new("test.gguf", bytes), 9, "the value")
    }

    #[test]
    fn arrays_of_arrays_and_empty_arrays_read() {
        let bytes = [
            array_header(9, 2),
            array_header(0, 2),
            vec![1, 2],
            array_header(8, 0),
        ]
        .concat();
        let expected = MetaValue::Array(vec![
            MetaValue::Array(vec![MetaValue::U8(1), MetaValue::U8(2)]),
            MetaValue::Array(vec![]),
        ]);
        assert_eq!(read(&bytes).unwrap(), expected);
    }

    #[test]
    fn deep_nesting_and_impossible_counts_are_errors() {
        let deep: Vec<u8> = (0..DEEPEST_NESTING + 1)
            .flat_map(|_| array_header(9, 1))
            .collect();
        let message = read(&deep).unwrap_err().to_string();
        assert!(message.contains("nests arrays"), "{message}");

        let huge = array_header(4, 1 << 40);
        let message = read(&huge).unwrap_err().to_string();
        assert!(
            message.contains("claims 1099511627776 elements"),
            "{message}"
        );

        let unknown = array_header(13, 1);
        let message = read(&unknown).unwrap_err().to_string();
        assert!(message.contains("unknown element type 13"), "{message}");
    }
}
