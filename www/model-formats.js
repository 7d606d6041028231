// The files a model is made of, recognised by name and checked by content, and the tensor
// tables the lab reads before loading any weights: safetensors and GGUF headers give every
// tensor's name, dtype and shape without the data.
//
// A reader is `read(start, end)`: a promise of the bytes [start, end) of one file, so the same
// code reads a File from the picker, bytes in memory, or the hub through HTTP Range requests.

import { ModelStoreError } from './model-error.js';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

// The safetensors format caps its JSON header at 100 MB; a larger "length" means another format.
const SAFETENSORS_MAX_HEADER = 100_000_000;

// GGML tensor types by number, as the GGUF specification lists them.
const GGML_TYPES = [
  'F32',
  'F16',
  'Q4_0',
  'Q4_1',
  'Q4_2',
  'Q4_3',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q8_1',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'Q8_K',
  'IQ2_XXS',
  'IQ2_XS',
  'IQ3_XXS',
  'IQ1_S',
  'IQ4_NL',
  'IQ3_S',
  'IQ2_S',
  'IQ4_XS',
  'I8',
  'I16',
  'I32',
  'I64',
  'F64',
  'IQ1_M',
  'BF16',
];

// Sizes of GGUF's fixed-width metadata value types (8 is a string, 9 an array).
const GGUF_VALUE_BYTES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const GGUF_STRING = 8;
const GGUF_ARRAY = 9;
const GGUF_FIRST_READ = 1 << 20;
const GGUF_MAX_DIMS = 8;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
// torch.save's legacy format: pickle protocol 2, then torch's magic number as a 10-byte long.
const TORCH_LEGACY_MAGIC = [
  0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];
const ZIP_NAME_LENGTH_AT = 26;
const ZIP_NAME_AT = 30;

/** What the lab reads, for messages. */
export const READABLE_FILES =
  'config.json, tokenizer.json, *.safetensors (with model.safetensors.index.json for shards), ' +
  '*.gguf and *.pth';

/** The kind of a file by its name alone, or null when the lab does not read such files. */
export function kindByName(name) {
  const lower = name.toLowerCase();
  if (name === 'config.json') return 'config';
  if (name === 'tokenizer.json') return 'tokenizer';
  if (lower.endsWith('.safetensors.index.json')) return 'index';
  if (lower.endsWith('.safetensors')) return 'safetensors';
  if (lower.endsWith('.gguf')) return 'gguf';
  if (lower.endsWith('.pth')) return 'pth';
  return null;
}

export const isWeights = (kind) => kind === 'safetensors' || kind === 'gguf' || kind === 'pth';

function badFile(message) {
  return new ModelStoreError('bad-file', message);
}

function startsWith(bytes, prefix) {
  return prefix.every((byte, i) => bytes[i] === byte);
}

/** A JSON file's object, or a clear error naming the file. */
export function parseJsonFile(name, bytes, { requiredKey } = {}) {
  let value;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw badFile(`${name} is not valid JSON (${error.message}).`);
  }
  const found = Array.isArray(value) ? 'an array' : 'a value';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badFile(`${name} should hold a JSON object, but holds ${found}.`);
  }
  if (requiredKey && !(requiredKey in value)) {
    throw badFile(`${name} has no "${requiredKey}" entry, so it is not a Hugging Face ${name}.`);
  }
  return value;
}

/**
 * The tensor table of a safetensors file: an 8-byte little-endian header length, then that
 * many bytes of JSON mapping each tensor name to its dtype, shape and data offsets.
 * Returns { headerLength, tensors: [{ name, dtype, shape, elements }], metadata }.
 */
