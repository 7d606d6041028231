// The worker owns the WebAssembly core: the page sends it commands and it answers with
// structured messages ({type: 'device' | 'progress' | 'done' | 'error', ...}).

import init, {
  initDevice,
  lastPanic,
  runCheck,
  simulateDeviceLoss,
} from './pkg/superlab.js';

const wasmReady = init();
let stopRequested = false;

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

const commands = {
  async init({ backend }) {
    await wasmReady;
    const { info, reason } = backend === 'cpu' ? { info: null, reason: '' } : await probeAdapter();
    post({ type: 'device', report: await initDevice(backend, info, reason) });
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
};

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
