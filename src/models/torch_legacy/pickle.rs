//! A reader for Python's pickle format (protocols 0 to 5), enough of it to read the data that
//! `torch.save` writes: built-in values, references to classes, calls to them, and persistent
//! ids, which the caller resolves.
//!
//! Nothing is executed: a call to a class (`REDUCE`, `NEWOBJ`) becomes an [`Object`] recording
//! the class and its arguments, and the caller decides what such an object means.
//!
//! Every container lives in one heap and is referred to by index, so the memo shares objects
//! as Python does, `BINGET` costs nothing however large the object, and dropping the result
//! never recurses, whatever the nesting. A malformed or truncated stream gives a [`PickleError`]
//! that says where it went wrong; no input makes the reader panic.

use std::collections::HashMap;
use std::fmt;

/// A value on the machine's stack: scalars inline, everything else an index into the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// An object in [`Pickle::heap`].
    Ref(usize),
}

/// What a [`Value::Ref`] points to.
#[derive(Debug, Clone, PartialEq)]
pub enum HeapObject {
    /// Text, and byte strings of Python 2 pickles read as Latin-1 text.
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    /// Lists, sets and frozensets.
    List(Vec<Value>),
    /// Dictionaries, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A class or function named by `GLOBAL` or `STACK_GLOBAL`.
    Global {
        module: String,
        name: String,
    },
    Object(Object),
    /// A persistent id (`PERSID`, `BINPERSID`), left for the caller to resolve.
    Persistent(Value),
}

/// A call `class(*args)` that was not executed, with what the stream then did to the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: Value,
    pub args: Value,
    /// The argument of `BUILD` (`__setstate__`), if any.
    pub state: Option<Value>,
    /// Items set on it as on a dictionary (`SETITEM`, `SETITEMS`).
    pub dict_items: Vec<(Value, Value)>,
    /// Items appended to it as to a list (`APPEND`, `APPENDS`).
    pub list_items: Vec<Value>,
}

/// The result of one pickle: its top value, the heap it refers to, and where it ended.
#[derive(Debug)]
pub struct Pickle {
    pub value: Value,
    pub heap: Vec<HeapObject>,
    /// The offset just after the `STOP` opcode, where the next pickle of a file begins.
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PickleError {
    /// Byte offset, in the buffer given to [`read`], of the opcode that failed.
    pub offset: usize,
    pub what: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.what, self.offset)
    }
}

impl Pickle {
    pub fn get(&self, value: Value) -> Option<&HeapObject> {
        match value {
            Value::Ref(index) => self.heap.get(index),
            _ => None,
        }
    }

