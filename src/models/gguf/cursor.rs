//! Little-endian reads from a byte buffer that check every length against what is left, so a
//! truncated or corrupt file ends in an error that says where, never in a panic.

use crate::LabError;

/// A position in a file's bytes, with the file's name for messages.
pub(super) struct Cursor<'a> {
    file_name: &'a str,
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(file_name: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            file_name,
            bytes,
            position: 0,
        }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// An error about the file, naming it and where the reader stands.
    pub fn error(&self, what: impl std::fmt::Display) -> LabError {
        LabError::Weights(format!(
            "{} is not a valid GGUF file: {what} (at byte {} of {})",
            self.file_name,
            self.position,
            self.bytes.len()
        ))
    }

    /// The next `count` bytes; `what` names them for the message when the file ends first.
    pub fn take(&mut self, count: usize, what: &str) -> Result<&'a [u8], LabError> {
        if count > self.remaining() {
            return Err(LabError::Weights(format!(
                "{} is cut short: it ends after {} bytes, in the middle of {what} (at byte {}); \
                 the file is truncated (an interrupted download?) or corrupt",
                self.file_name,
                self.bytes.len(),
                self.position
            )));
        }
        let taken = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LabError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, LabError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, LabError> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, LabError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, LabError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count or length stored as u64, which must fit the address space (32 bits in wasm).
    pub fn length(&mut self, what: &str) -> Result<usize, LabError> {
        let value = self.u64(what)?;
        usize::try_from(value)
            .map_err(|_| self.error(format!("{what} {value} is impossibly large")))
    }

    /// A GGUF string: a u64 byte length, then that many bytes of UTF-8.
    pub fn string(&mut self, what: &str) -> Result<String, LabError> {
        let length = self.length(what)?;
        let start = self.position;
        let bytes = self.take(length, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            LabError::Weights(format!(
                "{} is not a valid GGUF file: {what} at byte {start} is not valid UTF-8",
                self.file_name
            ))
        })
    }
}
