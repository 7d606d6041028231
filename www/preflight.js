// Whether a model fits, said plainly before anything large is downloaded: its bytes against
// the browser's free storage, its largest tensor against the biggest buffer the device binds,
// and its weights and training state against the memory the backend has, where that is known.

const KIB = 1024;
const MIB = KIB * 1024;
const GIB = MIB * 1024;

/** The lab widens every weight to f32 when it loads it (src/models/weights.rs). */
const BYTES_PER_WEIGHT = 4;
/** Fine-tuning with Adam keeps weights, gradients and two moment estimates, all in f32. */
const TRAINING_BYTES_PER_PARAMETER = 16;
/** The CPU backend keeps every tensor in 32-bit WebAssembly memory. */
export const WASM_MEMORY_BYTES = 4 * GIB;

export function formatBytes(bytes) {
  if (bytes < KIB) return `${bytes} B`;
  const [unit, size] = bytes < MIB ? ['KiB', KIB] : bytes < GIB ? ['MiB', MIB] : ['GiB', GIB];
  return `${(bytes / size).toFixed(1)} ${unit}`;
}

export function formatCount(count) {
  if (count < 1e3) return String(count);
  const [unit, size] =
    count < 1e6 ? ['thousand', 1e3] : count < 1e9 ? ['million', 1e6] : ['billion', 1e9];
  return `${(count / size).toFixed(1)} ${unit}`;
}

/**
 * The device as the preflight needs it, from the lab's device report (src/device): on WebGPU
 * { backend: 'wgpu', name, maxBufferSize, maxStorageBufferBindingSize }, else { backend: 'cpu' }.
 */
export function deviceFromReport(report) {
  const limits = report?.adapter?.limits;
  if (report?.backend !== 'wgpu' || !limits) return { backend: 'cpu' };
  return {
    backend: 'wgpu',
    name: report.adapter.name || 'WebGPU adapter',
    maxBufferSize: limits.max_buffer_size,
    maxStorageBufferBindingSize: limits.max_storage_buffer_binding_size,
  };
}

