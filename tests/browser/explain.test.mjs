// The ShearletX panel in headless Chromium with the real core on SwiftShader's WebGPU: a tiny
// ShearletX run of the default EfficientNet-Lite0 on a packaged photo completes, the page shows
// its explanation and scores, and they agree with `superlab shearletx` on the CPU backend with
// the same settings; bad input (a damaged file, a 1x1 image, a class the classifier lacks) is a
// plain message and the panel goes on.
//
// References and tolerances: the native tool runs the same core code on burn's CPU backend.
// The noise is drawn on the host from SplitMix64, so both runs see the same samples; what
// differs is the order in which SwiftShader sums convolutions, which moves EfficientNet-Lite0's
// logits by about 1e-5 (tests/efficientnet_lite0.rs). Before any update (step 1's loss terms)
// that leaves the terms within TERM_TOLERANCE. Adam's first update moves every mask value by
// the learning rate times the sign of its gradient, so a coefficient whose gradient is within
// rounding of zero could move the other way; the scores of the final mask are sums over all
// 3.2 M coefficients and pixels, so a handful of such coefficients shifts them far less than
// SCORE_TOLERANCE (relative). The hallucination score counts edge pixels after thresholding, so
// a pixel at the threshold may flip: HALLUCINATION_TOLERANCE is a few pixels' worth of its
// ratio. The explanation images, 8-bit, may differ by a level where a value lies at a rounding
// boundary: their mean difference must stay under a hundredth of a level's worth.
//
// SwiftShader runs at about 0.3 GFLOP/s; one step with one noise sample is a forward and
// backward pass of EfficientNet-Lite0 at 256x256 (about 1.5 GFLOP) besides the classification
// and scoring passes, so the run takes a minute or two, most of it compiling kernels.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { SLOW, foreignRequests, launchBrowser, openLab, screenshot, startServer } from './harness.mjs';

const PHOTO = 'chelsea.png';
const STEPS = 1;
const NOISE_SAMPLES = 1;
const TERM_TOLERANCE = 1e-4;
const SCORE_TOLERANCE = 1e-3;
const HALLUCINATION_TOLERANCE = 2e-3;
const MEAN_LEVEL_TOLERANCE = 0.01;
const SCORES = ['retained_probability', 'cp_l1', 'cp_l1_pixel', 'cp_entropy'];

/** The asset cache, by the rule of scripts/lib.sh. */
const ASSETS = path.join(
  process.env.SUPERLAB_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'superlab'),
  'assets',
);

