// A stand-in for the Hugging Face hub, answered through Playwright's request routing, so the
// model store is tested against repositories the tests make, with no network. It answers the
// endpoints the store uses as the hub documents them: /api/models/{id}/revision/{revision}
// ({ sha }), /api/models/{id}/tree/{commit} (path, size, git blob oid, lfs.oid = SHA-256) and
// /{id}/resolve/{commit}/{path} (the bytes, with Range). The hashes are computed here with
// Node's crypto, independently of the browser's SubtleCrypto that checks them.
//
// Faults make one response wrong: 'corrupt' (one byte changed), 'truncate' (half the bytes),
// 'abort' (the connection fails) or 'hold' (no answer until released).

import { createHash } from 'node:crypto';

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
export const gitBlobSha1 = (bytes) =>
  createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');

/** A commit id for a test repository, derived from its name so that runs repeat. */
export const commitOf = (name) => createHash('sha1').update(name).digest('hex');

const LFS = /\.(safetensors|bin|gguf|pth)$/;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'Link, Content-Range',
};

/** f32 values i / count - 0.5, little-endian: distinct and reproducible. */
export function f32Values(count) {
  const values = new Float32Array(count).map((_, i) => i / count - 0.5);
  return Buffer.from(values.buffer);
}

/**
 * A safetensors file: the 8-byte header length, the JSON header (padded with spaces to 8
 * bytes, as writers do), then the tensors' bytes in order. tensors: { name: { dtype, shape,
 * data } }. With `declaredOnly`, the data section is left out (for a header served alone).
 */
export function safetensors(tensors, { declaredOnly = false } = {}) {
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, { dtype, shape, data, bytes }] of Object.entries(tensors)) {
    const length = data ? data.length : bytes;
    header[name] = { dtype, shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const parts = [length, Buffer.from(json)];
  if (!declaredOnly) parts.push(...Object.values(tensors).map((tensor) => tensor.data));
  return { bytes: Buffer.concat(parts), size: 8 + json.length + offset };
}

function lfsPointerOid(bytes) {
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.length}\n`;
  return gitBlobSha1(Buffer.from(pointer));
}

export class FakeHub {
  constructor() {
    this.repos = new Map();
    this.requests = [];
    this.faults = [];
    this.held = [];
    this.offline = false;
  }

  /**
   * Adds a commit to a repository and points `revision` at it. files: { path: Buffer | string |
   * { head: Buffer, size } }, the last for a file served only as far as its head (never whole).
   * Options: status (the hub's answer to every request for the repository: 401, 404) and
   * gated (files refused with 401, as the hub does for gated models).
   */
  add(
    id,
    files,
    { revision = 'main', commit = commitOf(`${id}@${revision}`), status, gated } = {},
  ) {
    const repo = this.repos.get(id) ?? { refs: {}, commits: new Map() };
    const stored = new Map();
    for (const [path, content] of Object.entries(files)) {
      const bytes = typeof content === 'string' ? Buffer.from(content) : content;
      stored.set(
        path,
        Buffer.isBuffer(bytes)
          ? { bytes, size: bytes.length }
          : { bytes: bytes.head, size: bytes.size },
      );
    }
    repo.commits.set(commit, stored);
    repo.refs[revision] = commit;
    Object.assign(repo, { status, gated });
    this.repos.set(id, repo);
    return commit;
  }

  fault(path, kind, times = 1) {
    this.faults.push({ path, kind, times });
  }

  /** Answers the held requests now. */
  release() {
    for (const answer of this.held.splice(0)) answer();
  }

  /** Requests of one kind: 'revision', 'tree', 'resolve' (whole files) or 'range'. */
  count(kind, path) {
    return this.requests.filter((r) => r.kind === kind && (!path || r.path === path)).length;
  }

  async install(context) {
    await context.route('https://huggingface.co/**', (route) => this.answer(route));
  }

  takeFault(path) {
    const fault = this.faults.find((f) => f.path === path && f.times > 0);
    if (!fault) return null;
    fault.times -= 1;
    return fault.kind;
  }

  answer(route) {
    const request = route.request();
    const url = new URL(request.url());
    const record = { url: url.href, kind: 'other', path: null };
    this.requests.push(record);
    if (this.offline) return route.abort('internetdisconnected');
    if (request.method() === 'OPTIONS') {
      return route.fulfill({
        status: 204,
        headers: { ...CORS, 'access-control-allow-headers': 'range' },
      });
    }
    const json = (status, body) =>
      route.fulfill({
        status,
        headers: { ...CORS, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const path = decodeURIComponent(url.pathname);
    const api = /^\/api\/models\/(.+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/(.+?)\/resolve\/([0-9a-f]{40})\/(.+)$/.exec(path);
    const id = api ? decodeURIComponent(api[1]) : resolve?.[1];
    const repo = this.repos.get(id);
    if (!repo) return json(404, { error: 'Repository not found' });
    if (repo.status)
      return json(repo.status, { error: 'Invalid credentials in Authorization header' });
    if (api) {
      record.kind = api[2];
      const revision = decodeURIComponent(api[3]);
      const commit = repo.commits.has(revision) ? revision : repo.refs[revision];
      const files = repo.commits.get(commit);
      if (!files) return json(404, { error: `Invalid rev id: ${revision}` });
      if (api[2] === 'revision') return json(200, { id, sha: commit });
      return json(
        200,
        [...files].map(([filePath, file]) => entry(filePath, file)),
      );
    }
    return this.serveFile(route, record, repo, resolve[2], resolve[3], json);
  }

  serveFile(route, record, repo, commit, path, json) {
    const file = repo.commits.get(commit)?.get(path);
    record.path = path;
    if (!file) return json(404, { error: 'Entry not found' });
    if (repo.gated) {
      return json(401, {
        error: `Access to model is restricted. You must have access to it and be authenticated to access it. Please log in.`,
      });
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(route.request().headers().range ?? '');
    if (range) {
      record.kind = 'range';
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]) + 1, file.size);
      const body = Buffer.alloc(end - start);
      file.bytes.copy(body, 0, start, Math.min(end, file.bytes.length));
      const contentRange = `bytes ${start}-${end - 1}/${file.size}`;
      return route.fulfill({
        status: 206,
        headers: { ...CORS, 'content-range': contentRange },
        body,
      });
    }
    record.kind = 'resolve';
    if (file.bytes.length !== file.size)
      return json(500, { error: `${path} is served only as far as its header` });
    const fault = this.takeFault(path);
    const headers = { ...CORS, 'content-type': 'application/octet-stream' };
    if (fault === 'abort') return route.abort('connectionreset');
    if (fault === 'hold') {
      return new Promise((resolve) => {
        this.held.push(() =>
          resolve(route.fulfill({ status: 200, headers, body: file.bytes }).catch(() => {})),
        );
      });
    }
    let body = file.bytes;
    if (fault === 'truncate') body = body.subarray(0, body.length >> 1);
    if (fault === 'corrupt') {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    return route.fulfill({ status: 200, headers, body });
  }
}

function entry(path, { bytes, size }) {
  const lfs = LFS.test(path);
  const listed = { type: 'file', path, size, oid: lfs ? lfsPointerOid(bytes) : gitBlobSha1(bytes) };
  if (lfs) listed.lfs = { oid: sha256(bytes), size, pointerSize: 134 };
  return listed;
}
