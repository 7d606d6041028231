// The lab's models, from the Hugging Face hub (by hub id and revision) or from files on this
// computer, delivered as one kind of result. The worker uses it to hand bytes to the
// WebAssembly core; the page uses it to list and delete kept models.
//
// A loaded model is
//   {
//     id,           hub id, or for local files config.json's _name_or_path or the weights' name
//     revision,     as asked (branch, tag or commit); null for local files
//     commit,       the 40-hex commit the files come from; null for local files
//     source,       'hub' (downloaded now), 'cache' (kept in this browser) or 'local'
//     format,       'safetensors', 'gguf' or 'pth'
//     files,        Map<name, Uint8Array>: every file, verified, in load order
//     sizes,        Map<name, bytes>
//     kinds,        Map<name, 'config' | 'tokenizer' | 'index' | 'safetensors' | 'gguf' | 'pth'>
//     weights,      the weights files in order (a checkpoint's shards in its index's order)
//     totalBytes,
//     preflight,    what fits on this device (see preflight.js), without storage for kept files
//     cacheError,   null, or why a downloaded model could not be kept
//   }
//
// Every hub file is checked against the hash the hub lists for it before it is used or kept.
// A kept (id, revision) is served without asking the hub: `main` is then the commit it was at
// when last loaded online, with or without a network. Pass `update: true` to ask the hub
// whether the revision moved (kept copies still serve when the hub cannot be reached).

import { ModelStoreError } from './model-error.js';
import { chooseFiles, download, listFiles, parseHubId, rangeReader, resolveCommit } from './hub.js';
import {
  READABLE_FILES,
  blobReader,
  bytesReader,
  inspectFile,
  isWeights,
  kindByName,
  shardsOfIndex,
  summariseTensors,
} from './model-formats.js';
import {
  cachedCommit,
  deleteModel,
  listModels,
  readModel,
  saveModel,
  setRef,
} from './model-cache.js';
import { judge } from './preflight.js';

export { ModelStoreError } from './model-error.js';
export { parseHubId } from './hub.js';
export { deviceFromReport, formatBytes, probeDevice } from './preflight.js';

const sum = (values) => values.reduce((total, value) => total + value, 0);

/**
 * What a hub revision holds and what the lab would download, without downloading weights:
 * { id, revision, commit, source: 'hub', format, files: [{ path, size, oid, sha256, kind }],
 * totalBytes, prefetched: Map<path, Uint8Array> } (a sharded checkpoint's index is fetched to
 * learn its shards, and kept here).
 */
export async function planHubModel(idText, { revision, signal, onProgress } = {}) {
  const parsed = parseHubId(idText);
  const { id } = parsed;
  const asked = parsed.revision || revision || 'main';
  const commit = await resolveCommit(id, asked, signal);
  const entries = await listFiles(id, commit, signal);
  const { files, prefetched } = await chooseFiles(id, commit, entries, { signal, onProgress });
  const totalBytes = sum(files.map((file) => file.size));
  return {
    id,
    revision: asked,
    commit,
    source: 'hub',
    format: 'safetensors',
    files,
    totalBytes,
    prefetched,
  };
}

function readerFor(plan, file, signal) {
  if (plan.source === 'hub') return rangeReader(plan.id, plan.commit, file, signal);
  return bytesReader(plan.files.get(file.path));
}

/**
 * What fits, for a plan (planHubModel) or a loaded model: for the hub, each weights file's
 * header is fetched with an HTTP Range request, so nothing large is downloaded. Options:
 * `estimate` ({ quota, usage }, default navigator.storage.estimate()), `device` (see
 * deviceFromReport; default the CPU), `signal`. Returns judge()'s result (preflight.js).
 */
export async function preflight(plan, { estimate, device, signal } = {}) {
  const entries =
    plan.source === 'hub'
      ? plan.files
      : [...plan.kinds].map(([path, kind]) => ({ path, kind, size: plan.sizes.get(path) }));
  const tables = [];
  for (const file of entries.filter((entry) => isWeights(entry.kind))) {
    const { tensors } = await inspectFile(file.path, file.size, readerFor(plan, file, signal));
    tables.push({ tensors, size: file.size });
  }
  const downloadBytes = plan.source === 'hub' ? plan.totalBytes : null;
  return judge({ downloadBytes, weights: summariseTensors(tables) }, { estimate, device });
}

