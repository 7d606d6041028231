// The Hugging Face hub as the lab uses it: a hub id and revision resolve to a commit, the
// commit's file listing gives each file's size and hash, and each file is downloaded from its
// resolve URL with progress, then checked against that hash before anyone sees it.
//
// Nothing of the user's is sent: requests carry no credentials, so gated and private models
// are refused by the hub and the message says how to get their files instead.

import { ModelStoreError } from './model-error.js';
import { shardsOfIndex, parseJsonFile } from './model-formats.js';

export const HUB = 'https://huggingface.co';

const ID_PATTERN = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;
const ID_MAX_LENGTH = 96;
const COMMIT_PATTERN = /^[0-9a-f]{40}$/;
// Progress is reported about every half percent of a file, and at least every 64 KiB.
const PROGRESS_STEPS = 200;
const PROGRESS_MIN_BYTES = 64 << 10;
// The first Range request of a weights file asks for this much, which holds the whole
// safetensors header of most models, so one request usually suffices.
const HEADER_PREFETCH = 64 << 10;

const PICKLE_WEIGHTS = /^pytorch_model(-\d+-of-\d+)?\.bin(\.index\.json)?$/;
const WEIGHT_FILES = /\.(safetensors|bin|pt|pth|ckpt|h5|msgpack|onnx|gguf)$/;

export const isCommit = (revision) => COMMIT_PATTERN.test(revision);

// Branch names in addresses may be percent-encoded (refs%2Fpr%2F1).
function decodeRevision(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A hub id as people write it: `gpt2`, `EleutherAI/pythia-70m`, or the model page's address
 * (`https://huggingface.co/gpt2`, optionally with `/tree/REVISION`). Returns { id, revision },
 * revision being null unless the address names one.
 */
export function parseHubId(text) {
  let id = String(text ?? '').trim();
  let revision = null;
  if (id.startsWith(`${HUB}/`)) {
    const parts = id.slice(HUB.length + 1).split('/');
    const tree = parts.indexOf('tree');
    if (tree > 0) {
      revision = decodeRevision(parts.slice(tree + 1).join('/')) || null;
      parts.length = tree;
    }
    id = parts.filter(Boolean).join('/');
  }
  if (!id || id.length > ID_MAX_LENGTH || !ID_PATTERN.test(id) || id.includes('..')) {
    throw new ModelStoreError(
      'invalid-id',
      `"${text}" is not a hub id. A hub id is the part of a model page's address after ` +
        'huggingface.co/, such as gpt2 or EleutherAI/pythia-70m.',
    );
  }
  return { id, revision };
}

const encodePath = (path) => path.split('/').map(encodeURIComponent).join('/');

/** Where the hub serves one file of one commit. */
export const resolveUrl = (id, commit, path) =>
  `${HUB}/${id}/resolve/${commit}/${encodePath(path)}`;

async function hubMessage(response) {
  try {
    const body = await response.json();
    return typeof body?.error === 'string' ? ` The hub says: "${body.error}".` : '';
  } catch {
    return '';
  }
}

async function statusError(response, { id, revision, what }) {
  const said = await hubMessage(response);
  const page = `${HUB}/${id}`;
  const fetchItYourself =
    `download its files from ${page} while signed in, ` + 'and open them here with "Choose files"';
  const at = revision && revision !== 'main' ? ` at revision "${revision}"` : '';
  switch (response.status) {
    case 404:
      return new ModelStoreError(
        'not-found',
        `The hub has no model "${id}"${at} ` +
          `(HTTP 404).${said} Check the id: it is the part of the model page's address after ` +
          'huggingface.co/, such as gpt2 or EleutherAI/pythia-70m.',
      );
    case 401:
      return new ModelStoreError(
        'no-access',
        `The hub will not show "${id}" to a visitor who is not signed in (HTTP 401): the model ` +
          'is private or gated, or the id does not exist (the hub answers all three alike).' +
          `${said} Check the spelling; if the model is gated, accept its conditions on ${page}, ` +
          `then ${fetchItYourself}.`,
      );
    case 403:
      return new ModelStoreError(
        'gated',
        `"${id}" is gated (HTTP 403): the hub serves its files only to accounts that were ` +
          `granted access.${said} Request access on ${page}, then ${fetchItYourself}.`,
      );
    case 429:
      return new ModelStoreError(
        'rate-limited',
        `The hub is limiting requests from this address (HTTP 429) while fetching ${what}; ` +
          'wait a minute and try again.',
      );
    default:
      return new ModelStoreError(
        'hub',
        `The hub answered HTTP ${response.status} while fetching ${what} of "${id}".${said} ` +
          'Try again later.',
      );
  }
}

function networkError(error, signal, what) {
  if (signal?.aborted) {
    return new ModelStoreError('aborted', 'The download was cancelled; nothing from it was kept.');
  }
  return new ModelStoreError(
    'offline',
    `Could not reach the hub for ${what} (${error.message}). Check the network connection; ` +
      'a model loaded here before is served from this browser without it.',
  );
}

async function hubFetch(url, context, init = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: 'omit', signal: context.signal, ...init });
  } catch (error) {
    throw networkError(error, context.signal, context.what);
  }
  if (!response.ok) throw await statusError(response, context);
  return response;
}

