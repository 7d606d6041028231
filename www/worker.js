// The worker owns the WebAssembly core: the page sends it commands and it answers with
// structured messages ({type: 'device' | 'progress' | 'done' | 'error', ...}). It also loads
// models through the model store and keeps their files for the core: the model commands answer
// with {type: 'model-plan' | 'model-progress' | 'model-loaded' | 'model-error' | 'model-cache'}.
// The core builds models from those files or from the defaults (tasks.js), and the tasks
// (generate, classify, score) answer with their own messages.

import init, {
  initDevice,
  lastPanic,
  runCheck,
  simulateDeviceLoss,
} from './pkg/superlab.js';
import { createSuperHfTasks } from './superhf-tasks.js';
import { createTasks } from './tasks.js';
import { createExplainTasks } from './explain-tasks.js';
import {
  deleteCached,
  describeModel,
  deviceFromReport,
  listCached,
  loadFromFiles,
  loadFromHub,
  probeDevice,
  storageEstimate,
} from './model-store.js';

const wasmReady = init();
let stopRequested = false;
let deviceReport = null;
// The model last loaded (model-store.js's result): the core builds from `model.files`.
let model = null;
let modelLoad = null;

const post = (message) => self.postMessage(message);

// A macrotask boundary between steps, so a Stop message can be handled mid-run.
const channel = new MessageChannel();
function yieldToEvents() {
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

async function probeAdapter() {
  if (!('gpu' in navigator)) {
    return { info: null, reason: 'this browser exposes no WebGPU (navigator.gpu is missing)' };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      return { info: null, reason: 'the browser offers WebGPU but no adapter for this page' };
    }
    const info = adapter.info ?? {};
    return {
      info: {
        vendor: info.vendor ?? '',
        architecture: info.architecture ?? '',
        description: info.description ?? '',
        isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      },
      reason: '',
    };
  } catch (error) {
    return { info: null, reason: `requesting a WebGPU adapter failed: ${error.message}` };
  }
}

async function reportStep(step) {
  post({ type: 'progress', step });
  await yieldToEvents();
  return !stopRequested;
}

// The answer to each step's progress: whether to go on, after a Stop message could land.
async function goOn() {
  await yieldToEvents();
  return !stopRequested;
}
function resetStop() {
  stopRequested = false;
}
const loadedModel = () => model;
const tasks = createTasks({ post, loadedModel, goOn, resetStop, describe });
const explainTasks = createExplainTasks({ post, tasks, loadedModel, goOn, resetStop });
const superhf = createSuperHfTasks({ post, tasks, loadedModel, goOn, resetStop });

const commands = {
  async init({ backend }) {
    await wasmReady;
    const { info, reason } = backend === 'cpu' ? { info: null, reason: '' } : await probeAdapter();
    deviceReport = await initDevice(backend, info, reason);
    post({ type: 'device', report: deviceReport });
  },
  async run({ config }) {
    stopRequested = false;
    post({ type: 'done', report: await runCheck(config, reportStep) });
  },
  stop() {
    stopRequested = true;
  },
  'lose-device'() {
    simulateDeviceLoss();
  },
  'model-load'({ id, revision, update, force }) {
    return loadModel((options) => loadFromHub(id, { revision, update, force, ...options }));
  },
  'model-open'({ files, force }) {
    return loadModel((options) => loadFromFiles(files, { force, ...options }));
  },
  'model-cancel'() {
    modelLoad?.abort();
  },
  'model-list'() {
    return modelCommand('cache', postCachedModels);
  },
  'model-delete'({ id, commit }) {
    return modelCommand('cache', async () => {
      await deleteCached(id, commit);
      await postCachedModels();
    });
  },
  ...tasks.commands,
  ...superhf.commands,
  ...explainTasks.commands,
};

async function postCachedModels() {
  post({ type: 'model-cache', models: await listCached(), storage: await storageEstimate() });
}

// `about` tells a failed load ('load') from a failed look at the kept models ('cache').
function modelError(about, code, message, preflight = null) {
  return { type: 'model-error', about, code, message, preflight };
}

// A model that cannot be loaded leaves the lab working: its errors have their own message.
async function modelCommand(about, action) {
  try {
    await action();
  } catch (error) {
    post(modelError(about, error.code ?? 'internal', error.message, error.preflight));
  }
}

// One load at a time, cancellable with model-cancel; the kept list is sent again afterwards.
async function loadModel(load) {
  if (modelLoad) {
    post(modelError('load', 'busy', 'A model is loading already: wait for it, or cancel it.'));
    return;
  }
  modelLoad = new AbortController();
  const options = {
    signal: modelLoad.signal,
    onProgress: (progress) => post({ type: 'model-progress', ...progress }),
    onPlan: (plan, preflight) => post({ type: 'model-plan', plan, preflight }),
  };
  await modelCommand('load', async () => {
    options.device = deviceReport ? deviceFromReport(deviceReport) : await probeDevice();
    model = await load(options);
    post({ type: 'model-loaded', model: describeModel(model) });
  });
  modelLoad = null;
  await modelCommand('cache', postCachedModels);
}

// A trapped WebAssembly instance cannot be used again: the page must start a new worker.
function describe(error) {
  const trapped = error instanceof WebAssembly.RuntimeError;
  let panic = null;
  try {
    panic = lastPanic();
  } catch {
    // The instance is gone; the error itself is all there is.
  }
  const message = panic ? `internal error: ${panic}` : (error?.message ?? String(error));
  return { type: 'error', message, fatal: trapped || Boolean(panic) };
}

self.onmessage = async ({ data }) => {
  const command = commands[data.type];
  if (!command) {
    post({ type: 'error', message: `unknown command '${data.type}'`, fatal: false });
    return;
  }
  try {
    await command(data);
  } catch (error) {
    post(describe(error));
  }
};