function doesNotFit(name, check) {
  const failures = check.checks.filter((item) => item.fits === false && item.what !== 'training');
  const error = new ModelStoreError(
    'does-not-fit',
    `${name} does not fit here. ${failures.map((item) => item.text).join(' ')} ` +
      'Load it anyway to try regardless.',
  );
  error.preflight = check;
  return error;
}

function loadedModel(fields, entries, bytes) {
  return {
    ...fields,
    files: new Map(entries.map((entry) => [entry.path, bytes.get(entry.path)])),
    sizes: new Map(entries.map((entry) => [entry.path, entry.size])),
    kinds: new Map(entries.map((entry) => [entry.path, entry.kind])),
    weights: entries.filter((entry) => isWeights(entry.kind)).map((entry) => entry.path),
    totalBytes: sum(entries.map((entry) => entry.size)),
    preflight: null,
    cacheError: null,
  };
}

async function fromCache(id, revision, options) {
  const commit = await cachedCommit(id, revision);
  const kept = commit && (await readModel(id, commit));
  if (!kept) return null;
  const { manifest, files } = kept;
  for (const { path, size } of manifest.files) {
    options.onProgress?.({ path, loaded: size, total: size });
  }
  const model = loadedModel(
    { id, revision, commit, source: 'cache', format: manifest.format },
    manifest.files,
    files,
  );
  model.preflight = await preflight(model, options);
  return model;
}

function offlineAndNotKept(id, revision) {
  return new ModelStoreError(
    'offline',
    `Could not reach the hub, and "${id}" at ${revision} is not kept in this browser: connect ` +
      'to the network to load it once; after that it loads without one.',
  );
}

/**
 * Loads a model from the hub: from this browser's cache when it keeps that (id, revision),
 * else resolved, checked for fit, downloaded, verified and kept.
 *
 * Options: revision ('main'), update (ask the hub even when kept), force (download even when
 * the preflight says it does not fit), signal (AbortSignal), onProgress({ path, loaded,
 * total }), onPlan(plan, preflight) before downloading, estimate and device for the preflight.
 * Throws ModelStoreError.
 */
export async function loadFromHub(idText, options = {}) {
  const parsed = parseHubId(idText);
  const { id } = parsed;
  // An address with /tree/REVISION names its revision more precisely than the option.
  const revision = parsed.revision || options.revision || 'main';
  const { update = false, force = false, signal, onProgress, onPlan } = options;
  if (!update) {
    const kept = await fromCache(id, revision, options);
    if (kept) return kept;
  }
  let plan;
  try {
    plan = await planHubModel(id, { revision, signal, onProgress });
  } catch (error) {
    if (error.code !== 'offline') throw error;
    const kept = await fromCache(id, revision, options);
    if (kept) return kept;
    throw offlineAndNotKept(id, revision);
  }
  // The commit may be kept already, loaded by another revision or before the revision moved.
  if (await cachedCommit(id, plan.commit)) {
    await setRef(id, revision, plan.commit);
    const kept = await fromCache(id, revision, options);
    if (kept) return kept;
  }
  const check = await preflight(plan, options);
  onPlan?.(describePlan(plan), check);
  if (!check.fits && !force) throw doesNotFit(`"${id}"`, check);

  const bytes = new Map(plan.prefetched);
  for (const [path, data] of plan.prefetched) {
    onProgress?.({ path, loaded: data.length, total: data.length });
  }
  for (const file of plan.files.filter((entry) => !bytes.has(entry.path))) {
    bytes.set(file.path, await download(id, plan.commit, file, { signal, onProgress }));
  }
  const model = loadedModel(
    { id, revision, commit: plan.commit, source: 'hub', format: plan.format },
    plan.files,
    bytes,
  );
  model.preflight = check;
  const manifest = {
    id,
    commit: plan.commit,
    format: plan.format,
    files: plan.files.map(({ path, size, kind, sha256, oid }) => ({
      path,
      size,
      kind,
      sha256,
      oid,
    })),
    totalBytes: plan.totalBytes,
    savedAt: new Date().toISOString(),
  };
  try {
    await saveModel(manifest, bytes, revision);
  } catch (error) {
    model.cacheError = error.message;
  }
  return model;
}

/** A plan without its bytes, for messages. */
export function describePlan(plan) {
  const { id, revision, commit, source, format, totalBytes } = plan;
  return {
    id,
    revision,
    commit,
    source,
    format,
    totalBytes,
    files: plan.files.map(({ path, size, kind }) => ({ path, size, kind })),
  };
}

