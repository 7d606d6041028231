// The page: starts the worker, sends it commands, and shows what comes back. The state in
// document.body.dataset.state (loading, ready, running, done, error) is for people and for
// automation alike; window.lab gives scripts the same controls as the buttons.

import { renderDevice } from './device-view.js';
import { createModelsView } from './models-view.js';

const $ = (id) => document.getElementById(id);

let worker = null;
let device = null;
let lastReport = null;
let pendingRun = null;
const models = createModelsView((message) => worker.postMessage(message));

function setState(state, text) {
  document.body.dataset.state = state;
  $('status').textContent = text;
  const busy = state === 'running' || state === 'loading';
  $('run').disabled = busy || state === 'error';
  $('stop').disabled = state !== 'running';
  $('backend').disabled = state === 'running';
  $('download').disabled = lastReport === null;
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
};

function startWorker(backend) {
  worker?.terminate();
  device = null;
  $('error-panel').hidden = true;
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => (handlers[data.type] ?? models.handlers[data.type])(data);
  worker.onerror = (event) => fail(`the lab's worker failed to start: ${event.message ?? ''}`);
  setState('loading', 'Starting the device…');
  worker.postMessage({ type: 'init', backend });
  models.reset();
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
};

startWorker($('backend').value);
