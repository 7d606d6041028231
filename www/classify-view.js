// The Image classifier panel: drop or choose a photo and see the five classes the default
// classifier (EfficientNet-Lite0 on ImageNet) finds most probable. The photo never leaves the
// page; the core decodes it. `api.classify(bytes)` is window.lab.classify.

import { acceptDrops, bytesOf } from './image-input.js';
import { renderSummary } from './language-view.js';

const $ = (id) => document.getElementById(id);
const TOP = 5;

function element(tag, properties = {}) {
  return Object.assign(document.createElement(tag), properties);
}

/** `lab` as for createLanguageView. */
export function createClassifyView(lab) {
  let pending = null;
  let lastRanked = null;
  let preview = null;

  function setStatus(text) {
    $('classify-status').textContent = text;
  }

  function showError(message) {
    $('classify-error').textContent = message;
    $('classify-error').hidden = !message;
  }

  function showPreview(bytes) {
    if (preview) URL.revokeObjectURL(preview);
    preview = URL.createObjectURL(new Blob([bytes]));
    $('image-preview').src = preview;
    $('image-preview').hidden = false;
  }

  function render(ranked) {
    const rows = ranked.map(({ class: index, name, probability }) => {
      const row = element('tr');
      row.append(
        element('td', { textContent: index }),
        element('td', { className: 'name', textContent: name }),
        element('td', { textContent: `${(100 * probability).toFixed(2)} %` }),
      );
      return row;
    });
    $('classify-table').tBodies[0].replaceChildren(...rows);
    $('classify-table').hidden = ranked.length === 0;
  }

  /** Classifies an image: a Uint8Array, an ArrayBuffer or a Blob of an encoded image. */
  async function classify(image, { k = TOP, model = 'default' } = {}) {
    if (lab.busy()) throw new Error('The lab is busy: wait, or stop the run.');
    const bytes = await bytesOf(image);
    showError('');
    render([]);
    showPreview(bytes);
    const text = 'Classifying: preparing the classifier…';
    setStatus(text);
    lab.setState('running', text);
    lab.send({ type: 'classify', source: model, bytes, k });
    return new Promise((resolve, reject) => {
      pending = { resolve, reject };
    });
  }

  const handlers = {
    'model-built'({ kind, summary }) {
      if (kind !== 'image_classifier') return;
      renderSummary($('classify-summary'), summary);
      if (!pending) return;
      const text = 'Classifying…';
      setStatus(text);
      lab.setState('running', text);
    },
    'build-progress'({ kind, path, loaded, total }) {
      if (kind !== 'image_classifier' || !pending) return;
      const percent = Math.round((100 * loaded) / (total || loaded || 1));
      setStatus(`Fetching ${path.split('/').pop()} (${percent} %)…`);
    },
    classified({ ranked }) {
      lastRanked = ranked;
      render(ranked);
      const top = ranked[0];
      const text = top
        ? `Done: most probably ${top.name} (${(100 * top.probability).toFixed(1)} %).`
        : 'Done.';
      setStatus(text);
      lab.setState('done', text);
      pending?.resolve(ranked);
      pending = null;
    },
  };

  function failed({ task, message, fatal }) {
    if (!pending || task !== 'classify') return false;
    // A file the core cannot decode is no picture either.
    $('image-preview').hidden = true;
    showError(message);
    setStatus('');
    pending.reject(new Error(message));
    pending = null;
    if (fatal) lab.fail(message);
    else lab.setState('error', `Error: ${message}`, { recoverable: true });
    return true;
  }

  function classifyFile(file) {
    if (file) classify(file).catch(() => {});
  }

  $('image-file').addEventListener('change', (event) => {
    classifyFile(event.target.files[0]);
    event.target.value = '';
  });
  acceptDrops($('image-drop'), classifyFile);

  return {
    handlers,
    failed,
    enable(enabled) {
      $('image-file').disabled = !enabled;
    },
    reset() {
      pending?.reject(new Error('The lab restarted before the task finished.'));
      pending = null;
      lastRanked = null;
      setStatus('');
      showError('');
      render([]);
      $('classify-summary').replaceChildren();
    },
    api: {
      classify,
      last: () => lastRanked,
    },
  };
}
