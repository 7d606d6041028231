// The SuperHF panel in headless Chromium on SwiftShader's WebGPU, with a tiny random Llama
// policy and a tiny BERT reward model (tiny-models.mjs) opened in the Models panel: a SuperHF
// run of the `sentiment` preset shortened to one step completes, the page's report carries
// the per-step series at the right length, and it agrees with `superlab superhf` run on the
// same files on the native CPU backend; PPO stopped after its first step keeps the finished
// steps; the adapter comes back in peft's layout and loads onto the policy again.
//
// Reference and tolerance: the native tool's report for the same preset, seed and files.
// Sampling draws the same uniforms from the seed on both backends, so the completions are the
// same text unless a draw falls within float rounding (about 1e-6) of a boundary between two
// tokens' cumulative probabilities, which these few hundred draws practically never do. The
// rewards, KL and loss are then sums of a few thousand f32 products computed in another order
// on SwiftShader (and the training step moves the adapter by a learning rate of 2e-4), so they
// agree to about 1e-5; the tolerance 1e-3 leaves room for that and none for a wrong formula.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SLOW, foreignRequests, launchBrowser, openLab, screenshot, startServer } from './harness.mjs';
import { MODEL_FILES, openTinyModels, writeTinyModels } from './tiny-models.mjs';

const TOLERANCE = 1e-3;
const SERIES = ['reward_train', 'reward_heldout', 'kl', 'meteor_similarity', 'loss'];
const STEPS = 1;
const SEED = 4;

let server;
let folders;
let reference;

function nativeSuperHf(out) {
  const binary = process.env.SUPERLAB_BIN;
  if (!binary) throw new Error('SUPERLAB_BIN is not set: run the browser tests through scripts/test');
  const args = ['superhf', '--preset', 'sentiment', '--steps', `${STEPS}`, '--seed', `${SEED}`];
  args.push('--backend', 'cpu', '--policy', folders.policy, '--reward-model', folders.reward);
  args.push('--heldout-reward-model', folders.reward, '--out', out);
  execFileSync(binary, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  return JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
}

// PPO shortened further (no native reference to match): 2 prompts x 4 completions of 8
// tokens, one epoch, for four steps that Stop cuts short.
const TINY_PPO = {
  steps: 4,
  seed: 1,
  rollout: { completions_per_prompt: 4, new_tokens: { min: 8, max: 8 } },
  ppo: { epochs: 1 },
};

const LOADED = { policy: 'loaded', reward: 'loaded', heldout: 'loaded' };

before(async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'superlab-superhf-'));
  folders = writeTinyModels(root);
  server = await startServer({ assets: root });
  reference = nativeSuperHf(path.join(root, 'native'));
});

after(() => server?.stop());

describe('the SuperHF panel with WebGPU', { timeout: 6 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ webgpu: true });
  });
  after(() => browser?.close());

  test('a SuperHF run reports its per-step series as the native tool does', async () => {
    const { page, requests, console: said } = await openLab(browser, server.url);
    const device = await page.evaluate(() => window.lab.device());
    assert.equal(device.backend, 'wgpu', said.join('\n'));
    await openTinyModels(page);
    const run = await page.evaluate(
      (options) => window.lab.superhf.run(options),
      { method: 'superhf', preset: 'sentiment', overrides: { steps: STEPS, seed: SEED }, models: LOADED },
    );
    await screenshot(page, 'superhf-run');
    const { report } = run;
    assert.equal(report.lab, 'superhf');
    assert.equal(report.status.state, 'completed', JSON.stringify(report.status));
    assert.equal(report.device.backend, 'wgpu');
    assert.equal(report.steps.length, STEPS);
    for (const name of SERIES) {
      assert.equal(report.result[name].length, STEPS, `${name} has one value per step`);
      report.result[name].forEach((value) => assert.ok(Number.isFinite(value), `${name}: ${value}`));
    }
    assert.deepEqual(report.config, reference.config);
    assert.equal(report.result.models.policy.files.length, MODEL_FILES.length);
    const digests = (identity) => identity.files.map((f) => `${f.name} ${f.sha256}`).sort();
    for (const role of ['policy', 'reward', 'heldout_reward']) {
      const ours = report.result.models[role];
      assert.deepEqual(digests(ours), digests(reference.result.models[role]), role);
    }
    assert.deepEqual(
      report.result.samples.map((sample) => sample.completion),
      reference.result.samples.map((sample) => sample.completion),
      'the same completions as the native tool',
    );
    let largest = 0;
    for (const name of SERIES) {
      report.result[name].forEach((value, i) => {
        largest = Math.max(largest, Math.abs(value - reference.result[name][i]));
      });
    }
    console.log(`largest difference from the native tool: ${largest.toExponential(3)}`);
    assert.ok(largest <= TOLERANCE, `the series differ from the native tool's by ${largest}`);
    assert.match(run.metrics_csv, /^step,/);
    assert.equal(run.metrics_csv.trim().split('\n').length, STEPS + 1);
    assert.equal(await page.locator('#hf-samples tbody tr').count() > 0, true);

    const adapter = await page.evaluate(async () => {
      const { adapter_model: weights, adapter_config: config } = await window.lab.superhf.adapter();
      await window.lab.superhf.loadAdapter(config, weights);
      return { config: JSON.parse(config), bytes: weights.length };
    });
    assert.equal(adapter.config.peft_type, 'LORA');
    assert.deepEqual(adapter.config.target_modules, ['q_proj', 'v_proj']);
    assert.ok(adapter.bytes > 0);
    assert.deepEqual(foreignRequests(requests, server.url), []);
    await page.close();
  });

  test('Stop keeps the finished PPO steps', async () => {
    const { page } = await openLab(browser, server.url);
    await openTinyModels(page);
    const run = await page.evaluate(async ({ models, overrides }) => {
      const running = window.lab.superhf.run({ method: 'ppo', preset: 'sentiment', overrides, models });
      const progress = document.getElementById('hf-progress');
      await new Promise((resolve) => {
        const poll = setInterval(() => {
          if (progress.value >= 1) {
            clearInterval(poll);
            resolve();
          }
        }, 20);
      });
      window.lab.superhf.stop();
      return running;
    }, { models: LOADED, overrides: TINY_PPO });
    const { report } = run;
    assert.equal(report.lab, 'ppo');
    assert.equal(report.status.state, 'stopped');
    const steps = report.steps.length;
    assert.ok(steps >= 1 && steps < 4, `${steps} steps`);
    for (const name of SERIES) assert.equal(report.result[name].length, steps, name);
    const runs = await page.evaluate(() => window.lab.superhf.runs().map((r) => r.label));
    assert.equal(runs.length, 1);
    assert.match(runs[0], /^PPO/);
    await page.close();
  });
});
