// The page in headless Chromium: on SwiftShader's WebGPU, and on the CPU fallback when WebGPU
// is absent. Each computes the device check, and both must agree with the native tool on the
// CPU backend to 1e-5.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SLOW,
  foreignRequests,
  largestDifference,
  launchBrowser,
  nativeCheck,
  openLab,
  runCheck,
  screenshot,
  startServer,
} from './harness.mjs';

const STEPS = 5;
const TOLERANCE = 1e-5;

let server;
let reference;

before(async () => {
  server = await startServer();
  reference = nativeCheck(STEPS).result;
});

after(() => server?.stop());

describe('with WebGPU', { timeout: 4 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ webgpu: true });
  });
  after(() => browser?.close());

  test('reports the adapter and computes the check like the CPU', async () => {
    const { page, requests, console } = await openLab(browser, server.url);
    const device = await page.evaluate(() => window.lab.device());
    assert.equal(device?.backend, 'wgpu', `no WebGPU device; console:\n${console.join('\n')}`);
    assert.ok(device.adapter.limits.max_storage_buffer_binding_size >= 128 << 20);
    assert.match(await page.textContent('#device-facts'), /Storage binding/);

    const report = await runCheck(page, { steps: STEPS });
    assert.equal(report.status.state, 'completed');
    assert.equal(report.device.backend, 'wgpu');
    assert.equal(report.steps.length, STEPS);
    const difference = largestDifference(report.result, reference);
    assert.ok(difference <= TOLERANCE, `WebGPU differs from the CPU by ${difference}`);
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done');
    assert.deepEqual(await page.evaluate(() => window.lab.report().result), report.result);
    await screenshot(page, 'webgpu-check');
    assert.deepEqual(foreignRequests(requests, server.url), []);
    await page.close();
  });

  test('a lost device ends the run with a clear message, and a restart recovers', async () => {
    const { page } = await openLab(browser, server.url);
    assert.equal((await page.evaluate(() => window.lab.device())).backend, 'wgpu');
    await page.evaluate(() => window.lab.simulateDeviceLoss());
    const outcome = await page.evaluate(() =>
      window.lab.run({ steps: 2 }).then(
        (report) => ({ report }),
        (error) => ({ error: error.message }),
      ),
    );
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
    assert.match(outcome.error ?? '', /lost/i);
    assert.match(await page.textContent('#error-message'), /lost/i);
    await screenshot(page, 'webgpu-device-lost');

    await page.evaluate(() => window.lab.restart());
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, {
      timeout: SLOW,
    });
    await page.close();
  });
});

describe('without WebGPU', { timeout: 4 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ webgpu: false });
  });
  after(() => browser?.close());

  test('falls back to the CPU, says so, and computes the same numbers', async () => {
    const { page, requests } = await openLab(browser, server.url);
    const device = await page.evaluate(() => window.lab.device());
    assert.equal(device.backend, 'cpu');
    assert.ok(device.fallback_reason, 'the fallback gives no reason');
    assert.ok(await page.isVisible('#fallback'));
    assert.match(await page.textContent('#fallback'), /CPU because/);

    const report = await runCheck(page, { steps: STEPS });
    assert.equal(report.status.state, 'completed');
    const difference = largestDifference(report.result, reference);
    assert.ok(difference <= TOLERANCE, `the wasm CPU differs from native by ${difference}`);
    await screenshot(page, 'cpu-fallback-check');
    assert.deepEqual(foreignRequests(requests, server.url), []);
    await page.close();
  });

  test('Stop ends a run within a step and keeps the finished steps', async () => {
    const { page } = await openLab(browser, server.url);
    const stopped = page.evaluate(() => window.lab.run({ steps: 10000 }));
    await page.waitForFunction(() => document.querySelectorAll('#steps-table tbody tr').length > 2);
    await page.evaluate(() => window.lab.stop());
    const report = await stopped;
    assert.equal(report.status.state, 'stopped');
    assert.ok(report.steps.length < 10000);
    assert.equal(report.result.losses.length, report.steps.length);
    await page.close();
  });

  test('asking for WebGPU where there is none fails clearly', async () => {
    const { page } = await openLab(browser, server.url, '?backend=wgpu');
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
    assert.match(await page.textContent('#error-message'), /no GPU adapter/);
    await page.close();
  });
});