    pub fn str(&self, value: Value) -> Option<&str> {
        match self.get(value)? {
            HeapObject::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The items of a tuple or a list.
    pub fn items(&self, value: Value) -> Option<&[Value]> {
        match self.get(value)? {
            HeapObject::Tuple(items) | HeapObject::List(items) => Some(items),
            _ => None,
        }
    }

    /// `(module, name)` of a global.
    pub fn global(&self, value: Value) -> Option<(&str, &str)> {
        match self.get(value)? {
            HeapObject::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// The entries of a dictionary, or of an object built as one (an `OrderedDict`).
    pub fn dict_items(&self, value: Value) -> Option<&[(Value, Value)]> {
        match self.get(value)? {
            HeapObject::Dict(items) => Some(items),
            HeapObject::Object(object) => Some(&object.dict_items),
            _ => None,
        }
    }
}

/// Reads one pickle from the start of `bytes`.
pub fn read(bytes: &[u8]) -> Result<Pickle, PickleError> {
    Machine::new(bytes).run()
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where the current opcode began, for error messages.
    op_start: usize,
    stack: Vec<Value>,
    /// Stack lengths at each `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    heap: Vec<HeapObject>,
}

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            op_start: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            heap: Vec::new(),
        }
    }

    fn fail<T>(&self, what: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.op_start,
            what: what.into(),
        })
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], PickleError> {
        let bytes: &'a [u8] = self.bytes;
        match self.at.checked_add(count).filter(|&end| end <= bytes.len()) {
            Some(end) => {
                let taken = &bytes[self.at..end];
                self.at = end;
                Ok(taken)
            }
            None => self.fail("the pickle stream ends early; the file is truncated"),
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take_array()?))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    fn i32(&mut self) -> Result<i32, PickleError> {
        Ok(i32::from_le_bytes(self.take_array()?))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }

    /// A length that must fit in what is left of the stream.
    fn length(&mut self, length: u64) -> Result<usize, PickleError> {
        match usize::try_from(length) {
            Ok(length) if length <= self.bytes.len() - self.at => Ok(length),
            _ => self.fail(format!(
                "an object of {length} bytes does not fit in the rest of the stream; the file \
                 is truncated or corrupt"
            )),
        }
    }

    /// A text line of the older protocols, without its newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.bytes[self.at..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return self.fail("the pickle stream ends inside a text line; the file is truncated");
        };
        self.at += end + 1;
        match std::str::from_utf8(&rest[..end]) {
            Ok(text) => Ok(text),
            Err(_) => self.fail("a text line of the pickle is not valid UTF-8"),
        }
    }

    fn alloc(&mut self, object: HeapObject) -> Value {
        self.heap.push(object);
        Value::Ref(self.heap.len() - 1)
    }

    fn push_str(&mut self, raw: &[u8]) -> Result<(), PickleError> {
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.fail("a string in the pickle is not valid UTF-8");
        };
        let value = self.alloc(HeapObject::Str(text.to_string()));
        self.stack.push(value);
        Ok(())
    }

    /// Python 2 byte strings: read as Latin-1 text, which is what they held in checkpoints.
    fn push_latin1(&mut self, raw: &[u8]) {
        let value = self.alloc(HeapObject::Str(
            raw.iter().map(|&b| char::from(b)).collect(),
        ));
        self.stack.push(value);
    }

    fn push_bytes(&mut self, raw: &[u8]) {
        let value = self.alloc(HeapObject::Bytes(raw.to_vec()));
        self.stack.push(value);
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.fail("the pickle pops from an empty stack; the file is corrupt");
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Result<Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.len() > floor {
            true => Ok(self.stack[self.stack.len() - 1]),
            false => self.fail("the pickle reads an empty stack; the file is corrupt"),
        }
    }

    /// Everything above the last mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return self.fail("the pickle closes a mark it never opened; the file is corrupt");
        };
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let value = self.top()?;
        self.memo.insert(key, value);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(&value) => {
                self.stack.push(value);
                Ok(())
            }
            None => self.fail(format!(
                "the pickle refers to memo entry {key}, never stored"
            )),
        }
    }

    fn heap_mut(&mut self, value: Value) -> Result<&mut HeapObject, PickleError> {
        match value {
            Value::Ref(index) if index < self.heap.len() => Ok(&mut self.heap[index]),
            _ => self.fail("the pickle adds items to something that is not a container"),
        }
    }

    fn set_items(&mut self, target: Value, pairs: Vec<Value>) -> Result<(), PickleError> {
        if !pairs.len().is_multiple_of(2) {
            return self.fail("the pickle sets a key without a value; the file is corrupt");
        }
        let pairs: Vec<(Value, Value)> = pairs.chunks(2).map(|kv| (kv[0], kv[1])).collect();
        match self.heap_mut(target)? {
            HeapObject::Dict(items) => items.extend(pairs),
            HeapObject::Object(object) => object.dict_items.extend(pairs),
            _ => return self.fail("the pickle sets dictionary items on a value that is none"),
        }
        Ok(())
    }

    fn append(&mut self, target: Value, values: Vec<Value>) -> Result<(), PickleError> {
        match self.heap_mut(target)? {
            HeapObject::List(items) => items.extend(values),
            HeapObject::Object(object) => object.list_items.extend(values),
            _ => return self.fail("the pickle appends to a value that is not a list"),
        }
        Ok(())
    }

    fn call(&mut self, class: Value, args: Value) {
        let object = self.alloc(HeapObject::Object(Object {
            class,
            args,
            state: None,
            dict_items: Vec::new(),
            list_items: Vec::new(),
        }));
        self.stack.push(object);
    }

    fn global(&mut self, module: &str, name: &str) {
        let value = self.alloc(HeapObject::Global {
            module: module.to_string(),
            name: name.to_string(),
        });
        self.stack.push(value);
    }

    fn tuple(&mut self, items: Vec<Value>) {
        let value = self.alloc(HeapObject::Tuple(items));
        self.stack.push(value);
    }

    fn run(mut self) -> Result<Pickle, PickleError> {
        loop {
            self.op_start = self.at;
            let opcode = self.u8()?;
            if opcode == b'.' {
                let value = self.pop()?;
                return Ok(Pickle {
                    value,
                    heap: self.heap,
                    end: self.at,
                });
            }
            self.step(opcode)?;
        }
    }

    /// One opcode, as the `pickletools` documentation of CPython describes it.
    fn step(&mut self, opcode: u8) -> Result<(), PickleError> {
        match opcode {
            // PROTO, FRAME: framing carries no values.
            0x80 => {
                self.u8()?;
            }
            0x95 => {
                self.u64()?;
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?;
                self.stack.push(top);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let value = self.i32()?;
                self.stack.push(Value::Int(value.into()));
            }
            b'K' => {
                let value = self.u8()?;
                self.stack.push(Value::Int(value.into()));
            }
            b'M' => {
                let value = self.u16()?;
                self.stack.push(Value::Int(value.into()));
            }
            0x8a => {
                let length = u64::from(self.u8()?);
                self.long(length)?;
            }
            0x8b => {
                let length = self.i32()?;
                match u64::try_from(length) {
                    Ok(length) => self.long(length)?,
                    Err(_) => return self.fail("the pickle has an integer of negative length"),
                }
            }
            b'I' | b'L' => self.text_int()?,
            b'F' => {
                let line = self.line()?;
                match line.trim().parse::<f64>() {
                    Ok(value) => self.stack.push(Value::Float(value)),
                    Err(_) => return self.fail(format!("the pickle has a bad float {line:?}")),
                }
            }
            b'G' => {
                let value = f64::from_be_bytes(self.take_array()?);
                self.stack.push(Value::Float(value));
            }
            b'X' => {
                let length = u64::from(self.u32()?);
                let length = self.length(length)?;
                let raw = self.take(length)?;
                self.push_str(raw)?;
            }
            0x8c => {
                let length = usize::from(self.u8()?);
                let raw = self.take(length)?;
                self.push_str(raw)?;
            }
            0x8d => {
                let length = self.u64()?;
                let length = self.length(length)?;
                let raw = self.take(length)?;
                self.push_str(raw)?;
            }
            b'T' => {
                let length = self.i32()?;
                let length = self.length(u64::try_from(length).unwrap_or(u64::MAX))?;
                let raw = self.take(length)?;
                self.push_latin1(raw);
            }
            b'U' => {
                let length = usize::from(self.u8()?);
                let raw = self.take(length)?;
                self.push_latin1(raw);
            }
            b'B' => {
                let length = u64::from(self.u32()?);
                let length = self.length(length)?;
                let raw = self.take(length)?;
                self.push_bytes(raw);
            }
            b'C' => {
                let length = usize::from(self.u8()?);
                let raw = self.take(length)?;
                self.push_bytes(raw);
            }
            0x8e => {
                let length = self.u64()?;
                let length = self.length(length)?;
                let raw = self.take(length)?;
                self.push_bytes(raw);
            }
            b'V' => {
                let line = self.line()?;
                // Raw-unicode-escape text; checkpoints only put plain names here.
                self.push_str(line.as_bytes())?;
            }
            b')' => self.tuple(Vec::new()),
            b't' => {
                let items = self.pop_mark()?;
                self.tuple(items);
            }
            0x85..=0x87 => {
                let count = usize::from(opcode - 0x84);
                let floor = self.marks.last().copied().unwrap_or(0);
                if self.stack.len() < floor + count {
                    return self.fail("the pickle builds a tuple from too few values");
                }
                let items = self.stack.split_off(self.stack.len() - count);
                self.tuple(items);
            }
            b']' | 0x8f => {
                let value = self.alloc(HeapObject::List(Vec::new()));
                self.stack.push(value);
            }
            b'l' | 0x91 => {
                let items = self.pop_mark()?;
                let value = self.alloc(HeapObject::List(items));
                self.stack.push(value);
            }
            b'a' => {
                let value = self.pop()?;
                let target = self.top()?;
                self.append(target, vec![value])?;
            }
            b'e' | 0x90 => {
                let values = self.pop_mark()?;
                let target = self.top()?;
                self.append(target, values)?;
            }
            b'}' => {
                let value = self.alloc(HeapObject::Dict(Vec::new()));
                self.stack.push(value);
            }
            b'd' => {
                let pairs = self.pop_mark()?;
                let value = self.alloc(HeapObject::Dict(Vec::new()));
                self.set_items(value, pairs)?;
                self.stack.push(value);
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                let target = self.top()?;
                self.set_items(target, vec![key, value])?;
            }
            b'u' => {
                let pairs = self.pop_mark()?;
                let target = self.top()?;
                self.set_items(target, pairs)?;
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.global(module, name);
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(HeapObject::Str(module)), Some(HeapObject::Str(name))) =
                    (self.get(module), self.get(name))
                else {
                    return self.fail("the pickle names a class with something other than text");
                };
                let (module, name) = (module.clone(), name.clone());
                self.global(&module, &name);
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let class = self.pop()?;
                self.call(class, args);
            }
            0x92 => {
                let _keyword_args = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                self.call(class, args);
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                match self.heap_mut(target)? {
                    HeapObject::Object(object) => object.state = Some(state),
                    _ => {
                        return self.fail("the pickle sets the state of a value that is no object");
                    }
                }
            }
            b'q' => {
                let key = self.u8()?;
                self.memo_put(key.into())?;
            }
            b'r' => {
                let key = self.u32()?;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                self.memo_put(key)?;
            }
            b'p' => {
                let key = self.text_key()?;
                self.memo_put(key)?;
            }
            b'h' => {
                let key = self.u8()?;
                self.memo_get(key.into())?;
            }
            b'j' => {
                let key = self.u32()?;
                self.memo_get(key)?;
            }
            b'g' => {
                let key = self.text_key()?;
                self.memo_get(key)?;
            }
            b'Q' => {
                let id = self.pop()?;
                let value = self.alloc(HeapObject::Persistent(id));
                self.stack.push(value);
            }
            b'P' => {
                let line = self.line()?;
                let id = self.alloc(HeapObject::Str(line.to_string()));
                let value = self.alloc(HeapObject::Persistent(id));
                self.stack.push(value);
            }
            other => {
                return self.fail(format!(
                    "unknown pickle opcode 0x{other:02x}; the file is corrupt or not a PyTorch \
                     checkpoint"
                ));
            }
        }
        Ok(())
    }

    fn get(&self, value: Value) -> Option<&HeapObject> {
        match value {
            Value::Ref(index) => self.heap.get(index),
            _ => None,
        }
    }

    /// `LONG1`, `LONG4`: a little-endian two's-complement integer of `length` bytes.
    fn long(&mut self, length: u64) -> Result<(), PickleError> {
        let length = self.length(length)?;
        let raw = self.take(length)?;
        if raw.len() > 16 {
            return self.fail("the pickle has an integer wider than 128 bits");
        }
        let negative = raw.last().is_some_and(|&b| b & 0x80 != 0);
        let mut wide = [if negative { 0xff } else { 0 }; 16];
        wide[..raw.len()].copy_from_slice(raw);
        self.stack.push(Value::Int(i128::from_le_bytes(wide)));
        Ok(())
    }

    /// `INT` and `LONG` of protocol 0; `INT` also spells booleans as `01` and `00`.
    fn text_int(&mut self) -> Result<(), PickleError> {
        let line = self.line()?;
        let value = match line {
            "01" => Value::Bool(true),
            "00" => Value::Bool(false),
            _ => match line.trim_end_matches('L').parse::<i128>() {
                Ok(value) => Value::Int(value),
                Err(_) => return self.fail(format!("the pickle has a bad integer {line:?}")),
            },
        };
        self.stack.push(value);
        Ok(())
    }

    fn text_key(&mut self) -> Result<u32, PickleError> {
        let line = self.line()?;
        match line.parse::<u32>() {
            Ok(key) => Ok(key),
            Err(_) => self.fail(format!("the pickle has a bad memo key {line:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'a': (1, -2, 3.5), 'b': [True, None]}, protocol=2)` from CPython 3.11.
    const SMALL: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01J\xfe\xff\xff\xffG@\x0c\
\x00\x00\x00\x00\x00\x00\x87q\x02X\x01\x00\x00\x00bq\x03]q\x04(\x88Neu.";

    #[test]
    fn reads_builtin_values() {
        let pickle = read(SMALL).expect("a valid pickle");
        let items = pickle.dict_items(pickle.value).expect("a dict");
        assert_eq!(items.len(), 2);
        assert_eq!(pickle.str(items[0].0), Some("a"));
        let tuple = pickle.items(items[0].1).expect("a tuple");
        assert_eq!(tuple, &[Value::Int(1), Value::Int(-2), Value::Float(3.5)]);
        let list = pickle.items(items[1].1).expect("a list");
        assert_eq!(list, &[Value::Bool(true), Value::None]);
        assert_eq!(pickle.end, SMALL.len());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for length in 0..SMALL.len() {
            let error = read(&SMALL[..length]).expect_err("a truncated pickle");
            assert!(error.offset <= length, "{error}");
        }
    }

    #[test]
    fn wide_integers_keep_their_sign() {
        // LONG1 of 10 bytes (torch's magic number), then LONG1 -1.
        let magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.";
        assert_eq!(
            read(magic).unwrap().value,
            Value::Int(0x1950a86a20f9469cfc6c)
        );
        assert_eq!(read(b"\x8a\x01\xff.").unwrap().value, Value::Int(-1));
    }

    #[test]
    fn corrupt_streams_fail_without_panicking() {
        for position in 0..SMALL.len() {
            for byte in [0x00, 0x28, 0x2e, 0x71, 0x8a, 0xff] {
                let mut corrupt = SMALL.to_vec();
                corrupt[position] = byte;
                let _ = read(&corrupt);
            }
        }
        assert!(read(b"\x80\x02u.").is_err(), "SETITEMS without a mark");
        assert!(read(b"\x80\x02h\x05.").is_err(), "an unknown memo entry");
    }
}