/** The commit a revision (branch, tag or commit) points to now. */
export async function resolveCommit(id, revision, signal) {
  const context = { id, revision, signal, what: `the revision "${revision}"` };
  const url = `${HUB}/api/models/${id}/revision/${encodeURIComponent(revision)}`;
  const info = await (await hubFetch(url, context, { cache: 'no-cache' })).json().catch(() => null);
  if (!isCommit(info?.sha ?? '')) {
    throw new ModelStoreError(
      'hub',
      `The hub gave no commit for revision "${revision}" of "${id}".`,
    );
  }
  return info.sha;
}

// The listing may come in pages, linked by the Link header's rel="next".
function nextPage(response) {
  const link = response.headers.get('Link') ?? '';
  return /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] ?? null;
}

/**
 * The files at the top of a commit: [{ path, size, oid, sha256 }]. `oid` is the git blob
 * SHA-1; `sha256` is the LFS object id, present for files stored in LFS.
 */
export async function listFiles(id, commit, signal) {
  const context = { id, revision: commit, signal, what: 'the list of files' };
  const entries = [];
  let url = `${HUB}/api/models/${id}/tree/${commit}`;
  while (url) {
    const response = await hubFetch(url, context);
    const page = await response.json().catch(() => null);
    if (!Array.isArray(page)) {
      throw new ModelStoreError('hub', `The hub's list of files of "${id}" is not a list.`);
    }
    entries.push(...page);
    url = nextPage(response);
  }
  return entries
    .filter((entry) => entry.type === 'file')
    .map(({ path, size, oid, lfs }) => ({ path, size, oid, sha256: lfs?.oid ?? null }));
}

function noWeightsError(id, entries) {
  const names = entries.map((entry) => entry.path);
  const pickles = names.filter((name) => PICKLE_WEIGHTS.test(name));
  if (pickles.length > 0) {
    return new ModelStoreError(
      'pytorch-only',
      `"${id}" has its weights only as ${pickles.join(', ')}: a Python pickle, which the lab ` +
        'does not read because loading one can run code. Look for a safetensors version: the ' +
        `"Files and versions" tab of ${HUB}/${id} may offer a pull request from the safetensors ` +
        'conversion bot (load it with its revision, such as refs/pr/1), or another repository ' +
        'may hold a safetensors copy of the model.',
    );
  }
  const weights = names.filter((name) => WEIGHT_FILES.test(name));
  const gguf = weights.find((name) => name.endsWith('.gguf'));
  return new ModelStoreError(
    'no-weights',
    `"${id}" has no weights the lab reads: it reads model.safetensors, or ` +
      'model.safetensors.index.json with its shards, and this repository holds ' +
      `${weights.length ? weights.join(', ') : 'no weight files'}.` +
      (gguf
        ? ` To use ${gguf}, download it from ${HUB}/${id} and open it with "Choose files".`
        : ''),
  );
}

/**
 * The files of a listing the lab needs, in download order: config.json, tokenizer.json when
 * present, then model.safetensors, or model.safetensors.index.json followed by its shards.
 * The index's bytes, downloaded and checked to learn the shards, come back in `prefetched`.
 */
export async function chooseFiles(id, commit, entries, { signal, onProgress } = {}) {
  const byPath = new Map(entries.map((entry) => [entry.path, entry]));
  const pick = (path, kind) => ({ ...byPath.get(path), kind });
  const single = byPath.has('model.safetensors');
  if (!single && !byPath.has('model.safetensors.index.json')) throw noWeightsError(id, entries);
  if (!byPath.has('config.json')) {
    throw new ModelStoreError(
      'no-config',
      `"${id}" has no config.json, so the lab cannot tell which architecture its weights ` +
        'belong to. If you have its configuration, open it with the weights through ' +
        '"Choose files".',
    );
  }
  const files = [pick('config.json', 'config')];
  if (byPath.has('tokenizer.json')) files.push(pick('tokenizer.json', 'tokenizer'));
  const prefetched = new Map();
  if (single) {
    files.push(pick('model.safetensors', 'safetensors'));
    return { files, prefetched };
  }
  const index = pick('model.safetensors.index.json', 'index');
  const indexBytes = await download(id, commit, index, { signal, onProgress });
  prefetched.set(index.path, indexBytes);
  files.push(index);
  for (const shard of shardsOfIndex(index.path, parseJsonFile(index.path, indexBytes))) {
    if (!byPath.has(shard)) {
      throw new ModelStoreError(
        'no-weights',
        `"${id}": model.safetensors.index.json names the shard ${shard}, which the ` +
          'repository lacks.',
      );
    }
    files.push(pick(shard, 'safetensors'));
  }
  return { files, prefetched };
}

