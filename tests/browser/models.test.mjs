// The model store and the Models panel in headless Chromium, against a fake hub answered
// through Playwright's request routing (fake-hub.mjs) with repositories made here: downloads
// with progress, hashes checked, the cache (also offline), faults, clear errors, local files,
// and the preflight. Downloaded bytes are compared with the served ones byte for byte; the
// hashes the browser checks were computed by Node's crypto; the GGUF and safetensors headers of
// two real models are compared with the gguf and safetensors libraries (model_headers.json).
//
// The WebAssembly core is stood in for by a small module that reports a CPU device: these
// tests concern the files, and www/pkg may not be built where they run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SLOW, launchBrowser, screenshot, startServer } from './harness.mjs';
import { FakeHub, commitOf, f32Values, safetensors, sha256 } from './fake-hub.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TINY = 'superlab-test/tiny-gpt2';
const CACHE_NAME = 'superlab-models-v1';

const STAND_IN_CORE = `
export default async function init() {}
export async function initDevice() {
  return { backend: 'cpu', adapter: null, fallback_reason: 'the tests stand in for the WebAssembly core' };
}
export function lastPanic() { return null; }
export async function runCheck() { throw new Error('the stand-in core runs no check'); }
export function simulateDeviceLoss() {}
export function alignmentPresets() { return {}; }
`;

/** A small GPT-2-like repository, its weights about 450 KiB. */
function tinyRepo(scale = 1) {
  const weights = safetensors({
    'wte.weight': {
      dtype: 'F32',
      shape: [512, 128],
      data: f32Values(512 * 128).map((b) => b ^ (scale - 1)),
    },
    'h.0.attn.c_attn.weight': { dtype: 'F32', shape: [128, 384], data: f32Values(128 * 384) },
    'ln_f.bias': { dtype: 'BF16', shape: [128], data: Buffer.alloc(256, 0x3f) },
  });
  return {
    'config.json': JSON.stringify({ model_type: 'gpt2', n_embd: 128, n_layer: 1, vocab_size: 512 }),
    'tokenizer.json': JSON.stringify({
      version: '1.0',
      model: { type: 'BPE', vocab: { a: 0 }, merges: [] },
    }),
    'model.safetensors': weights.bytes,
    'README.md': '# A tiny model made by the tests\n',
    '.gitattributes': '*.safetensors filter=lfs diff=lfs merge=lfs -text\n',
  };
}
const TINY_PARAMETERS = 512 * 128 + 128 * 384 + 128;
const TINY_CHOSEN = ['config.json', 'tokenizer.json', 'model.safetensors'];

function assetsFolder() {
  const base =
    process.env.SUPERLAB_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'superlab');
  return path.join(base, 'assets');
}

function asset(relative) {
  const file = path.join(assetsFolder(), relative);
  assert.ok(
    statSync(file, { throwIfNoEntry: false })?.isFile(),
    `${file} is missing; fetch it with python3 scripts/assets.py`,
  );
  return file;
}

let server;
let browser;

before(async () => {
  server = await startServer({ withoutCore: true });
  browser = await launchBrowser({ webgpu: false });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** A fresh browser profile (empty cache) with the lab open, the fake hub routed. */
async function openLab(hub) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.route(`${server.url}pkg/superlab.js`, (route) =>
    route.fulfill({ contentType: 'text/javascript', body: STAND_IN_CORE }),
  );
  await hub.install(context);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, {
    timeout: SLOW,
  });
  await exposeStore(page);
  return { context, page, problems };
}

// The store's modules imported in the page as the lab's own code imports them, and helpers
// that bring results out of it: bytes as base64, errors as { code, message }.
async function exposeStore(page) {
  await page.evaluate(async () => {
    window.store = await import('/model-store.js');
    window.formats = await import('/model-formats.js');
    const base64 = (bytes) => {
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000)
        text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(text);
    };
    window.plain = (model) => ({
      ...window.store.describeModel(model),
      bytes: Object.fromEntries([...model.files].map(([name, bytes]) => [name, base64(bytes)])),
    });
    window.attempt = (promise) =>
      promise.then(
        (value) => ({ value }),
        (error) => ({ error: { code: error.code, message: error.message } }),
      );
    window.cacheKeys = async () =>
      (await (await caches.open('superlab-models-v1')).keys()).map((r) => r.url);
  });
}

const load = (page, id, options = {}) =>
  page.evaluate(
    ([id, options]) => attempt(store.loadFromHub(id, options).then(plain)),
    [id, options],
  );

