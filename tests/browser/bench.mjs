// The browser side of `superlab bench`: the browser tests' tiny configurations timed in the
// page in headless Chromium, on SwiftShader's WebGPU and on the wasm CPU backend, and the same
// configurations through the native tool on burn's CPU backend, so that what the browser costs
// is visible. Not a test: `superlab bench` runs it and reads what it writes.
//
//   node tests/browser/bench.mjs --out browser.json [--scale smoke|quick|standard]
//
// Needs SUPERLAB_BIN (the native tool), the built core in www/pkg, Chromium and the asset
// cache, as the browser tests do. Times are the runs' own (`elapsed_ms`, `timings.total_ms`):
// from the start of the computation to its report, without page loads or process starts. The
// page computes on one thread (WebAssembly without threads), so the native tool runs on one
// too (RAYON_NUM_THREADS=1).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SLOW, launchBrowser, openLab, startServer } from './harness.mjs';
import { openTinyModels, writeTinyModels } from './tiny-models.mjs';

const ASSETS = path.join(
  process.env.SUPERLAB_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'superlab'),
  'assets',
);
const PHOTO = 'chelsea.png';
const SEED = 4;
const LOADED = { policy: 'loaded', reward: 'loaded', heldout: 'loaded' };

/** Warm-up and timed repetitions per workload, and the device check's steps, by scale. */
const SCALES = {
  // SuperHF's first step on SwiftShader takes a minute and a half (compiling its kernels).
  smoke: { warmup: 0, repetitions: 1, checkSteps: 2, superhfOnWebGpu: false },
  quick: { warmup: 1, repetitions: 2, checkSteps: 10, superhfOnWebGpu: true },
  standard: { warmup: 1, repetitions: 3, checkSteps: 20, superhfOnWebGpu: true },
};

const { values: options } = parseArgs({
  options: { out: { type: 'string' }, scale: { type: 'string', default: 'standard' } },
});
const scale = SCALES[options.scale];
if (!options.out || !scale) {
  throw new Error('usage: node tests/browser/bench.mjs --out FILE [--scale smoke|quick|standard]');
}
const binary = process.env.SUPERLAB_BIN;
if (!binary) throw new Error('SUPERLAB_BIN must name the native tool (superlab)');

/**
 * The workloads: what the page runs (resolving to its run's milliseconds) and the native
 * tool's arguments for the same run into an empty folder, with where its report keeps the
 * milliseconds.
 */
function workloads(folders) {
  const checkSteps = scale.checkSteps;
  return [
    {
      id: 'device_check',
      title: `device check, a tiny MLP, ${checkSteps} Adam steps`,
      backends: ['webgpu', 'cpu'],
      page: (page) =>
        page.evaluate(async (steps) => (await window.lab.run({ steps })).elapsed_ms, checkSteps),
      native: (folder) => ({
        args: ['check', '--steps', `${checkSteps}`, '--out', path.join(folder, 'check.json')],
        report: path.join(folder, 'check.json'),
        milliseconds: (report) => report.elapsed_ms,
      }),
    },
    {
      id: 'superhf_tiny',
      title: 'one SuperHF step (sentiment preset) with the tiny Llama policy and BERT reward',
      backends: scale.superhfOnWebGpu ? ['webgpu', 'cpu'] : ['cpu'],
      prepare: openTinyModels,
      page: (page) =>
        page.evaluate(
          async (options) => (await window.lab.superhf.run(options)).report.elapsed_ms,
          { method: 'superhf', preset: 'sentiment', overrides: { steps: 1, seed: SEED }, models: LOADED },
        ),
      native: (folder) => ({
        args: ['superhf', '--preset', 'sentiment', '--steps', '1', '--seed', `${SEED}`,
          '--policy', folders.policy, '--reward-model', folders.reward,
          '--heldout-reward-model', folders.reward, '--out', folder],
        report: path.join(folder, 'report.json'),
        milliseconds: (report) => report.elapsed_ms,
      }),
    },
    {
      id: 'shearletx_tiny',
      title: 'ShearletX, 1 step with 1 noise sample, EfficientNet-Lite0, 256x256',
      // A step takes minutes on SwiftShader (tests/browser/explain.test.mjs): CPU only.
      backends: ['cpu'],
      prepare: async (page) => {
        await page.selectOption('#shx-photo', PHOTO);
        await page.waitForFunction(() => !document.getElementById('shx-classes').hidden, null, {
          timeout: 4 * SLOW,
        });
      },
      page: (page) =>
        page.evaluate(async () => {
          const overrides = { steps: 1, noise_samples: 1 };
          const [report] = await window.lab.explain.run({ methods: ['shearletx'], overrides });
          return report.timings.total_ms;
        }),
      native: (folder) => ({
        args: ['shearletx', '--image', path.join(ASSETS, 'photos', PHOTO), '--steps', '1',
          '--noise-samples', '1', '--out', folder],
        report: path.join(folder, 'report.json'),
        milliseconds: (report) => report.timings.total_ms,
      }),
    },
  ];
}

