//! Reading the compact WordNet file written by `tests/oracle/wordnet_compact.py`; that
//! script's doc string describes the format. Every read is checked, so a truncated or damaged
//! file gives an error naming the byte where it went wrong, never a panic.

use super::wordnet::WordNetError;

/// The file starts with these bytes, then the format version.
pub const MAGIC: &[u8] = b"WNMETEOR";
pub const VERSION: u32 = 1;

/// Lists of ids, each under a key, the keys ascending; stored flat in three vectors rather than
/// as a hundred thousand small allocations.
#[derive(Debug, Clone, Default)]
pub struct IdLists {
    keys: Vec<u32>,
    /// `items[starts[k]..starts[k + 1]]` belongs to `keys[k]`.
    starts: Vec<usize>,
    items: Vec<u32>,
}

impl IdLists {
    /// The list stored under `key`, if there is one.
    pub fn get(&self, key: u32) -> Option<&[u32]> {
        let slot = self.keys.binary_search(&key).ok()?;
        Some(&self.items[self.starts[slot]..self.starts[slot + 1]])
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A cursor over the file's bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    pub fn error(&self, problem: impl Into<String>) -> WordNetError {
        WordNetError {
            offset: self.position,
            problem: problem.into(),
        }
    }

    pub fn header(&mut self) -> Result<(), WordNetError> {
        if self.take(MAGIC.len())? != MAGIC {
            return Err(WordNetError {
                offset: 0,
                problem: "not a compact WordNet file".into(),
            });
        }
        match self.varint()? {
            VERSION => Ok(()),
            other => Err(self.error(format!("format version {other}, expected {VERSION}"))),
        }
    }

    /// Fails unless every byte was read: trailing bytes mean the sections disagree.
    pub fn finish(&self) -> Result<(), WordNetError> {
        match self.bytes.len() - self.position {
            0 => Ok(()),
            extra => Err(self.error(format!("{extra} bytes after the last section"))),
        }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], WordNetError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.error(format!("the file ends inside a field of {count} bytes")));
        };
        let taken = &self.bytes[self.position..end];
        self.position = end;
        Ok(taken)
    }

    /// An unsigned LEB128 integer of at most 32 bits.
    pub fn varint(&mut self) -> Result<u32, WordNetError> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| self.error("integer above 32 bits"));
            }
        }
        Err(self.error("integer longer than 5 bytes"))
    }

    /// A count of items that each take at least one byte, so it cannot exceed what is left;
    /// this keeps a damaged count from asking for a huge allocation.
    pub fn count(&mut self) -> Result<usize, WordNetError> {
        let count = self.varint()? as usize;
        let left = self.bytes.len() - self.position;
        if count > left {
            return Err(self.error(format!("count {count} exceeds the {left} bytes left")));
        }
        Ok(count)
    }

    /// The sorted, front-coded string table.
    pub fn strings(&mut self) -> Result<Vec<Box<str>>, WordNetError> {
        let count = self.count()?;
        let mut strings: Vec<Box<str>> = Vec::with_capacity(count);
        let mut previous: &[u8] = &[];
        for _ in 0..count {
            let text = self.front_coded(previous)?;
            if strings.last().is_some_and(|last| text.as_str() <= &**last) {
                return Err(self.error(format!("string {text:?} is out of order")));
            }
            strings.push(text.into_boxed_str());
            previous = strings.last().map_or(&[], |last| last.as_bytes());
        }
        Ok(strings)
    }

    fn front_coded(&mut self, previous: &[u8]) -> Result<String, WordNetError> {
        let shared = self.varint()? as usize;
        let rest_len = self.varint()? as usize;
        let Some(prefix) = previous.get(..shared) else {
            return Err(self.error(format!("shares {shared} bytes with a shorter string")));
        };
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(self.take(rest_len)?);
        String::from_utf8(bytes).map_err(|_| self.error("string is not UTF-8"))
    }

    /// One id of a strictly ascending run, stored as its gap to `next_allowed`.
    fn next_ascending(
        &mut self,
        next_allowed: &mut u64,
        bound: usize,
    ) -> Result<u32, WordNetError> {
        let id = *next_allowed + u64::from(self.varint()?);
        if id >= bound as u64 {
            return Err(self.error(format!("id {id} out of range (below {bound})")));
        }
        *next_allowed = id + 1;
        Ok(id as u32)
    }

    /// A length, then that many strictly ascending ids below `bound`, appended to `out`.
    fn ascending_list(&mut self, bound: usize, out: &mut Vec<u32>) -> Result<usize, WordNetError> {
        let length = self.count()?;
        let mut next_allowed = 0;
        for _ in 0..length {
            let id = self.next_ascending(&mut next_allowed, bound)?;
            out.push(id);
        }
        Ok(length)
    }

    /// One non-empty list per consecutive key `0..count`, items below `item_bound`.
    pub fn dense_lists(&mut self, item_bound: usize) -> Result<IdLists, WordNetError> {
        let count = self.count()?;
        let mut lists = IdLists {
            starts: vec![0],
            ..IdLists::default()
        };
        for key in 0..count {
            if self.ascending_list(item_bound, &mut lists.items)? == 0 {
                return Err(self.error(format!("list {key} is empty")));
            }
            lists.keys.push(key as u32);
            lists.starts.push(lists.items.len());
        }
        Ok(lists)
    }

    /// Lists under strictly ascending keys below `key_bound`, items below `item_bound`.
    pub fn keyed_lists(
        &mut self,
        key_bound: usize,
        item_bound: usize,
    ) -> Result<IdLists, WordNetError> {
        let count = self.count()?;
        let mut lists = IdLists {
            starts: vec![0],
            ..IdLists::default()
        };
        let mut next_key = 0;
        for _ in 0..count {
            let key = self.next_ascending(&mut next_key, key_bound)?;
            self.ascending_list(item_bound, &mut lists.items)?;
            lists.keys.push(key);
            lists.starts.push(lists.items.len());
        }
        Ok(lists)
    }
}