function assertSameBytes(model, served, names) {
  assert.deepEqual(Object.keys(model.bytes), names);
  for (const name of names) {
    const expected = Buffer.isBuffer(served[name]) ? served[name] : Buffer.from(served[name]);
    assert.ok(
      Buffer.from(model.bytes[name], 'base64').equals(expected),
      `${name} differs from the served bytes`,
    );
  }
}

describe('the model store', { timeout: 10 * SLOW }, () => {
  test('downloads a hub model with progress to 100%, and its bytes equal the served ones', async () => {
    const hub = new FakeHub();
    const files = tinyRepo();
    const commit = hub.add(TINY, files);
    const { context, page, problems } = await openLab(hub);
    const { value: model, events } = await page.evaluate(async (id) => {
      const events = [];
      const outcome = await attempt(
        store.loadFromHub(id, { onProgress: (event) => events.push(event) }).then(plain),
      );
      return { ...outcome, events };
    }, TINY);
    assert.ok(model, 'the load failed');
    assert.equal(model.source, 'hub');
    assert.equal(model.commit, commit);
    assert.equal(model.format, 'safetensors');
    assert.deepEqual(model.weights, ['model.safetensors']);
    assertSameBytes(model, files, TINY_CHOSEN);
    for (const name of TINY_CHOSEN) {
      const mine = events.filter((event) => event.path === name);
      const size = Buffer.byteLength(files[name]);
      assert.deepEqual(
        mine.at(-1),
        { path: name, loaded: size, total: size },
        `${name} did not reach 100%`,
      );
      assert.ok(mine.every((event, i) => i === 0 || event.loaded >= mine[i - 1].loaded));
    }
    assert.equal(model.preflight.parameters, TINY_PARAMETERS);
    assert.equal(model.preflight.fits, true);
    assert.equal(hub.count('range', 'model.safetensors'), 1, 'the preflight read the header once');
    assert.equal(hub.count('resolve', 'README.md'), 0);
    assert.deepEqual(problems, []);
    await context.close();
  });

  // Playwright's routing hands a body over whole, so streaming is shown with a body that the
  // page's fetch delivers in pieces.
  test('progress is reported as a download streams in, and reaches its total', async () => {
    const { context, page } = await openLab(new FakeHub());
    const bytes = f32Values(160_000);
    const file = {
      path: 'model.safetensors',
      size: bytes.length,
      sha256: sha256(bytes),
      oid: null,
    };
    const events = await page.evaluate(
      async ([file, data]) => {
        const hub = await import('/hub.js');
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const piece = 80_000;
        const realFetch = window.fetch;
        window.fetch = async () =>
          new Response(
            new ReadableStream({
              start(controller) {
                for (let at = 0; at < bytes.length; at += piece)
                  controller.enqueue(bytes.slice(at, at + piece));
                controller.close();
              },
            }),
          );
        const events = [];
        try {
          await hub.download('superlab-test/streamed', 'f'.repeat(40), file, {
            onProgress: (event) => events.push(event),
          });
        } finally {
          window.fetch = realFetch;
        }
        return events;
      },
      [file, bytes.toString('base64')],
    );
    const loaded = events.map((event) => event.loaded);
    // Pieces above 64 KiB each cross a reporting step.
    assert.equal(events.length, 1 + Math.ceil(bytes.length / 80_000), `events: ${loaded}`);
    assert.equal(loaded[0], 0);
    assert.equal(loaded.at(-1), bytes.length);
    assert.ok(loaded.every((value, i) => i === 0 || value > loaded[i - 1]));
    assert.ok(events.every((event) => event.total === bytes.length && event.path === file.path));
    await context.close();
  });

  test('a second load comes from the cache without the hub, also offline and after a reload', async () => {
    const hub = new FakeHub();
    const files = tinyRepo();
    const commit = hub.add(TINY, files);
    const { context, page } = await openLab(hub);
    assert.equal((await load(page, TINY)).value.source, 'hub');
    const asked = hub.requests.length;

    const again = (await load(page, TINY)).value;
    assert.equal(again.source, 'cache');
    assert.equal(again.commit, commit);
    assertSameBytes(again, files, TINY_CHOSEN);
    assert.equal(hub.requests.length, asked, 'the second load asked the hub');

    hub.offline = true;
    await page.reload();
    await exposeStore(page);
    const offline = (await load(page, TINY)).value;
    assert.equal(offline?.source, 'cache');
    assertSameBytes(offline, files, TINY_CHOSEN);
    assert.equal(hub.requests.length, asked, 'the offline load asked the hub');
    assert.equal(
      (await load(page, TINY, { update: true })).value?.commit,
      commit,
      'update falls back to the cache',
    );
    assert.equal((await load(page, TINY, { revision: commit })).value?.source, 'cache');

    const unknown = await load(page, 'superlab-test/never-loaded');
    assert.equal(unknown.error?.code, 'offline');
    assert.match(unknown.error.message, /Could not reach the hub.*not kept in this browser/);

    const kept = await page.evaluate(() => store.listCached());
    assert.equal(kept.length, 1);
    assert.equal(kept[0].id, TINY);
    assert.deepEqual(kept[0].revisions, ['main']);
    const total = TINY_CHOSEN.reduce((sum, name) => sum + Buffer.byteLength(files[name]), 0);
    assert.equal(kept[0].totalBytes, total);
    assert.equal(await page.evaluate((id) => store.deleteCached(id), TINY), 1);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);
    assert.equal(
      (await load(page, TINY)).error?.code,
      'offline',
      'a deleted model was still served',
    );
    await context.close();
  });

  test('main resolves to the commit it was at when last loaded; update follows it', async () => {
    const hub = new FakeHub();
    const first = hub.add(TINY, tinyRepo());
    const { context, page } = await openLab(hub);
    await load(page, TINY);
    const files = tinyRepo(2);
    const second = hub.add(TINY, files, { commit: commitOf('second') });
    const asked = hub.requests.length;
    assert.equal(
      (await load(page, TINY)).value.commit,
      first,
      'the kept main is served without asking',
    );
    assert.equal(hub.requests.length, asked);
    const updated = (await load(page, TINY, { update: true })).value;
    assert.equal(updated.commit, second);
    assert.equal(updated.source, 'hub');
    assertSameBytes(updated, files, TINY_CHOSEN);
    hub.offline = true;
    assert.equal((await load(page, TINY)).value.commit, second);
    assert.equal((await load(page, TINY, { revision: first })).value.commit, first);
    const kept = await page.evaluate(() => store.listCached());
    assert.deepEqual(
      kept.map((model) => [model.commit, model.revisions]),
      [
        [first, []],
        [second, ['main']],
      ],
    );
    await context.close();
  });

  test('a file that does not match its listed hash is refused and not kept', async () => {
    const hub = new FakeHub();
    const files = tinyRepo();
    hub.add(TINY, files);
    hub.fault('model.safetensors', 'corrupt');
    const { context, page } = await openLab(hub);
    const corrupt = await load(page, TINY);
    assert.equal(corrupt.error?.code, 'integrity');
    assert.match(
      corrupt.error.message,
      /model\.safetensors of "superlab-test\/tiny-gpt2" does not match the SHA-256 the hub lists/,
    );
    assert.match(corrupt.error.message, /refused and not kept/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);

    hub.fault('config.json', 'corrupt');
    const small = await load(page, TINY);
    assert.match(small.error?.message ?? '', /config\.json .* does not match the git SHA-1/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);

    const retry = await load(page, TINY);
    assert.equal(retry.value?.source, 'hub');
    assertSameBytes(retry.value, files, TINY_CHOSEN);
    await context.close();
  });

  test('a download cut off midway is an error, keeps nothing, and a retry succeeds', async () => {
    const hub = new FakeHub();
    const files = tinyRepo();
    hub.add(TINY, files);
    const { context, page } = await openLab(hub);
    hub.fault('model.safetensors', 'abort');
    const aborted = await load(page, TINY);
    assert.equal(hub.count('resolve', 'config.json'), 1, 'the cut came after the first files');
    assert.match(aborted.error?.message ?? '', /Could not reach the hub for model\.safetensors/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);

    hub.fault('model.safetensors', 'truncate');
    const truncated = await load(page, TINY);
    assert.equal(truncated.error?.code, 'truncated');
    assert.match(truncated.error.message, /ended after \d+ of its \d+ bytes: it was cut off/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);
    assert.deepEqual(await page.evaluate(() => store.listCached()), []);

    const retry = await load(page, TINY);
    assert.equal(retry.value?.source, 'hub');
    assertSameBytes(retry.value, files, TINY_CHOSEN);
    assert.equal((await page.evaluate(() => store.listCached())).length, 1);
    await context.close();
  });

  test('hub ids are read as people write them, or refused', async () => {
    const { context, page } = await openLab(new FakeHub());
    const texts = [
      'gpt2',
      ' EleutherAI/pythia-70m ',
      'HuggingFaceTB/SmolLM2-135M-Instruct',
      'https://huggingface.co/timm/resnet18.tv_in1k',
      'https://huggingface.co/lvwerra/distilbert-imdb/tree/refs%2Fpr%2F1',
    ];
    const parsed = await page.evaluate(
      (texts) => texts.map((text) => store.parseHubId(text)),
      texts,
    );
    assert.deepEqual(parsed, [
      { id: 'gpt2', revision: null },
      { id: 'EleutherAI/pythia-70m', revision: null },
      { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: null },
      { id: 'timm/resnet18.tv_in1k', revision: null },
      { id: 'lvwerra/distilbert-imdb', revision: 'refs/pr/1' },
    ]);
    const refused = await page.evaluate(() =>
      ['', 'a/b/c', '../secrets', 'two words', 'https://example.org/gpt2'].map((text) => {
        try {
          return store.parseHubId(text);
        } catch (error) {
          return error.code;
        }
      }),
    );
    assert.deepEqual(refused, Array(5).fill('invalid-id'));
    await context.close();
  });

  test('missing, private, gated and pickle-only repositories are explained', async () => {
    const hub = new FakeHub();
    hub.add('superlab-test/pickled', {
      'config.json': '{"model_type": "distilbert"}',
      'pytorch_model.bin': Buffer.from('PK\x03\x04 pickled weights'),
    });
    hub.add('superlab-test/private', tinyRepo(), { status: 401 });
    hub.add('superlab-test/gated', tinyRepo(), { gated: true });
    hub.add('superlab-test/no-config', { 'model.safetensors': tinyRepo()['model.safetensors'] });
    hub.add('superlab-test/weightless', { 'config.json': '{}', 'model.gguf': Buffer.from('GGUF') });
    const { context, page } = await openLab(hub);
    const cases = [
      [
        'superlab-test/absent',
        'not-found',
        /The hub has no model "superlab-test\/absent" \(HTTP 404\).*Check the id/,
      ],
      [
        'superlab-test/pickled',
        'pytorch-only',
        /only as pytorch_model\.bin.*does not read.*safetensors/,
      ],
      [
        'superlab-test/private',
        'no-access',
        /HTTP 401.*private or gated, or the id does not exist/,
      ],
      [
        'superlab-test/gated',
        'no-access',
        /accept its conditions on https:\/\/huggingface\.co\/superlab-test\/gated/,
      ],
      ['superlab-test/no-config', 'no-config', /has no config\.json/],
      [
        'superlab-test/weightless',
        'no-weights',
        /no weights the lab reads.*model\.gguf.*Choose files/,
      ],
      ['not an id!', 'invalid-id', /is not a hub id/],
    ];
    for (const [id, code, message] of cases) {
      const { error } = await load(page, id);
      assert.equal(error?.code, code, `${id}: ${error?.message}`);
      assert.match(error.message, message);
    }
    assert.equal(hub.count('resolve', 'pytorch_model.bin'), 0);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);
    await context.close();
  });

  test('a sharded checkpoint loads through its index, in the index order', async () => {
    const hub = new FakeHub();
    const first = safetensors({
      'a.weight': { dtype: 'F32', shape: [64, 64], data: f32Values(4096) },
    }).bytes;
    const second = safetensors({
      'b.weight': { dtype: 'F16', shape: [32], data: Buffer.alloc(64, 1) },
    }).bytes;
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const files = {
      'config.json': '{"model_type": "llama"}',
      'model.safetensors.index.json': JSON.stringify({
        metadata: {},
        weight_map: { 'b.weight': names[1], 'a.weight': names[0] },
      }),
      [names[1]]: second,
      [names[0]]: first,
    };
    hub.add('superlab-test/sharded', files);
    const { context, page } = await openLab(hub);
    const { value: model } = await load(page, 'superlab-test/sharded');
    assert.deepEqual(model.weights, [names[1], names[0]]);
    assertSameBytes(model, files, [
      'config.json',
      'model.safetensors.index.json',
      names[1],
      names[0],
    ]);
    assert.equal(model.preflight.parameters, 64 * 64 + 32);
    assert.equal(hub.count('resolve', 'model.safetensors.index.json'), 1);
    assert.equal((await load(page, 'superlab-test/sharded')).value.source, 'cache');
    await context.close();
  });

  test('the preflight says what does not fit in storage or in a buffer', async () => {
    const hub = new FakeHub();
    hub.add(TINY, tinyRepo());
    const { context, page } = await openLab(hub);
    const gpu = {
      backend: 'wgpu',
      name: 'Test GPU',
      maxBufferSize: 1 << 30,
      maxStorageBufferBindingSize: 128 << 10,
    };
    const [roomy, cramped] = await page.evaluate(
      async ([id, gpu]) => {
        const plan = await store.planHubModel(id);
        return [
          await store.preflight(plan, {
            estimate: { quota: 1 << 30, usage: 0 },
            device: { backend: 'cpu' },
          }),
          await store.preflight(plan, { estimate: { quota: 100_000, usage: 40_000 }, device: gpu }),
        ];
      },
      [TINY, gpu],
    );
    assert.equal(roomy.fits, true);
    assert.equal(roomy.trainable, true);
    assert.equal(roomy.parameters, TINY_PARAMETERS);
    assert.match(roomy.statement, /^It fits\./);
    assert.equal(cramped.fits, false);
    assert.deepEqual(
      cramped.checks.filter((check) => check.fits === false).map((check) => check.what),
      ['storage', 'tensor'],
    );
    assert.match(
      cramped.statement,
      /does not fit in this browser's storage, which has 58\.6 KiB free/,
    );
    assert.match(
      cramped.statement,
      /The largest tensor, wte\.weight \[512 × 128\], takes 256\.0 KiB as f32, more than the 128\.0 KiB the GPU \(Test GPU\) binds per buffer/,
    );
    const refused = await load(page, TINY, { estimate: { quota: 100_000, usage: 40_000 } });
    assert.equal(refused.error?.code, 'does-not-fit');
    assert.match(
      refused.error.message,
      /^"superlab-test\/tiny-gpt2" does not fit here\. The download, 448\.\d KiB, does not fit .* Load it anyway/,
    );
    assert.equal(
      hub.count('resolve', 'model.safetensors'),
      0,
      'a model that does not fit was downloaded',
    );
    const forced = await load(page, TINY, {
      estimate: { quota: 100_000, usage: 40_000 },
      force: true,
    });
    assert.equal(forced.value?.source, 'hub');
    await context.close();
  });

  test('local files: safetensors with config.json load; impostors are refused', async () => {
    const hub = new FakeHub();
    const { context, page } = await openLab(hub);
    const files = tinyRepo();
    await page.evaluate(() => {
      const input = Object.assign(document.createElement('input'), {
        type: 'file',
        multiple: true,
        id: 'probe',
      });
      document.body.append(input);
    });
    const fromPicker = async (list) => {
      await page.setInputFiles('#probe', list);
      return page.evaluate(() =>
        attempt(store.loadFromFiles(document.getElementById('probe').files).then(plain)),
      );
    };
    const upload = (name) => ({
      name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(files[name]),
    });
    const loaded = await fromPicker([upload('model.safetensors'), upload('config.json')]);
    assert.equal(loaded.value?.source, 'local');
    assert.equal(loaded.value.format, 'safetensors');
    assert.deepEqual(loaded.value.weights, ['model.safetensors']);
    assertSameBytes(loaded.value, files, ['config.json', 'model.safetensors']);
    assert.equal(loaded.value.preflight.parameters, TINY_PARAMETERS);

    const text = {
      name: 'model.safetensors',
      mimeType: 'text/plain',
      buffer: Buffer.from('These are not weights, only words.\n'),
    };
    const impostor = await fromPicker([text, upload('config.json')]);
    assert.equal(impostor.error?.code, 'bad-file');
    assert.match(impostor.error.message, /model\.safetensors is not a safetensors file/);
    const readme = await fromPicker([upload('README.md'), upload('model.safetensors')]);
    assert.equal(readme.error?.code, 'unrecognised');
    assert.match(
      readme.error.message,
      /does not read README\.md: it reads config\.json, tokenizer\.json/,
    );
    const badConfig = await fromPicker([
      { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"oops"') },
      upload('model.safetensors'),
    ]);
    assert.match(badConfig.error?.message ?? '', /config\.json is not valid JSON/);
    const twoModels = await fromPicker([
      upload('model.safetensors'),
      {
        name: 'other.pth',
        mimeType: 'application/octet-stream',
        // The first 4 KiB of a real checkpoint: enough to be recognised, as the store reads.
        buffer: readFileSync(
          asset('models/efficientnet-lite0/efficientnet-lite0-57934424.pth'),
        ).subarray(0, 4096),
      },
    ]);
    assert.equal(twoModels.error?.code, 'mixed-formats');
    await context.close();
  });

  test('GGUF, safetensors and .pth files of real models read as their reference readers read them', async () => {
    const reference = JSON.parse(
      readFileSync(path.join(ROOT, 'tests/fixtures/model_headers.json'), 'utf8'),
    ).models;
    const { context, page } = await openLab(new FakeHub());
    await page.evaluate(() => {
      const input = Object.assign(document.createElement('input'), { type: 'file', id: 'probe' });
      document.body.append(input);
    });
    for (const [relative, expected] of Object.entries(reference)) {
      await page.setInputFiles('#probe', asset(relative));
      const ours = await page.evaluate(async () => {
        const [file] = document.getElementById('probe').files;
        const found = await formats.inspectFile(file.name, file.size, formats.blobReader(file));
        const summary = formats.summariseTensors([{ tensors: found.tensors, size: file.size }]);
        const model = await store.loadFromFiles([file]);
        return {
          ...summary,
          count: found.tensors.length,
          architecture: found.architecture ?? null,
          loaded: model.preflight.parameters,
        };
      });
      assert.equal(ours.parameters, expected.parameters, relative);
      assert.equal(ours.loaded, expected.parameters, relative);
      assert.equal(ours.count, expected.tensors, relative);
      assert.deepEqual(
        Object.fromEntries(Object.entries(ours.dtypes).sort()),
        expected.dtypes,
        relative,
      );
      assert.equal(ours.largest.elements, expected.largest_elements, relative);
      assert.ok(
        expected.largest_names.includes(ours.largest.name),
        `${relative}: ${ours.largest.name}`,
      );
      if (expected.architecture) assert.equal(ours.architecture, expected.architecture);
    }
    await page.setInputFiles(
      '#probe',
      asset('models/efficientnet-lite0/efficientnet-lite0-57934424.pth'),
    );
    const pth = await page.evaluate(async () => {
      const model = await store.loadFromFiles(document.getElementById('probe').files);
      return { format: model.format, exact: model.preflight.parametersExact };
    });
    assert.deepEqual(pth, { format: 'pth', exact: false });
    // torch.save's zip layout: a local file header whose first entry is <folder>/data.pkl.
    const entry = Buffer.from('archive/data.pkl');
    const header = Buffer.alloc(30);
    header.write('PK\x03\x04', 0, 'latin1');
    header.writeUInt16LE(entry.length, 26);
    const zipped = Buffer.concat([header, entry, Buffer.alloc(64)]);
    await page.setInputFiles('#probe', {
      name: 'classifier.pth',
      mimeType: 'application/octet-stream',
      buffer: zipped,
    });
    const kinds = await page.evaluate(async () => {
      const [file] = document.getElementById('probe').files;
      return (await formats.inspectFile(file.name, file.size, formats.blobReader(file))).layout;
    });
    assert.equal(kinds, 'zip');
    await context.close();
  });
});

