// The model panels in headless Chromium with the real core: the default policy generating on
// SwiftShader's WebGPU and the default classifier ranking a packaged photo, each agreeing with
// the native tool on the CPU backend; Stop, the Models panel's model, and a corrupt image on
// the CPU fallback.
//
// References: the native tool's greedy tokens for the same prompt must be equal (the smallest
// gap between the two largest logits of these three steps is 1.28 in transformers'
// computation, tests/fixtures/default_generation.json, far above the f32 rounding of either
// backend), and its top five classes of chelsea.png must be the same classes in the same order
// with probabilities within 1e-4 (SwiftShader sums convolutions in another order; the logits
// move by about 1e-5, see tests/efficientnet_lite0.rs, which moves these probabilities far
// less). The default reward model's scores on the CPU fallback must agree with
// `superlab score` within 1e-4.
//
// SwiftShader runs at about 0.3 GFLOP/s, so the generation is 3 tokens after a 5-token
// prompt: about 2 GFLOP for SmolLM2-135M. It takes about two minutes, most of them on the
// first token (compiling the kernels), then about 15 s a token.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { homedir } from 'node:os';
import {
  SLOW,
  foreignRequests,
  launchBrowser,
  openLab,
  screenshot,
  startServer,
} from './harness.mjs';

const PROMPT = 'The capital of France is';
const NEW_TOKENS = 3;
const PHOTO = 'photos/chelsea.png';
const PROBABILITY_TOLERANCE = 1e-4;
// The WebAssembly CPU backend and the native one run the same kernels, but may sum in another
// order (SIMD widths differ); a reward of MiniLM moves by far less than this.
const SCORE_TOLERANCE = 1e-4;
const CLASSIFIER = 'models/efficientnet-lite0/efficientnet-lite0-57934424.pth';

/** The asset cache, by the rule of scripts/lib.sh. */
const ASSETS = path.join(
  process.env.SUPERLAB_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'superlab'),
  'assets',
);

/** The native tool's output for `args`, parsed as JSON. */
function nativeJson(args) {
  const binary = process.env.SUPERLAB_BIN;
  if (!binary) {
    throw new Error('SUPERLAB_BIN is not set: run the browser tests through scripts/test');
  }
  const output = execFileSync(binary, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  return JSON.parse(output.toString());
}

const GREEDY = {
  prompt: PROMPT,
  chat: false,
  maxNewTokens: NEW_TOKENS,
  temperature: 0,
  topP: 1,
  topK: 0,
  seed: 0,
  model: 'default',
};

/** Classifies a photo served under /assets/ in the page. */
function classifyInPage(page, asset, options = {}) {
  return page.evaluate(
    async ({ asset, options }) => {
      const bytes = new Uint8Array(await (await fetch(`/assets/${asset}`)).arrayBuffer());
      return window.lab.classify(bytes, options);
    },
    { asset, options },
  );
}

function assertSameRanking(ranked, reference, what) {
  assert.deepEqual(
    ranked.map((r) => r.class),
    reference.map((r) => r.class),
    `${what}: other classes`,
  );
  const differences = ranked.map((r, i) => Math.abs(r.probability - reference[i].probability));
  const largest = Math.max(...differences);
  console.log(`${what}: largest probability difference ${largest.toExponential(3)}`);
  assert.ok(largest <= PROBABILITY_TOLERANCE, `${what}: probabilities differ by ${largest}`);
}

let server;
let greedyReference;
let rankingReference;

before(async () => {
  server = await startServer({ assets: ASSETS });
  const args = ['--backend', 'cpu', '--temperature', '0', '--max-new-tokens', `${NEW_TOKENS}`];
  greedyReference = nativeJson(['generate', '--prompt', PROMPT, '--json', ...args]);
  const photo = path.join(ASSETS, PHOTO);
  rankingReference = nativeJson(['classify', '--image', photo, '--backend', 'cpu']);
});

after(() => server?.stop());

describe('with WebGPU', { timeout: 6 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ webgpu: true });
  });
  after(() => browser?.close());

  test('the default policy generates the native greedy tokens', async () => {
    const { page, requests, console: pageConsole } = await openLab(browser, server.url);
    const device = await page.evaluate(() => window.lab.device());
    const said = pageConsole.join('\n');
    assert.equal(device?.backend, 'wgpu', `no WebGPU device; console:\n${said}`);

    const started = Date.now();
    const generation = await page.evaluate((options) => window.lab.generate(options), GREEDY);
    const seconds = (Date.now() - started) / 1000;
    const generating = generation.elapsed_ms / 1000;
    console.log(`WebGPU: built and generated in ${seconds} s, of which ${generating} s generating`);
    assert.deepEqual(generation.prompt_tokens, greedyReference.prompt_tokens);
    assert.deepEqual(generation.tokens, greedyReference.tokens);
    assert.equal(generation.text, greedyReference.text);
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done');
    assert.equal(await page.textContent('#lm-output'), generation.text);
    assert.match(await page.textContent('#lm-summary'), /llama \(gguf\)/);
    assert.match(await page.textContent('#lm-summary'), /49152/);
    assert.match(await page.textContent('#status'), new RegExp(`Done: ${NEW_TOKENS} tokens`));
    await screenshot(page, 'webgpu-generate');
    assert.deepEqual(foreignRequests(requests, server.url), []);
    await page.close();
  });

  test('the default classifier ranks a photo as the native tool', async () => {
    const { page, requests } = await openLab(browser, server.url);
    const ranked = await classifyInPage(page, PHOTO);
    assertSameRanking(ranked, rankingReference, 'WebGPU');
    assert.ok(ranked[0].name.includes('cat'), ranked[0].name);
    assert.equal(await page.locator('#classify-table tbody tr').count(), 5);
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done');
    await screenshot(page, 'webgpu-classify');
    assert.deepEqual(foreignRequests(requests, server.url), []);
    await page.close();
  });
});

