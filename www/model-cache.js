// Verified model files kept in this browser, so a model loads again at once and without the
// network. The Cache API holds them rather than the origin-private file system because it is
// available alike in the page and in workers, stores a whole file per put (a put that fails
// stores nothing), and is keyed by URL: a file's key is the very resolve URL it came from,
// which names its id, commit and path.
//
// A model counts as cached only once its manifest is written, after all its files: a load that
// fails halfway leaves no manifest, and files without one are swept before the next save.
// Refs record which commit a branch or tag pointed to when it was last loaded online; that is
// how `main` resolves without a network.

import { ModelStoreError } from './model-error.js';
import { HUB, isCommit, resolveUrl } from './hub.js';

export const CACHE_NAME = 'superlab-models-v1';

// Keys of the store's own records. The .invalid domain never resolves (RFC 2606): these URLs
// only name cache entries and are never fetched.
const RECORDS = 'https://superlab.invalid/';
const MANIFESTS = `${RECORDS}models/`;
const REFS = `${RECORDS}refs/`;
const manifestKey = (id, commit) => `${MANIFESTS}${id}/${commit}`;
const refKey = (id, revision) => `${REFS}${id}/${encodeURIComponent(revision)}`;

async function openCache() {
  if (!globalThis.caches) {
    throw new ModelStoreError(
      'storage',
      'This page cannot keep models: the browser offers no Cache API here (it needs https or ' +
        'localhost, and no private-browsing restriction).',
    );
  }
  return caches.open(CACHE_NAME);
}

async function readJson(cache, key) {
  const response = await cache.match(key);
  return response ? response.json().catch(() => null) : null;
}

const jsonResponse = (value) =>
  new Response(JSON.stringify(value), { headers: { 'Content-Type': 'application/json' } });

/**
 * The commit to serve for a revision from the cache, or null: a commit is itself; a branch or
 * tag is the commit it pointed to when last loaded online. Either must be kept whole.
 */
export async function cachedCommit(id, revision) {
  const cache = await openCache();
  const commit = isCommit(revision)
    ? revision
    : (await readJson(cache, refKey(id, revision)))?.commit;
  if (!commit) return null;
  return (await cache.match(manifestKey(id, commit))) ? commit : null;
}

/** Records that a revision pointed to a commit. */
export async function setRef(id, revision, commit) {
  if (isCommit(revision)) return;
  const cache = await openCache();
  await cache.put(refKey(id, revision), jsonResponse({ id, revision, commit }));
}

/**
 * A kept model: { manifest, files: Map<path, Uint8Array> }, or null. Entries whose size no
 * longer matches the manifest (storage cleared underneath) make the whole model count as
 * absent, and it is deleted so that the next load downloads it afresh.
 */
export async function readModel(id, commit) {
  const cache = await openCache();
  const manifest = await readJson(cache, manifestKey(id, commit));
  if (!manifest) return null;
  const files = new Map();
  for (const file of manifest.files) {
    const response = await cache.match(resolveUrl(id, commit, file.path));
    const bytes = response ? new Uint8Array(await response.arrayBuffer()) : null;
    if (bytes?.length !== file.size) {
      await deleteModel(id, commit);
      return null;
    }
    files.set(file.path, bytes);
  }
  return { manifest, files };
}

// Files that no manifest names are what an interrupted save left behind.
async function sweep(cache) {
  const keys = await cache.keys();
  const named = new Set();
  for (const key of keys.filter((request) => request.url.startsWith(MANIFESTS))) {
    const manifest = await readJson(cache, key);
    for (const file of manifest?.files ?? []) {
      named.add(resolveUrl(manifest.id, manifest.commit, file.path));
    }
  }
  const strays = keys.filter(
    (request) => request.url.startsWith(`${HUB}/`) && !named.has(request.url),
  );
  await Promise.all(strays.map((request) => cache.delete(request)));
}

/**
 * Keeps a verified model: every file, then its manifest ({ id, commit, format, files:
 * [{ path, size, kind, sha256, oid }], totalBytes, savedAt }), then the ref of the revision it
 * was loaded by. If the browser refuses (storage full), nothing of the model stays.
 */
export async function saveModel(manifest, files, revision) {
  const cache = await openCache();
  await sweep(cache);
  const { id, commit } = manifest;
  const written = [];
  try {
    for (const file of manifest.files) {
      const key = resolveUrl(id, commit, file.path);
      const headers = { 'Content-Type': 'application/octet-stream' };
      await cache.put(key, new Response(files.get(file.path), { headers }));
      written.push(key);
    }
    await cache.put(manifestKey(id, commit), jsonResponse(manifest));
  } catch (error) {
    await Promise.all(written.map((key) => cache.delete(key)));
    throw new ModelStoreError(
      'storage',
      `The model loaded, but this browser would not keep it (${error.message}), so it will be ` +
        'downloaded again next time. Delete kept models you no longer need, or free disk space.',
    );
  }
  await setRef(id, revision, commit);
}

/**
 * The kept models: [{ id, commit, revisions, format, totalBytes, files: [{ path, size }],
 * savedAt }], sorted by id; `revisions` are the branches or tags that last resolved to it.
 */
export async function listModels() {
  const cache = await openCache();
  const keys = await cache.keys();
  const revisions = new Map();
  for (const key of keys.filter((request) => request.url.startsWith(REFS))) {
    const ref = await readJson(cache, key);
    if (!ref) continue;
    const name = `${ref.id}@${ref.commit}`;
    revisions.set(name, [...(revisions.get(name) ?? []), ref.revision]);
  }
  const models = [];
  for (const key of keys.filter((request) => request.url.startsWith(MANIFESTS))) {
    const manifest = await readJson(cache, key);
    if (!manifest) continue;
    const { id, commit, format, totalBytes, savedAt } = manifest;
    const files = manifest.files.map(({ path, size }) => ({ path, size }));
    models.push({
      id,
      commit,
      revisions: revisions.get(`${id}@${commit}`) ?? [],
      format,
      totalBytes,
      files,
      savedAt,
    });
  }
  return models.sort((a, b) => a.id.localeCompare(b.id) || a.savedAt.localeCompare(b.savedAt));
}

/**
 * Deletes a kept model: one commit, or every commit of the id when `commit` is omitted.
 * Returns how many commits were deleted.
 */
export async function deleteModel(id, commit = null) {
  const cache = await openCache();
  const doomed = (await listModels()).filter(
    (m) => m.id === id && (!commit || m.commit === commit),
  );
  for (const model of doomed) {
    await cache.delete(manifestKey(id, model.commit));
    await Promise.all(
      model.files.map((file) => cache.delete(resolveUrl(id, model.commit, file.path))),
    );
    await Promise.all(model.revisions.map((revision) => cache.delete(refKey(id, revision))));
  }
  return doomed.length;
}