describe('on WebGPU', { timeout: 4 * SLOW }, () => {
  let gpuBrowser;
  before(async () => {
    gpuBrowser = await launchBrowser({ webgpu: true });
  });
  after(() => gpuBrowser?.close());

  test("the preflight measures tensors against the adapter's buffer limits", async () => {
    const hub = new FakeHub();
    hub.add(TINY, tinyRepo());
    const context = await gpuBrowser.newContext();
    await hub.install(context);
    await context.route(`${server.url}pkg/superlab.js`, (route) =>
      route.fulfill({ contentType: 'text/javascript', body: STAND_IN_CORE }),
    );
    const page = await context.newPage();
    await page.goto(server.url);
    await exposeStore(page);
    const { device, limits, check } = await page.evaluate(async (id) => {
      const adapter = await navigator.gpu.requestAdapter();
      const device = await store.probeDevice();
      const check = await store.preflight(await store.planHubModel(id), { device });
      const { maxBufferSize, maxStorageBufferBindingSize } = adapter.limits;
      return { device, limits: { maxBufferSize, maxStorageBufferBindingSize }, check };
    }, TINY);
    assert.equal(device.backend, 'wgpu');
    assert.equal(device.maxBufferSize, limits.maxBufferSize);
    assert.equal(device.maxStorageBufferBindingSize, limits.maxStorageBufferBindingSize);
    const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const tensor = check.checks.find((item) => item.what === 'tensor');
    assert.equal(tensor.fits, true);
    const shown = await page.evaluate((limit) => store.formatBytes(limit), limit);
    assert.match(tensor.text, new RegExp(`within the ${shown} the GPU \\(.+\\) binds per buffer`));
    assert.match(check.checks.find((item) => item.what === 'memory').text, /WebGPU does not say/);
    const fromReport = await page.evaluate(() =>
      store.deviceFromReport({
        backend: 'wgpu',
        adapter: {
          name: 'SwiftShader',
          limits: { max_buffer_size: 4096, max_storage_buffer_binding_size: 2048 },
        },
      }),
    );
    assert.deepEqual(fromReport, {
      backend: 'wgpu',
      name: 'SwiftShader',
      maxBufferSize: 4096,
      maxStorageBufferBindingSize: 2048,
    });
    await context.close();
  });
});