/** `superlab shearletx` on the CPU backend: its report and explanation image. */
function nativeExplanation() {
  const binary = process.env.SUPERLAB_BIN;
  if (!binary) {
    throw new Error('SUPERLAB_BIN is not set: run the browser tests through scripts/test');
  }
  const out = mkdtempSync(path.join(tmpdir(), 'superlab-shx-'));
  const args = ['shearletx', '--image', path.join(ASSETS, 'photos', PHOTO), '--backend', 'cpu'];
  args.push('--steps', `${STEPS}`, '--noise-samples', `${NOISE_SAMPLES}`, '--out', out);
  execFileSync(binary, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  return {
    report: JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')),
    explanation: readFileSync(path.join(out, 'explanation.png')).toString('base64'),
  };
}

/** The message an action's promise rejects with, or 'no error'. */
function rejection(promise) {
  return promise.then(
    () => 'no error',
    (error) => error.message,
  );
}

function relative(ours, reference) {
  return Math.abs(ours - reference) / Math.max(Math.abs(reference), 1e-12);
}

/** The mean and largest difference of two PNGs' 8-bit levels, decoded in the page. */
function imageDifference(page, oursBytes, referenceBase64) {
  return page.evaluate(
    async ({ ours, reference }) => {
      const decode = async (bytes) => {
        const bitmap = await createImageBitmap(new Blob([bytes]));
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const context = canvas.getContext('2d');
        context.drawImage(bitmap, 0, 0);
        return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
      };
      const a = await decode(new Uint8Array(ours));
      const b = await decode(Uint8Array.from(atob(reference), (c) => c.charCodeAt(0)));
      if (a.length !== b.length) return { mean: Infinity, largest: Infinity };
      let sum = 0;
      let largest = 0;
      for (let i = 0; i < a.length; i += 1) {
        const difference = Math.abs(a[i] - b[i]);
        sum += difference;
        largest = Math.max(largest, difference);
      }
      return { mean: sum / a.length, largest };
    },
    { ours: oursBytes, reference: referenceBase64 },
  );
}

let server;
let native;

before(async () => {
  server = await startServer({ assets: ASSETS });
  native = nativeExplanation();
});

after(() => server?.stop());

describe('the ShearletX panel with WebGPU', { timeout: 6 * SLOW }, () => {
  let browser;
  let page;
  let requests;
  before(async () => {
    browser = await launchBrowser({ webgpu: true });
    ({ page, requests } = await openLab(browser, server.url));
    assert.equal((await page.evaluate(() => window.lab.device())).backend, 'wgpu');
  });
  after(() => browser?.close());

  test('bad images and classes are plain messages, and the panel goes on', async () => {
    const damaged = await rejection(
      page.evaluate(() => window.lab.explain.prepare(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1]))),
    );
    assert.match(damaged, /not an image the lab can read; use a PNG, JPEG/);
    assert.ok(await page.isVisible('#shx-error'));
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
    assert.ok(await page.isHidden('#error-panel'), 'a bad image needs no restart');

    const tiny = await rejection(
      page.evaluate(async () => {
        const canvas = new OffscreenCanvas(1, 1);
        canvas.getContext('2d').fillRect(0, 0, 1, 1);
        return window.lab.explain.prepare(await canvas.convertToBlob({ type: 'image/png' }));
      }),
    );
    assert.match(tiny, /1x1 pixels; the lab needs at least 32/);

    await page.selectOption('#shx-photo', PHOTO);
    await page.waitForFunction(() => !document.getElementById('shx-classes').hidden, null, {
      timeout: SLOW,
    });
    assert.ok(await page.isHidden('#shx-error'), 'the error is cleared by a good photo');
    assert.equal(await page.locator('#shx-classes tbody tr').count(), 5);
    const topClass = await page.inputValue('#shx-class');
    assert.equal(Number(topClass), native.report.class_index, 'the top class is the native one');
    assert.match(await page.textContent('#shx-crop'), /451x300.*resized to 384x256.*centre 256x256/);

    const missing = await rejection(
      page.evaluate(() =>
        window.lab.explain.run({ methods: ['shearletx'], target: 5000, overrides: { steps: 1 } }),
      ),
    );
    assert.match(missing, /class 5000 does not exist: the classifier has 1000 classes/);
    assert.ok(await page.isVisible('#shx-error'));
    assert.ok(await page.isHidden('#error-panel'));
  });

  test('a tiny ShearletX run agrees with the native tool and shows its explanation', async () => {
    const started = Date.now();
    const overrides = { steps: STEPS, noise_samples: NOISE_SAMPLES };
    const [report] = await page.evaluate(
      (overrides) => window.lab.explain.run({ methods: ['shearletx'], overrides }),
      overrides,
    );
    console.log(`WebGPU: explained in ${(Date.now() - started) / 1000} s`, report.timings);
    const reference = native.report;
    assert.equal(report.status.state, 'completed');
    assert.equal(report.method, 'shearletx');
    assert.equal(report.class_index, reference.class_index);
    assert.equal(report.class_name, reference.class_name);
    assert.deepEqual(report.config, reference.config);
    assert.deepEqual(report.image.crop, reference.image.crop);
    assert.deepEqual(report.files, reference.files);
    assert.equal(report.history.length, STEPS);

    const terms = reference.history[0].metrics;
    const termDifferences = Object.keys(terms).map((name) => [
      name,
      Math.abs(report.history[0].metrics[name] - terms[name]),
    ]);
    const largestTerm = Math.max(...termDifferences.map(([, d]) => d));
    console.log(`step 1's loss terms: largest difference ${largestTerm.toExponential(3)}`);
    for (const [name, difference] of termDifferences) {
      assert.ok(difference <= TERM_TOLERANCE, `${name} differs by ${difference}`);
    }
    for (const name of SCORES) {
      const difference = relative(report[name], reference[name]);
      console.log(`${name}: ${report[name]} against ${reference[name]} (${difference.toExponential(3)})`);
      assert.ok(difference <= SCORE_TOLERANCE, `${name} differs by ${difference} (relative)`);
    }
    const hallucination = Math.abs(report.hallucination_score - reference.hallucination_score);
    console.log(`hallucination score: ${report.hallucination_score} against ${reference.hallucination_score}`);
    assert.ok(hallucination <= HALLUCINATION_TOLERANCE, `hallucination differs by ${hallucination}`);

    const card = page.locator('.shx-card[data-method="shearletx"]');
    assert.equal(await card.count(), 1);
    const shown = await card.locator('img.shx-explanation').evaluate(async (img) => {
      await img.decode();
      return { width: img.naturalWidth, height: img.naturalHeight, src: img.src };
    });
    assert.deepEqual([shown.width, shown.height], [256, 256]);
    const bytes = await page.evaluate(async (src) => {
      return [...new Uint8Array(await (await fetch(src)).arrayBuffer())];
    }, shown.src);
    const { mean, largest } = await imageDifference(page, bytes, native.explanation);
    console.log(`explanation.png: mean level difference ${mean}, largest ${largest}`);
    assert.ok(mean <= MEAN_LEVEL_TOLERANCE, `the explanations differ by ${mean} levels on average`);
    assert.match(await card.textContent(), new RegExp(report.retained_probability.toFixed(4)));
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done');
    assert.ok(await page.isEnabled('#shx-export-json'));
    await screenshot(page, 'webgpu-shearletx');
    assert.deepEqual(foreignRequests(requests, server.url), []);
  });
});
