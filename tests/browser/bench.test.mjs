// `superlab bench --smoke --only browser` runs the browser side (bench.mjs): the page in
// headless Chromium on WebGPU and on the wasm CPU backend, and the native tool on the same
// runs, and its report carries one row per workload and page backend with the ratio of the
// two medians. Benchmarks time nothing here: the figures of a smoke run are not checked
// against any bound, only that every planned run was timed on both sides.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SLOW } from './harness.mjs';

const EXPECTED = [
  ['device_check', 'cpu'],
  ['device_check', 'webgpu'],
  ['shearletx_tiny', 'cpu'],
  ['superhf_tiny', 'cpu'],
];

test('the benchmark times the page against the native tool', { timeout: 3 * SLOW }, () => {
  const binary = process.env.SUPERLAB_BIN;
  if (!binary) throw new Error('SUPERLAB_BIN is not set: run the browser tests through scripts/test');
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'superlab-bench-')), 'bench.json');
  execFileSync(binary, ['bench', '--smoke', '--only', 'browser', '--backend', 'cpu', '--out', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.plan.browser, true);
  assert.deepEqual(report.unavailable, {});
  const rows = report.browser_summary;
  assert.deepEqual(
    rows.map((row) => [row.id, row.page_backend]).sort(),
    EXPECTED,
    'one row per workload and page backend',
  );
  for (const row of rows) {
    assert.equal(row.page_repetitions, 1, row.id);
    assert.equal(row.native_repetitions, 1, row.id);
    assert.ok(row.page_median_seconds > 0 && row.native_median_seconds > 0, JSON.stringify(row));
    assert.ok(Math.abs(row.ratio - row.page_median_seconds / row.native_median_seconds) <= 1e-9 * row.ratio);
  }
  const row6 = report.summary.find((summary) => summary.id === 'browser');
  assert.equal(row6.status, 'browser');
  assert.match(report.browser.chromium, /Chromium/);
});