export async function readSafetensorsHeader(name, size, read) {
  const notSafetensors = (why) => badFile(`${name} is not a safetensors file: ${why}.`);
  if (size < 8) throw notSafetensors(`it has ${size} bytes, fewer than the 8-byte header length`);
  const head = await read(0, 8);
  const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (length < 2n || length > BigInt(SAFETENSORS_MAX_HEADER) || 8n + length > BigInt(size)) {
    throw notSafetensors(
      `its first 8 bytes give a header length of ${length}, impossible for a file of ${size} bytes`,
    );
  }
  const headerLength = Number(length);
  let header;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(await read(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (error) {
    throw notSafetensors(`its header is not JSON (${error.message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw notSafetensors('its header is not a JSON object');
  }
  const dataSize = size - 8 - headerLength;
  const tensors = Object.entries(header)
    .filter(([tensorName]) => tensorName !== '__metadata__')
    .map(([tensorName, info]) => checkTensorEntry(name, tensorName, info, dataSize));
  return { headerLength: 8 + headerLength, tensors, metadata: header.__metadata__ ?? null };
}

function checkTensorEntry(file, name, info, dataSize) {
  const width = SAFETENSORS_DTYPES[info?.dtype];
  if (!width) throw badFile(`${file}: the tensor ${name} has the unknown dtype ${info?.dtype}.`);
  const { shape, data_offsets: offsets } = info;
  const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw badFile(`${file}: the tensor ${name} has no valid shape.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw badFile(`${file}: the tensor ${name} has no valid data offsets.`);
  }
  const elements = shape.reduce((product, n) => product * n, 1);
  const [start, end] = offsets;
  if (end > dataSize) {
    throw badFile(
      `${file}: the tensor ${name} ends at byte ${end} of a data section of ${dataSize} bytes, ` +
        'so the file is truncated; download it again.',
    );
  }
  if (end - start !== elements * width) {
    throw badFile(
      `${file}: the tensor ${name} of shape [${shape}] in ${info.dtype} does not fill its ` +
        `${end - start} bytes.`,
    );
  }
  return { name, dtype: info.dtype, shape, elements };
}

// Thrown inside the GGUF parser when the bytes read so far end before the header does.
const NEED_MORE = Symbol('need more bytes');

class GgufCursor {
  constructor(file, bytes, fileSize) {
    this.file = file;
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.fileSize = fileSize;
    this.at = 0;
  }

  need(count) {
    if (this.at + count > this.fileSize) {
      throw badFile(
        `${this.file} is not a readable GGUF file: its header runs past the end of the file.`,
      );
    }
    if (this.at + count > this.bytes.length) throw NEED_MORE;
  }

  u32() {
    this.need(4);
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  u64() {
    this.need(8);
    const value = this.view.getBigUint64(this.at, true);
    this.at += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw badFile(`${this.file} is not a readable GGUF file: it gives a count of ${value}.`);
    }
    return Number(value);
  }

  skip(count) {
    this.need(count);
    this.at += count;
  }

  string() {
    const length = this.u64();
    this.need(length);
    const text = new TextDecoder().decode(this.bytes.subarray(this.at, this.at + length));
    this.at += length;
    return text;
  }

  skipValue(type) {
    if (type in GGUF_VALUE_BYTES) {
      this.skip(GGUF_VALUE_BYTES[type]);
    } else if (type === GGUF_STRING) {
      this.skip(this.u64());
    } else if (type === GGUF_ARRAY) {
      const itemType = this.u32();
      const count = this.u64();
      if (itemType in GGUF_VALUE_BYTES) {
        this.skip(count * GGUF_VALUE_BYTES[itemType]);
      } else {
        for (let i = 0; i < count; i += 1) this.skipValue(itemType);
      }
    } else {
      throw badFile(
        `${this.file} is not a readable GGUF file: it has a metadata value of unknown ` +
          `type ${type}.`,
      );
    }
  }
}

function parseGguf(file, bytes, fileSize) {
  const cursor = new GgufCursor(file, bytes, fileSize);
  const version = (cursor.skip(4), cursor.u32());
  if (version < 2 || version > 3) {
    throw badFile(`${file} is GGUF version ${version}; the lab reads versions 2 and 3.`);
  }
  const tensorCount = cursor.u64();
  const metadataCount = cursor.u64();
  let architecture = null;
  for (let i = 0; i < metadataCount; i += 1) {
    const key = cursor.string();
    const type = cursor.u32();
    if (key === 'general.architecture' && type === GGUF_STRING) architecture = cursor.string();
    else cursor.skipValue(type);
  }
  const tensors = [];
  for (let i = 0; i < tensorCount; i += 1) {
    const name = cursor.string();
    const dimensions = cursor.u32();
    if (dimensions > GGUF_MAX_DIMS) {
      throw badFile(`${file}: the tensor ${name} claims ${dimensions} dimensions.`);
    }
    // GGUF lists the fastest-varying dimension first; shapes here read like PyTorch's.
    const shape = Array.from({ length: dimensions }, () => cursor.u64()).reverse();
    const type = cursor.u32();
    cursor.skip(8);
    const elements = shape.reduce((product, n) => product * n, 1);
    tensors.push({ name, dtype: GGML_TYPES[type] ?? `GGML type ${type}`, shape, elements });
  }
  return { tensors, architecture };
}

/**
 * The tensor table of a GGUF file (versions 2 and 3): { tensors, architecture }. The header
 * holds the tokenizer's vocabulary too, so it is read in growing pieces until it is complete.
 */
export async function readGgufHeader(name, size, read) {
  const magic = await read(0, Math.min(size, 4));
  if (!startsWith(magic, [0x47, 0x47, 0x55, 0x46])) {
    throw badFile(`${name} is not a GGUF file: it does not start with the bytes "GGUF".`);
  }
  let length = Math.min(size, GGUF_FIRST_READ);
  for (;;) {
    try {
      return parseGguf(name, await read(0, length), size);
    } catch (error) {
      if (error !== NEED_MORE) throw error;
      length = Math.min(size, length * 4);
    }
  }
}

/** Checks that a file is a PyTorch checkpoint: torch.save's zip archive or its legacy pickle. */
export async function checkPth(name, size, read) {
  const head = await read(0, Math.min(size, 512));
  if (startsWith(head, TORCH_LEGACY_MAGIC)) return { layout: 'legacy pickle' };
  if (!startsWith(head, ZIP_MAGIC)) {
    throw badFile(
      `${name} is not a PyTorch checkpoint: it starts neither with a zip header nor with ` +
        "torch's pickle magic number.",
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const nameLength = head.length >= ZIP_NAME_AT ? view.getUint16(ZIP_NAME_LENGTH_AT, true) : 0;
  const entry = new TextDecoder().decode(head.subarray(ZIP_NAME_AT, ZIP_NAME_AT + nameLength));
  if (!entry.endsWith('data.pkl')) {
    throw badFile(
      `${name} is a zip archive but not a PyTorch checkpoint: its first entry is "${entry}", ` +
        'where torch.save writes data.pkl.',
    );
  }
  return { layout: 'zip' };
}

/**
 * Checks one file's content against the kind its name gives. Returns { kind, tensors } for
 * weights with a tensor table (null for .pth, whose table is a pickle), { kind, json } for
 * JSON files.
 */
export async function inspectFile(name, size, read) {
  const kind = kindByName(name);
  if (kind === 'config') return { kind, json: parseJsonFile(name, await read(0, size)) };
  if (kind === 'tokenizer') {
    return { kind, json: parseJsonFile(name, await read(0, size), { requiredKey: 'model' }) };
  }
  if (kind === 'index') {
    const json = parseJsonFile(name, await read(0, size), { requiredKey: 'weight_map' });
    return { kind, json };
  }
  if (kind === 'safetensors') return { kind, ...(await readSafetensorsHeader(name, size, read)) };
  if (kind === 'gguf') return { kind, ...(await readGgufHeader(name, size, read)) };
  if (kind === 'pth') return { kind, tensors: null, ...(await checkPth(name, size, read)) };
  throw new ModelStoreError(
    'unrecognised',
    `${name} is not a file the lab reads; it reads ${READABLE_FILES}.`,
  );
}

/**
 * Parameter count, per-dtype counts and the largest tensor of a model's tensor tables.
 * `exact` is false when some weights (a .pth) have no table, their count then being estimated
 * from their size as f32.
 */
export function summariseTensors(tables) {
  let parameters = 0;
  let exact = true;
  let largest = null;
  const dtypes = {};
  for (const { tensors, size } of tables) {
    if (!tensors) {
      exact = false;
      parameters += Math.floor(size / 4);
      continue;
    }
    for (const tensor of tensors) {
      parameters += tensor.elements;
      dtypes[tensor.dtype] = (dtypes[tensor.dtype] ?? 0) + tensor.elements;
      if (!largest || tensor.elements > largest.elements) largest = tensor;
    }
  }
  return { parameters, exact, dtypes, largest };
}

/** The shard names an index lists, in order of first mention. */
export function shardsOfIndex(name, index) {
  const shards = [...new Set(Object.values(index.weight_map ?? {}))];
  if (shards.length === 0 || !shards.every((shard) => typeof shard === 'string')) {
    throw badFile(`${name} names no shards in its weight_map.`);
  }
  return shards;
}

/** A reader over bytes in memory. */
export const bytesReader = (bytes) => async (start, end) => bytes.subarray(start, end);

/** A reader over a File or Blob. */
export const blobReader = (blob) => async (start, end) =>
  new Uint8Array(await blob.slice(start, end).arrayBuffer());
