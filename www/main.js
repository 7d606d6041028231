// The page: starts the worker, sends it commands, and shows what comes back. The state in
// document.body.dataset.state (loading, ready, running, done, error) is for people and for
// automation alike; window.lab gives scripts the same controls as the buttons.

import { createClassifyView } from './classify-view.js';
import { renderDevice } from './device-view.js';
import { createExplainView } from './explain-view.js';
import { createLanguageView } from './language-view.js';
import { createModelsView } from './models-view.js';
import { createSuperHfView } from './superhf-view.js';

const $ = (id) => document.getElementById(id);

let worker = null;
let device = null;
let lastReport = null;
let pendingRun = null;
const send = (message) => worker.postMessage(message);
const models = createModelsView(send);
// The model panels' side of the page; a failed task leaves the lab usable (`recoverable`).
const panelLab = {
  send,
  setState: (...args) => setState(...args),
  fail: (message) => fail(message),
  busy: () => ['running', 'loading'].includes(document.body.dataset.state),
};
const language = createLanguageView(panelLab);
const classify = createClassifyView(panelLab);
const explain = createExplainView(panelLab);
const superhf = createSuperHfView(panelLab);
const views = [language, classify, models, explain, superhf];

function setState(state, text, { recoverable = false } = {}) {
  document.body.dataset.state = state;
  $('status').textContent = text;
  const busy = state === 'running' || state === 'loading';
  const stuck = state === 'error' && !recoverable;
  $('run').disabled = busy || stuck;
  $('stop').disabled = state !== 'running';
  $('backend').disabled = state === 'running';
  $('download').disabled = lastReport === null;
  language.enable(!busy && !stuck);
  classify.enable(!busy && !stuck);
  explain.enable(!busy && !stuck);
  superhf.enable(!busy && !stuck);
}

function fail(message) {
  $('error-message').textContent = message;
  $('error-panel').hidden = false;
  setState('error', `Error: ${message}`);
  pendingRun?.reject(new Error(message));
  pendingRun = null;
}

const handlers = {
  device({ report }) {
    device = report;
    renderDevice(report, $('device-facts'), $('fallback'));
    const where = report.backend === 'wgpu' ? `WebGPU (${report.description})` : 'the CPU';
    setState('ready', `Ready: computing on ${where}.`);
  },
  progress({ step }) {
    $('progress').max = step.total;
    $('progress').value = step.step;
    const row = $('steps-table').tBodies[0].insertRow();
    row.insertCell().textContent = step.step;
    row.insertCell().textContent = step.metrics.loss.toPrecision(7);
    setState('running', `Running: step ${step.step} of ${step.total}.`);
  },
  done({ report }) {
    lastReport = report;
    const { state, message } = report.status;
    if (state === 'failed') {
      fail(`${message} The steps finished before it are kept in the report.`);
    } else {
      const seconds = (report.elapsed_ms / 1000).toFixed(2);
      setState('done', `Done: ${report.steps.length} steps ${state} in ${seconds} s.`);
    }
    pendingRun?.resolve(report);
    pendingRun = null;
  },
  error({ message }) {
    fail(message);
  },
  'task-error'(error) {
    if (![language, classify, explain, superhf].some((view) => view.failed(error))) {
      fail(error.message);
    }
  },
};

function route(data) {
  if (handlers[data.type]) return handlers[data.type](data);
  for (const view of views) view.handlers[data.type]?.(data);
}

function startWorker(backend) {
  worker?.terminate();
  device = null;
  $('error-panel').hidden = true;
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => route(data);
  worker.onerror = (event) => fail(`the lab's worker failed to start: ${event.message ?? ''}`);
  setState('loading', 'Starting the device…');
  worker.postMessage({ type: 'init', backend });
  views.forEach((view) => view.reset());
}

function run(config = {}) {
  if (document.body.dataset.state === 'running') {
    return Promise.reject(new Error('a run is already in progress'));
  }
  $('steps-table').tBodies[0].replaceChildren();
  $('progress').value = 0;
  setState('running', 'Running: compiling kernels…');
  worker.postMessage({ type: 'run', config: { steps: Number($('steps').value), ...config } });
  return new Promise((resolve, reject) => {
    pendingRun = { resolve, reject };
  });
}

function downloadReport() {
  const blob = new Blob([JSON.stringify(lastReport, null, 2)], { type: 'application/json' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `superlab-${lastReport.lab}-report.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

const initialBackend = new URLSearchParams(location.search).get('backend') ?? 'auto';
$('backend').value = ['auto', 'wgpu', 'cpu'].includes(initialBackend) ? initialBackend : 'auto';
$('backend').addEventListener('change', () => startWorker($('backend').value));
$('run').addEventListener('click', () => run().catch(() => {}));
$('stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
$('download').addEventListener('click', downloadReport);
$('restart').addEventListener('click', () => startWorker($('backend').value));

window.lab = {
  state: () => document.body.dataset.state,
  device: () => device,
  report: () => lastReport,
  run,
  stop: () => worker.postMessage({ type: 'stop' }),
  restart: (backend = $('backend').value) => startWorker(backend),
  simulateDeviceLoss: () => worker.postMessage({ type: 'lose-device' }),
  models: models.api,
  generate: language.api.generate,
  score: language.api.score,
  buildLanguageModel: language.api.build,
  classify: classify.api.classify,
  explain: explain.api,
  superhf: superhf.api,
};

startWorker($('backend').value);