const hex = (buffer) =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(bytes) {
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

/** Git's object id of a file: the SHA-1 of "blob {size}\0" followed by its bytes. */
export async function gitBlobSha1Hex(bytes) {
  const header = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const object = new Uint8Array(header.length + bytes.length);
  object.set(header);
  object.set(bytes, header.length);
  return hex(await crypto.subtle.digest('SHA-1', object));
}

/** Checks downloaded bytes against the hash the hub lists: SHA-256 for LFS files, else git's. */
export async function verify(id, file, bytes) {
  const [algorithm, expected, actual] = file.sha256
    ? ['SHA-256', file.sha256, await sha256Hex(bytes)]
    : ['git SHA-1', file.oid, await gitBlobSha1Hex(bytes)];
  if (!expected) {
    throw new ModelStoreError(
      'integrity',
      `The hub lists no hash for ${file.path} of "${id}", so it cannot be checked.`,
    );
  }
  if (actual !== expected) {
    throw new ModelStoreError(
      'integrity',
      `${file.path} of "${id}" does not match the ${algorithm} the hub lists for it (expected ` +
        `${expected.slice(0, 12)}…, received ${actual.slice(0, 12)}…), so it was refused and ` +
        'not kept. Try again; if this repeats, something between this browser and the hub ' +
        'alters the file.',
    );
  }
}

async function readBody(response, file, { signal, onProgress }) {
  const { path, size } = file;
  const bytes = new Uint8Array(size);
  const step = Math.max(PROGRESS_MIN_BYTES, Math.ceil(size / PROGRESS_STEPS));
  let loaded = 0;
  let reported = 0;
  onProgress?.({ path, loaded, total: size });
  const reader = response.body?.getReader();
  try {
    for (;;) {
      const chunk = reader ? await reader.read() : { done: true };
      if (chunk.done) break;
      if (loaded + chunk.value.length > size) {
        throw new ModelStoreError(
          'integrity',
          `The hub sent more than the ${size} bytes it lists for ${path}; the file was refused.`,
        );
      }
      bytes.set(chunk.value, loaded);
      loaded += chunk.value.length;
      if (loaded - reported >= step || loaded === size) {
        reported = loaded;
        onProgress?.({ path, loaded, total: size });
      }
    }
  } catch (error) {
    reader?.cancel().catch(() => {});
    if (error instanceof ModelStoreError) throw error;
    if (signal?.aborted) throw networkError(error, signal, path);
    throw new ModelStoreError(
      'network',
      `The download of ${path} broke off after ${loaded} of ${size} bytes (${error.message}); ` +
        'nothing from it was kept. Try again.',
    );
  }
  if (loaded < size) {
    throw new ModelStoreError(
      'truncated',
      `The download of ${path} ended after ${loaded} of its ${size} bytes: it was cut off, and ` +
        'nothing from it was kept. Try again.',
    );
  }
  if (reported < size) onProgress?.({ path, loaded, total: size });
  return bytes;
}

/**
 * One file of a commit, streamed with progress ({ path, loaded, total } in bytes) and
 * verified. The browser's HTTP cache is bypassed: the verified bytes are kept by the store.
 */
export async function download(id, commit, file, { signal, onProgress } = {}) {
  const context = { id, revision: commit, signal, what: file.path };
  const response = await hubFetch(resolveUrl(id, commit, file.path), context, {
    cache: 'no-store',
  });
  const bytes = await readBody(response, file, { signal, onProgress });
  await verify(id, file, bytes);
  return bytes;
}

async function fetchRange(id, commit, path, start, end, signal) {
  const context = { id, revision: commit, signal, what: `the header of ${path}` };
  const response = await hubFetch(resolveUrl(id, commit, path), context, {
    cache: 'no-store',
    headers: { Range: `bytes=${start}-${end - 1}` },
  });
  if (response.status === 206) return new Uint8Array(await response.arrayBuffer());
  // A server that ignores Range sends the file from its start: keep what is asked, then stop.
  const parts = [];
  let loaded = 0;
  const reader = response.body.getReader();
  while (loaded < end) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
  }
  reader.cancel().catch(() => {});
  const whole = new Uint8Array(loaded);
  parts.reduce((at, part) => (whole.set(part, at), at + part.length), 0);
  return whole.subarray(start, end);
}

/**
 * A reader (see model-formats.js) over a file on the hub through HTTP Range requests. The
 * first request fetches the file's first 64 KiB, which later reads inside it reuse.
 */
export function rangeReader(id, commit, file, signal) {
  let head = null;
  return async (start, end) => {
    if (start >= end) return new Uint8Array(0);
    const prefetch = Math.min(file.size, HEADER_PREFETCH);
    head ??= await fetchRange(id, commit, file.path, 0, prefetch, signal);
    if (end <= head.length) return head.subarray(start, end);
    return fetchRange(id, commit, file.path, start, end, signal);
  };
}
