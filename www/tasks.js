// The worker's model tasks: building a model in the core, from the defaults served under
// /assets/ or from the model loaded in the Models panel, then generating text, classifying an
// image and scoring texts with it.
//
// Commands in:  {type: 'model-build', kind, source}, {type: 'generate', source, request},
//               {type: 'classify', source, bytes, k}, {type: 'score', source, texts}
// Messages out: {type: 'build-progress', kind, path, loaded, total},
//               {type: 'model-built', kind, source, summary},
//               {type: 'generate-progress', step}, {type: 'generated', generation},
//               {type: 'classified', ranked}, {type: 'scored', scores},
//               {type: 'task-error', task, message, fatal}
//
// `kind` is 'language_model', 'reward_model' or 'image_classifier'; `source` is 'default' or
// 'loaded'. The core keeps one model of each kind; a task builds it first when the core holds
// another (or none).

// A namespace import, so that a stand-in core without these exports still starts the worker.
import * as core from './pkg/superlab.js';

const WORDS = {
  language_model: 'language model',
  reward_model: 'reward model',
  image_classifier: 'image classifier',
};

// How often a download reports its progress.
const PROGRESS_BYTES = 1 << 20;

const article = (kind) => `${kind === 'image_classifier' ? 'an' : 'a'} ${WORDS[kind]}`;

async function fetchAsset(asset, onProgress) {
  const response = await fetch(`/assets/${asset}`);
  if (!response.ok) {
    throw new Error(
      `The default model's file ${asset} is not served here (HTTP ${response.status}): serve ` +
        'the lab with scripts/serve, which fetches the default models.',
    );
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  let reported = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    if (loaded - reported >= PROGRESS_BYTES) {
      onProgress(loaded, total);
      reported = loaded;
    }
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  onProgress(loaded, loaded);
  return bytes;
}

export function createTasks({ post, loadedModel, goOn, resetStop, describe }) {
  // What each of the core's models was built from: 'default', or the Models panel's model.
  const built = new Map();

  async function defaultFiles(kind) {
    const entry = core.defaultModels().find((candidate) => candidate.kind === kind);
    if (!entry) {
      throw new Error(
        `The lab has no default ${WORDS[kind]} yet: load one in the Models panel and choose it.`,
      );
    }
    const files = new Map();
    for (const { asset, name } of entry.files) {
      const onProgress = (loaded, total) =>
        post({ type: 'build-progress', kind, path: asset, loaded, total });
      files.set(name, await fetchAsset(asset, onProgress));
    }
    for (const [name, bytes] of core.defaultBuiltInFiles(entry.name)) files.set(name, bytes);
    return files;
  }

  // The summary of the model of `kind` from `source`, built now unless the core holds it.
  async function ensure(kind, source) {
    const model = loadedModel();
    if (source === 'loaded' && !model) {
      throw new Error(
        `No model is loaded in the Models panel: load a ${WORDS[kind]} there first, or ` +
          'choose the default.',
      );
    }
    const from = source === 'loaded' ? model : 'default';
    const current = built.get(kind);
    if (current?.from === from) return current.summary;
    if (source === 'loaded') {
      const holds = core.modelKind(model.files);
      if (holds !== kind) {
        throw new Error(
          `The model loaded in the Models panel, ${model.id}, is ${article(holds)}, not ` +
            `${article(kind)}.`,
        );
      }
    }
    const files = source === 'loaded' ? model.files : await defaultFiles(kind);
    // The core releases its model of this kind before building the new one.
    built.delete(kind);
    const summary = core.buildModel(kind, files);
    built.set(kind, { from, summary });
    post({ type: 'model-built', kind, source, summary });
    return summary;
  }

  // A failed task leaves the lab working unless the core itself failed (`fatal`).
  async function task(name, action) {
    try {
      await action();
    } catch (error) {
      post({ ...describe(error), type: 'task-error', task: name });
    }
  }

  const commands = {
    'model-build'({ kind, source }) {
      return task('build', () => ensure(kind, source));
    },
    generate({ source = 'default', request }) {
      return task('generate', async () => {
        await ensure('language_model', source);
        resetStop();
        const generation = await core.generateText(request, (step) => {
          post({ type: 'generate-progress', step });
          return goOn();
        });
        post({ type: 'generated', generation });
      });
    },
    classify({ source = 'default', bytes, k = 5 }) {
      return task('classify', async () => {
        await ensure('image_classifier', source);
        post({ type: 'classified', ranked: await core.classifyImage(bytes, k) });
      });
    },
    score({ source = 'loaded', texts }) {
      return task('score', async () => {
        await ensure('reward_model', source);
        post({ type: 'scored', scores: await core.scoreTexts(texts) });
      });
    },
  };

  return { commands };
}