/** Warm-up runs, then timed ones, of `once` (resolving to milliseconds), in seconds. */
async function repeat(once) {
  const timings = { warmup_seconds: [], seconds: [] };
  for (let index = 0; index < scale.warmup + scale.repetitions; index += 1) {
    const seconds = (await once()) / 1e3;
    (index < scale.warmup ? timings.warmup_seconds : timings.seconds).push(seconds);
  }
  return timings;
}

function nativeRun(workload, root) {
  return repeat(async () => {
    const run = workload.native(mkdtempSync(path.join(root, `${workload.id}-`)));
    execFileSync(binary, [...run.args, '--backend', 'cpu'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, RUST_LOG: 'warn', RAYON_NUM_THREADS: '1' },
    });
    return run.milliseconds(JSON.parse(readFileSync(run.report, 'utf8')));
  });
}

/** The assets and the tiny models in one folder, served under /assets/. */
function servedAssets(root) {
  const served = path.join(root, 'assets');
  const folders = writeTinyModels(served);
  for (const entry of readdirSync(ASSETS)) symlinkSync(path.join(ASSETS, entry), path.join(served, entry));
  return { served, folders };
}

async function pageRuns(server, webgpu, list) {
  const browser = await launchBrowser({ webgpu });
  const results = {};
  try {
    for (const workload of list) {
      const backend = webgpu ? 'webgpu' : 'cpu';
      if (!workload.backends.includes(backend)) continue;
      const { page } = await openLab(browser, server.url);
      const device = await page.evaluate(() => window.lab.device());
      const expected = webgpu ? 'wgpu' : 'cpu';
      if (device?.backend !== expected) {
        throw new Error(`the page runs on ${device?.backend}, not ${expected}`);
      }
      process.stderr.write(`[browser] ${workload.id} on ${backend}\n`);
      await workload.prepare?.(page);
      results[workload.id] = await repeat(() => workload.page(page));
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return results;
}

const root = mkdtempSync(path.join(tmpdir(), 'superlab-browser-bench-'));
const { served, folders } = servedAssets(root);
const list = workloads(folders);
const server = await startServer({ assets: served });
const report = { scale: options.scale, workloads: {}, page: {}, native_cpu: {} };
try {
  for (const workload of list) report.workloads[workload.id] = workload.title;
  for (const workload of list) {
    process.stderr.write(`[browser] ${workload.id} natively\n`);
    report.native_cpu[workload.id] = await nativeRun(workload, root);
  }
  report.page.webgpu = await pageRuns(server, true, list);
  report.page.cpu = await pageRuns(server, false, list);
  const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
  report.chromium = execFileSync(chromium, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
} finally {
  server.stop();
  writeFileSync(options.out, JSON.stringify(report, null, 2));
}
