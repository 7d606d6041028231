// Shared set-up of the browser tests: the lab served on loopback, Debian's Chromium driven by
// playwright-core, the native tool as the CPU reference, and screenshots kept as artifacts.

import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SLOW = 180_000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return value;
}

/**
 * Serves www/ on a free loopback port; resolves to { url, stop }. `withoutCore` serves the page
 * even when www/pkg is not built, for tests that stand in for the WebAssembly core; `assets`
 * is a folder to serve under /assets/, as scripts/serve serves the asset cache.
 */
export function startServer({ withoutCore = false, assets = null } = {}) {
  const flags = ['--port', '0', '--quiet', ...(withoutCore ? ['--without-core'] : [])];
  if (assets) flags.push('--assets', assets);
  const server = spawn('python3', [path.join(ROOT, 'scripts/serve.py'), ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    server.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    server.stdout.on('data', (chunk) => {
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(chunk.toString());
      if (match) resolve({ url: match[0], stop: () => server.kill() });
    });
  });
}

/** Chromium with or without its software WebGPU adapter, closed off from the network. */
export function launchBrowser({ webgpu }) {
  const args = [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/**
 * Opens the lab and waits until it leaves the loading state. Every request the page makes is
 * recorded, so a test can check that nothing left the served origin.
 */
export async function openLab(browser, url, query = '') {
  const page = await browser.newPage();
  const requests = [];
  const console = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => console.push(`pageerror: ${error.message}`));
  await page.goto(`${url}${query}`);
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, {
    timeout: SLOW,
  });
  return { page, requests, console };
}

/** Runs the device check in the page and returns its report. */
export function runCheck(page, config) {
  return page.evaluate((config) => window.lab.run(config), config);
}

/** The same check through the native tool on the CPU backend: the reference numbers. */
export function nativeCheck(steps) {
  const folder = mkdtempSync(path.join(tmpdir(), 'superlab-'));
  const out = path.join(folder, 'check.json');
  execFileSync(required('SUPERLAB_BIN'), ['check', '--backend', 'cpu', '--steps', `${steps}`, '--out', out], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  return JSON.parse(readFileSync(out, 'utf8'));
}

/** The largest absolute difference between two check results, over every number in them. */
export function largestDifference(ours, reference) {
  const pairs = [[ours.losses, reference.losses]];
  for (const group of ['first_gradients', 'final_parameters']) {
    for (const name of Object.keys(reference[group])) {
      pairs.push([ours[group][name], reference[group][name]]);
    }
  }
  let largest = 0;
  for (const [a, b] of pairs) {
    if (!a || a.length !== b.length) return Infinity;
    a.forEach((value, i) => {
      largest = Math.max(largest, Math.abs(value - b[i]));
    });
  }
  return largest;
}

export async function screenshot(page, name) {
  const folder = required('SUPERLAB_ARTIFACTS');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The requests that went anywhere but the served origin. */
export function foreignRequests(requests, url) {
  const origin = new URL(url).origin;
  return requests.filter((request) => !request.startsWith(origin) && !request.startsWith('blob:'));
}