describe('without WebGPU', { timeout: 6 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ webgpu: false });
  });
  after(() => browser?.close());

  test('Stop ends a generation where it is, keeping its tokens', async () => {
    const { page } = await openLab(browser, server.url);
    assert.equal((await page.evaluate(() => window.lab.device())).backend, 'cpu');
    const long = { ...GREEDY, maxNewTokens: 500 };
    const stopped = page.evaluate((options) => window.lab.generate(options), long);
    await page.waitForFunction(() => document.getElementById('lm-progress').value >= 2, null, {
      timeout: SLOW,
    });
    await page.evaluate(() => window.lab.stop());
    const generation = await stopped;
    assert.ok(generation.interrupted, 'the generation says it was stopped');
    assert.ok(generation.tokens.length >= 2 && generation.tokens.length < 500);
    const shared = Math.min(generation.tokens.length, NEW_TOKENS);
    assert.deepEqual(generation.tokens.slice(0, shared), greedyReference.tokens.slice(0, shared));
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done');
    assert.match(await page.textContent('#status'), /stopped/);
    await page.close();
  });

  test('the default reward model scores texts as the native tool', async () => {
    const { page } = await openLab(browser, server.url);
    const texts = ['The movie was wonderful.', 'The movie was terrible.'];
    const scores = await page.evaluate(
      (batch) => window.lab.score(batch, { model: 'default' }),
      texts,
    );
    const args = ['score', '--reward-model', 'default', '--backend', 'cpu'];
    const native = execFileSync(
      process.env.SUPERLAB_BIN,
      [...args, ...texts.flatMap((text) => ['--text', text])],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } },
    )
      .toString()
      .trim()
      .split('\n')
      .map(Number);
    assert.equal(scores.length, native.length);
    for (const [index, score] of scores.entries()) {
      assert.ok(
        Math.abs(score - native[index]) <= SCORE_TOLERANCE,
        `text ${index}: the page scores ${score}, the native tool ${native[index]}`,
      );
    }
    assert.ok(scores[0] > scores[1], 'a wonderful movie scores above a terrible one');
    assert.match(await page.textContent('#lm-reward-summary'), /minilm|MiniLM|Bert/i);
    await page.close();
  });

  test('a corrupt image is a clear error, and the lab goes on', async () => {
    const { page } = await openLab(browser, server.url);
    const outcome = await page.evaluate(() =>
      window.lab.classify(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])).then(
        () => 'classified',
        (error) => error.message,
      ),
    );
    assert.match(outcome, /not an image the lab can read; use a PNG, JPEG/);
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
    assert.ok(await page.isVisible('#classify-error'));
    assert.ok(await page.isHidden('#error-panel'), 'a bad image needs no restart');
    assert.ok(await page.isEnabled('#run'));
    await screenshot(page, 'cpu-corrupt-image');
    const ranked = await classifyInPage(page, PHOTO);
    assertSameRanking(ranked, rankingReference, 'CPU after the error');
    await page.close();
  });

  test('the Models panel’s model is built and used when chosen', async () => {
    const { page } = await openLab(browser, server.url);
    await page.evaluate(async (asset) => {
      const blob = await (await fetch(`/assets/${asset}`)).blob();
      await window.lab.models.open([new File([blob], asset.split('/').pop())]);
    }, CLASSIFIER);
    const ranked = await classifyInPage(page, PHOTO, { model: 'loaded' });
    assertSameRanking(ranked, rankingReference, 'the loaded checkpoint');
    assert.match(await page.textContent('#classify-summary'), /efficientnet_lite0 \(pth\)/);

    const outcome = await page.evaluate((options) =>
      window.lab.generate({ ...options, model: 'loaded' }).then(
        () => 'generated',
        (error) => error.message,
      ),
    GREEDY);
    assert.match(outcome, /an image classifier, not a language model/);
    assert.match(await page.textContent('#lm-error'), /not a language model/);
    await page.close();
  });
});