describe('the Models panel', { timeout: 10 * SLOW }, () => {
  test('loads from the hub with a bar per file, lists the kept model, and deletes it', async () => {
    const hub = new FakeHub();
    const files = tinyRepo();
    const commit = hub.add(TINY, files);
    const { context, page, problems } = await openLab(hub);
    await page.fill('#hub-id', TINY);
    await page.click('#hub-load');
    await page.waitForSelector('#models-panel[data-state="loaded"]', { timeout: SLOW });
    const bars = await page.$$eval('#model-progress li', (items) =>
      items.map((item) => [
        item.dataset.path,
        item.querySelector('progress').value,
        item.querySelector('progress').max,
      ]),
    );
    assert.deepEqual(
      bars.map(([name]) => name),
      TINY_CHOSEN,
    );
    for (const [name, value, max] of bars) {
      assert.equal(value, Buffer.byteLength(files[name]), name);
      assert.equal(max, Buffer.byteLength(files[name]), name);
    }
    assert.match(
      await page.textContent('#model-status'),
      new RegExp(
        `Loaded ${TINY} at ${commit.slice(0, 10)}, safetensors, .* downloaded from the hub`,
      ),
    );
    const thousands = (TINY_PARAMETERS / 1000).toFixed(1);
    assert.match(
      await page.textContent('#model-preflight'),
      new RegExp(`It fits\\..*${thousands} thousand parameters stored as F32, BF16`),
    );
    const current = await page.evaluate(() => window.lab.models.current());
    assert.deepEqual(
      current.files.map((file) => file.path),
      TINY_CHOSEN,
    );
    await page.waitForSelector(`#model-cache tr[data-commit="${commit}"]`);
    assert.match(await page.textContent('#model-cache tbody'), /superlab-test\/tiny-gpt2\s*main/);
    const total = TINY_CHOSEN.reduce((sum, name) => sum + Buffer.byteLength(files[name]), 0);
    assert.match(
      await page.textContent('#model-storage'),
      new RegExp(`1 kept, ${(total / 1024).toFixed(1)} KiB in all`),
    );
    await screenshot(page, 'models-panel');

    await page.click(`#model-cache tr[data-commit="${commit}"] button.delete`);
    await page.waitForSelector('#model-cache', { state: 'hidden' });
    assert.match(await page.textContent('#model-storage'), /No models are kept/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('shows errors plainly, refuses what does not fit, and cancels a download', async () => {
    const hub = new FakeHub();
    const huge = safetensors(
      { 'embed.weight': { dtype: 'F32', shape: [300_000, 8192], bytes: 300_000 * 8192 * 4 } },
      { declaredOnly: true },
    );
    hub.add('superlab-test/huge', {
      'config.json': '{}',
      'model.safetensors': { head: huge.bytes, size: huge.size },
    });
    hub.add(TINY, tinyRepo());
    const { context, page } = await openLab(hub);

    await page.fill('#hub-id', 'superlab-test/absent');
    await page.click('#hub-load');
    await page.waitForSelector('#model-error:not([hidden])');
    assert.match(
      await page.textContent('#model-error'),
      /The hub has no model "superlab-test\/absent" \(HTTP 404\)/,
    );

    await page.fill('#hub-id', 'https://huggingface.co/superlab-test/tiny-gpt2/tree/nowhere');
    await page.click('#hub-load');
    await page.waitForSelector('#models-panel[data-state="error"]');
    assert.match(
      await page.textContent('#model-error'),
      /no model "superlab-test\/tiny-gpt2" at revision "nowhere" \(HTTP 404\)\. The hub says: "Invalid rev id: nowhere"/,
    );

    await page.fill('#hub-id', 'https://huggingface.co/superlab-test/huge');
    await page.click('#hub-load');
    await page.waitForSelector('#models-panel[data-state="error"] #model-force:not([hidden])');
    const statement = await page.textContent('#model-preflight');
    assert.match(statement, /It does not fit\./);
    assert.match(
      statement,
      /embed\.weight \[300000 × 8192\], takes 9\.2 GiB as f32, more than the 4\.0 GiB/,
    );
    assert.equal(hub.count('resolve', 'model.safetensors'), 0);
    await screenshot(page, 'models-does-not-fit');

    hub.fault('model.safetensors', 'hold');
    await page.fill('#hub-id', TINY);
    await page.click('#hub-load');
    await waitFor(() => hub.held.length === 1);
    await page.click('#hub-cancel');
    await page.waitForSelector('#models-panel[data-state="error"]');
    assert.match(await page.textContent('#model-error'), /cancelled; nothing from it was kept/);
    assert.deepEqual(await page.evaluate(() => cacheKeys()), []);
    hub.release();
    await context.close();
  });

  test('opens files from the picker and from a drop', async () => {
    const { context, page } = await openLab(new FakeHub());
    const files = tinyRepo();
    const upload = (name, content = files[name]) => ({
      name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(content),
    });
    await page.setInputFiles('#model-files', [
      upload('config.json'),
      upload('tokenizer.json'),
      upload('model.safetensors'),
    ]);
    await page.waitForSelector('#models-panel[data-state="loaded"]');
    assert.match(
      await page.textContent('#model-status'),
      /Loaded model\.safetensors, safetensors, .* from your files/,
    );
    assert.equal(
      await page.$$eval(
        '#model-progress progress',
        (bars) => bars.filter((bar) => bar.value === bar.max).length,
      ),
      3,
    );

    await page.setInputFiles('#model-files', [
      upload('model.safetensors', 'not weights at all, just a sentence\n'),
    ]);
    await page.waitForSelector('#models-panel[data-state="error"]');
    assert.match(
      await page.textContent('#model-error'),
      /model\.safetensors is not a safetensors file/,
    );

    const dropped = await page.evaluateHandle((weights) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], 'model.safetensors'));
      return transfer;
    }, Buffer.from(files['model.safetensors']).toString('base64'));
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dropped });
    await page.waitForSelector('#models-panel[data-state="loaded"]');
    const current = await page.evaluate(() => window.lab.models.current());
    assert.deepEqual(current.weights, ['model.safetensors']);
    await context.close();
  });

  test('the page and the server send one policy, which lets the page reach the hub and nothing else', async () => {
    const served = await fetch(server.url);
    const header = served.headers.get('content-security-policy');
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(
      await served.text(),
    )?.[1];
    assert.equal(meta, header);
    assert.match(
      header,
      /connect-src 'self' https:\/\/huggingface\.co https:\/\/\*\.huggingface\.co https:\/\/\*\.hf\.co;/,
    );

    const { context, page } = await openLab(new FakeHub());
    const reached = [];
    for (const pattern of [
      'https://cdn-lfs.hf.co/**',
      'https://cas-bridge.xethub.hf.co/**',
      'https://cdn-lfs.huggingface.co/**',
      'https://example.org/**',
    ]) {
      await context.route(pattern, (route) => {
        reached.push(new URL(route.request().url()).host);
        route.fulfill({ status: 200, headers: { 'access-control-allow-origin': '*' }, body: 'ok' });
      });
    }
    const outcomes = await page.evaluate(() =>
      Promise.all(
        [
          'https://cdn-lfs.hf.co/a',
          'https://cas-bridge.xethub.hf.co/b',
          'https://cdn-lfs.huggingface.co/c',
          'https://example.org/d',
        ].map((url) =>
          fetch(url).then(
            (response) => response.status,
            () => 'blocked',
          ),
        ),
      ),
    );
    assert.deepEqual(outcomes, [200, 200, 200, 'blocked']);
    assert.deepEqual(reached.sort(), [
      'cas-bridge.xethub.hf.co',
      'cdn-lfs.hf.co',
      'cdn-lfs.huggingface.co',
    ]);
    await context.close();
  });
});

async function waitFor(condition, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