/** The same from the browser's own WebGPU adapter, for when the core has not reported yet. */
export async function probeDevice() {
  const adapter = await globalThis.navigator?.gpu?.requestAdapter().catch(() => null);
  if (!adapter) return { backend: 'cpu' };
  return {
    backend: 'wgpu',
    name: adapter.info?.description || adapter.info?.vendor || 'WebGPU adapter',
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

async function storageCheck(downloadBytes, estimate) {
  const known = estimate ?? (await globalThis.navigator?.storage?.estimate?.().catch(() => null));
  if (!known?.quota) {
    return {
      what: 'storage',
      fits: null,
      text:
        `The download is ${formatBytes(downloadBytes)}; this browser does not say how much ` +
        'it can store.',
    };
  }
  const available = Math.max(0, known.quota - (known.usage ?? 0));
  const fits = downloadBytes <= available;
  const text = fits
    ? `The download, ${formatBytes(downloadBytes)}, fits in this browser's storage ` +
      `(${formatBytes(available)} free).`
    : `The download, ${formatBytes(downloadBytes)}, does not fit in this browser's storage, ` +
      `which has ${formatBytes(available)} free: delete kept models you no longer need, or ` +
      'free disk space.';
  return { what: 'storage', fits, text, available };
}

function parametersLine({ parameters, exact, dtypes }) {
  const kinds = Object.keys(dtypes);
  const stored = kinds.length ? ` stored as ${kinds.join(', ')}` : '';
  const how = exact ? "counted from the weights' headers" : 'estimated from the file sizes as f32';
  return {
    what: 'parameters',
    fits: null,
    text: `${formatCount(parameters)} parameters${stored}, ${how}.`,
  };
}

function tensorCheck(largest, device) {
  if (!largest) {
    return {
      what: 'tensor',
      fits: null,
      text: 'The largest tensor is known only once the checkpoint is read.',
    };
  }
  const gpu = device.backend === 'wgpu';
  const limit = gpu
    ? Math.min(device.maxBufferSize, device.maxStorageBufferBindingSize)
    : WASM_MEMORY_BYTES;
  const holder = gpu
    ? `the GPU (${device.name}) binds per buffer`
    : "the CPU backend's WebAssembly memory holds";
  const bytes = largest.elements * BYTES_PER_WEIGHT;
  const fits = bytes <= limit;
  const shape = largest.shape.join(' × ');
  const size = formatBytes(bytes);
  const tensor = `The largest tensor, ${largest.name} [${shape}], takes ${size} as f32`;
  const text = fits
    ? `${tensor}, within the ${formatBytes(limit)} ${holder}.`
    : `${tensor}, more than the ${formatBytes(limit)} ${holder}: the model cannot run on this ` +
      'device.';
  return { what: 'tensor', fits, text, bytes, limit };
}

function memoryChecks(parameters, device) {
  const weights = parameters * BYTES_PER_WEIGHT;
  const training = parameters * TRAINING_BYTES_PER_PARAMETER;
  const trainingState =
    `fine-tuning with Adam needs about ${formatBytes(training)} (weights, gradients and two ` +
    'moments) plus activations';
  if (device.backend === 'wgpu') {
    return [
      {
        what: 'memory',
        fits: null,
        text:
          `As f32 the weights take ${formatBytes(weights)}, and ${trainingState}; WebGPU does ` +
          'not say how much memory the GPU has, so make sure it has that much free.',
      },
    ];
  }
  const memory = `the ${formatBytes(WASM_MEMORY_BYTES)} of WebAssembly memory the CPU backend has`;
  const inference = weights <= WASM_MEMORY_BYTES;
  const trainable = training <= WASM_MEMORY_BYTES;
  return [
    {
      what: 'memory',
      fits: inference,
      text: inference
        ? `As f32 the weights take ${formatBytes(weights)}, within ${memory}.`
        : `As f32 the weights take ${formatBytes(weights)}, more than ${memory}: the model ` +
          'cannot run on the CPU.',
    },
    {
      what: 'training',
      fits: trainable,
      text:
        `${trainingState[0].toUpperCase()}${trainingState.slice(1)}: ` +
        (trainable
          ? `within ${memory}.`
          : `more than ${memory}, so it can be evaluated here but not fine-tuned.`),
    },
  ];
}

/**
 * Judges a model against this browser and device.
 *
 * `weights` is summariseTensors' result ({ parameters, exact, dtypes, largest });
 * `downloadBytes` is null when nothing is to be downloaded. `estimate` ({ quota, usage }) and
 * `device` (see deviceFromReport) default to navigator.storage.estimate() and the CPU.
 *
 * Returns { fits, trainable, checks: [{ what, fits, text }], statement, parameters,
 * largestTensor, downloadBytes, availableBytes, weightsBytes, trainingBytes }. `fits` is false
 * when storage, the largest tensor or (on the CPU) the weights do not fit; fine-tuning memory
 * only sets `trainable`. A check's `fits` is null where the browser does not tell.
 */
export async function judge(
  { downloadBytes = null, weights },
  { estimate, device = { backend: 'cpu' } } = {},
) {
  const checks = [];
  if (downloadBytes !== null) checks.push(await storageCheck(downloadBytes, estimate));
  checks.push(parametersLine(weights));
  const tensor = tensorCheck(weights.largest, device);
  checks.push(tensor, ...memoryChecks(weights.parameters, device));
  const blocking = checks.filter((check) => check.what !== 'training');
  const fits = blocking.every((check) => check.fits !== false);
  const trainable = checks.find((check) => check.what === 'training')?.fits ?? null;
  const verdict = fits ? 'It fits.' : 'It does not fit.';
  const failures = checks.filter((check) => check.fits === false && check.what !== 'training');
  return {
    fits,
    trainable,
    checks: checks.map(({ what, fits: ok, text }) => ({ what, fits: ok, text })),
    statement: [verdict, ...(fits ? checks : failures).map((check) => check.text)].join(' '),
    parameters: weights.parameters,
    parametersExact: weights.exact,
    largestTensor: weights.largest,
    downloadBytes,
    availableBytes: checks.find((check) => check.what === 'storage')?.available ?? null,
    weightsBytes: weights.parameters * BYTES_PER_WEIGHT,
    trainingBytes: weights.parameters * TRAINING_BYTES_PER_PARAMETER,
  };
}