/** A loaded model without its bytes, for messages and display. */
export function describeModel(model) {
  const { files, sizes, kinds, ...rest } = model;
  return {
    ...rest,
    files: [...sizes].map(([path, size]) => ({ path, size, kind: kinds.get(path) })),
  };
}

function orderWeights(entries) {
  const weights = entries.filter((entry) => isWeights(entry.kind));
  const formats = [...new Set(weights.map((entry) => entry.kind))];
  if (weights.length === 0) {
    throw new ModelStoreError(
      'no-weights',
      'There are no weights among these files: add a .safetensors, .gguf or .pth file.',
    );
  }
  if (formats.length > 1 || (formats[0] !== 'safetensors' && weights.length > 1)) {
    throw new ModelStoreError(
      'mixed-formats',
      `These files hold more than one model (${weights.map((entry) => entry.path).join(', ')}): ` +
        'open one at a time.',
    );
  }
  const index = entries.find((entry) => entry.kind === 'index');
  if (!index) return { format: formats[0], order: weights.map((entry) => entry.path).sort() };
  const shards = shardsOfIndex(index.path, index.json);
  const missing = shards.filter((shard) => !weights.some((entry) => entry.path === shard));
  if (missing.length > 0) {
    throw new ModelStoreError(
      'no-weights',
      `${index.path} names ${missing.join(', ')}, which are not among the files: open all ` +
        'the shards together.',
    );
  }
  return { format: 'safetensors', order: shards };
}

/**
 * Loads a model from files on this computer (a FileList from a file picker or a drop, or an
 * array of File). Each file is recognised by its name and checked by its content; anything the
 * lab does not read is refused. Options: force, device, onProgress, as for loadFromHub.
 */
export async function loadFromFiles(fileList, { force = false, device, onProgress } = {}) {
  const given = Array.from(fileList ?? []);
  if (given.length === 0) {
    throw new ModelStoreError(
      'no-weights',
      `No files were given; the lab reads ${READABLE_FILES}.`,
    );
  }
  const unknown = given.filter((file) => !kindByName(file.name)).map((file) => file.name);
  if (unknown.length > 0) {
    throw new ModelStoreError(
      'unrecognised',
      `The lab does not read ${unknown.join(', ')}: it reads ${READABLE_FILES}.`,
    );
  }
  const names = given.map((file) => file.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) {
    throw new ModelStoreError(
      'mixed-formats',
      `${twice} was given twice: open one model at a time.`,
    );
  }

  const entries = [];
  for (const file of given) {
    const found = await inspectFile(file.name, file.size, blobReader(file));
    entries.push({ ...found, path: file.name, size: file.size, blob: file });
  }
  const { format, order } = orderWeights(entries);
  const tables = order.map((name) => entries.find((entry) => entry.path === name));
  const check = await judge({ weights: summariseTensors(tables) }, { device });
  const config = entries.find((entry) => entry.kind === 'config')?.json;
  const id = (typeof config?._name_or_path === 'string' && config._name_or_path) || order[0];
  if (!check.fits && !force) throw doesNotFit(id, check);

  const rank = (entry) =>
    isWeights(entry.kind)
      ? 10 + order.indexOf(entry.path)
      : ['config', 'tokenizer', 'index'].indexOf(entry.kind);
  entries.sort((a, b) => rank(a) - rank(b));
  const bytes = new Map();
  for (const entry of entries) {
    onProgress?.({ path: entry.path, loaded: 0, total: entry.size });
    bytes.set(entry.path, new Uint8Array(await entry.blob.arrayBuffer()));
    onProgress?.({ path: entry.path, loaded: entry.size, total: entry.size });
  }
  const model = loadedModel(
    { id, revision: null, commit: null, source: 'local', format },
    entries,
    bytes,
  );
  model.weights = order;
  model.preflight = check;
  return model;
}

/** The models kept in this browser (see model-cache.js listModels). */
export const listCached = listModels;

/** Deletes a kept model (one commit, or all of the id's); resolves to how many were deleted. */
export const deleteCached = deleteModel;

/** This origin's storage use and quota in bytes, or null where the browser does not say. */
export async function storageEstimate() {
  return (await globalThis.navigator?.storage?.estimate?.().catch(() => null)) ?? null;
}
