// The ShearletX panel: a photo (packaged, chosen, dropped or pasted) is prepared as the methods
// take it (the shorter side resized to 256 pixels, the centre square taken), the classifier's
// top five classes on that input are shown, and the chosen methods explain the chosen class
// one after the other, with their progress, side by side with their scores. Every report is
// what `superlab shearletx` writes as report.json; the images are its PNG files.
//
// `api` is window.lab.explain: prepare(image, {name, model}), run({methods, overrides, target,
// model}), reports(), methods().

import { acceptDrops, bytesOf } from './image-input.js';

const $ = (id) => document.getElementById(id);
const TOP = 5;
// Photos the asset cache holds (scripts/assets.py fetches them; scripts/serve serves them).
const PACKAGED_PHOTOS = [
  'chelsea.png',
  'coffee.png',
  'astronaut.png',
  'rocket.jpg',
  'motorcycle_left.png',
  'retina.jpg',
  'camera.png',
];
// The knobs of the form, by the names the core's overrides use, and how each is read.
const KNOBS = {
  steps: ['shx-steps', Number],
  noise_samples: ['shx-noise-samples', Number],
  lambda1: ['shx-lambda1', Number],
  lambda2: ['shx-lambda2', Number],
  learning_rate: ['shx-learning-rate', Number],
  seed: ['shx-seed', Number],
  variant: ['shx-variant', String],
};
const SCORES = [
  ['retained_probability', 'Retained probability'],
  ['cp_l1', 'CP-L1'],
  ['cp_l1_pixel', 'CP-L1-pixel'],
  ['cp_entropy', 'CP-Entropy'],
  ['hallucination_score', 'Hallucination'],
];

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function download(blob, name) {
  const link = element('a', { href: URL.createObjectURL(blob), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

const show = (value, digits = 4) => (value == null ? '–' : Number(value).toFixed(digits));

/** `lab` as for createLanguageView. */
export function createExplainView(lab) {
  let pending = null;
  let photo = null;
  let methodList = null;
  let results = [];
  let stopAll = false;
  const urls = new Set();

  function objectUrl(bytes, type = 'image/png') {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    urls.add(url);
    return url;
  }

  function setStatus(text, state = 'running') {
    $('shx-status').textContent = text;
    if (state) lab.setState(state, text);
  }

  function showError(message) {
    $('shx-error').textContent = message;
    $('shx-error').hidden = !message;
  }

  // One worker task at a time: resolves with the message named `answer`.
  function ask(message, answer) {
    if (pending) return Promise.reject(new Error('The ShearletX panel is busy.'));
    return new Promise((resolve, reject) => {
      pending = { answer, resolve, reject };
      lab.send(message);
    });
  }

  function settle(type, data) {
    if (pending?.answer !== type) return;
    const { resolve } = pending;
    pending = null;
    resolve(data);
  }

  async function methods() {
    methodList ??= (await ask({ type: 'shx-methods' }, 'shx-methods')).methods;
    return methodList;
  }

  function renderPhoto(original, { photo: summary, preview }) {
    const { info, crop } = summary;
    $('shx-original').src = objectUrl(original, '');
    $('shx-original').hidden = false;
    const [left, top, width, height] = crop.source_region;
    const [uprightWidth, uprightHeight] = crop.upright;
    Object.assign($('shx-crop-box').style, {
      left: `${(100 * left) / uprightWidth}%`,
      top: `${(100 * top) / uprightHeight}%`,
      width: `${(100 * width) / uprightWidth}%`,
      height: `${(100 * height) / uprightHeight}%`,
    });
    $('shx-preview').src = objectUrl(preview);
    const resized = crop.resized.join('x');
    const resizing =
      crop.resized[0] === crop.upright[0] && crop.resized[1] === crop.upright[1]
        ? 'not resized'
        : `resized to ${resized} (${crop.resampling})`;
    $('shx-crop').textContent =
      `${summary.name}: ${info.format.toUpperCase()}, ${info.width}x${info.height} ${info.colour}` +
      `${info.orientation === 'none' ? '' : `, turned upright (${info.orientation})`}; ` +
      `${resizing}, then the centre ${crop.size}x${crop.size} from (${crop.offset.join(', ')}).`;
    $('shx-input').hidden = false;
    renderClasses(summary);
  }

  function renderClasses({ ranked, classes }) {
    const rows = ranked.map(({ class: index, name, probability }, i) => {
      const radio = element('input', { type: 'radio', name: 'shx-target', value: index });
      radio.checked = i === 0;
      radio.addEventListener('change', () => {
        $('shx-class').value = index;
      });
      return element('tr', {}, [
        element('td', {}, [radio]),
        element('td', { textContent: index }),
        element('td', { className: 'name', textContent: name }),
        element('td', { textContent: `${(100 * probability).toFixed(2)} %` }),
      ]);
    });
    $('shx-classes').tBodies[0].replaceChildren(...rows);
    $('shx-classes').hidden = ranked.length === 0;
    $('shx-class').max = classes - 1;
    $('shx-class').value = ranked[0]?.class ?? '';
  }

  function clearResults() {
    results = [];
    $('shx-results').replaceChildren();
    updateButtons();
  }

  /** Prepares an image (Uint8Array, ArrayBuffer or Blob) and ranks its classes. */
  async function prepare(image, { name = image?.name ?? 'photo', model } = {}) {
    if (lab.busy()) throw new Error('The lab is busy: wait, or stop the run.');
    const bytes = await bytesOf(image);
    showError('');
    const source = model ?? $('shx-source').value;
    setStatus('Preparing the photo and the classifier…');
    try {
      const prepared = await ask(
        { type: 'shx-prepare', source, name, bytes, k: TOP },
        'shx-prepared',
      );
      photo = prepared.photo;
      clearResults();
      renderPhoto(bytes, prepared);
      const top = photo.ranked[0];
      setStatus(
        `Ready to explain: most probably ${top.name} (${(100 * top.probability).toFixed(1)} %).`,
        'done',
      );
      return photo;
    } finally {
      updateButtons();
    }
  }

  function formOverrides() {
    const overrides = {};
    for (const [name, [id, read]] of Object.entries(KNOBS)) {
      const text = $(id).value.trim();
      if (text !== '') overrides[name] = read(text);
    }
    return overrides;
  }

  function checkedMethods() {
    return [...document.querySelectorAll('#shx-methods input[type=checkbox]:checked')].map(
      (box) => box.value,
    );
  }

  /**
   * Explains the prepared photo with each method in turn; the settings a method lacks are left
   * out for it. Resolves with the reports; a Stop ends the current method and skips the rest.
   */
  async function run({
    methods: chosen = checkedMethods(),
    overrides = formOverrides(),
    target,
    model,
  } = {}) {
    if (lab.busy()) throw new Error('The lab is busy: wait, or stop the run.');
    if (!photo) throw new Error('Choose a photo first.');
    if (chosen.length === 0) throw new Error('Choose at least one method.');
    const classText = String(target ?? $('shx-class').value).trim();
    const targetClass = classText === '' ? undefined : Number(classText);
    const source = model ?? $('shx-source').value;
    const known = await methods();
    stopAll = false;
    showError('');
    const reports = [];
    $('shx-stop').disabled = false;
    try {
      for (const method of chosen) {
        if (stopAll) break;
        const entry = known.find((candidate) => candidate.method === method);
        if (!entry) throw new Error(`Unknown method ${method}.`);
        const own = Object.fromEntries(
          Object.entries(overrides).filter(([name]) => entry.settings.includes(name)),
        );
        if (targetClass !== undefined) own.target_class = targetClass;
        setStatus(`${method}: starting (building the representation, compiling kernels)…`);
        $('shx-progress').value = 0;
        const explained = await ask(
          { type: 'shx-explain', source, method, overrides: own },
          'shx-explained',
        );
        reports.push(explained.report);
        addResult(explained);
        if (explained.report.status.state === 'stopped') stopAll = true;
      }
      const last = reports.at(-1);
      const failed = reports.find((report) => report.status.state === 'failed');
      if (failed) {
        showError(`${failed.method}: ${failed.status.message}`);
        setStatus(`${failed.method} failed; its finished steps are kept.`, 'error');
      } else {
        const how = last?.status.state === 'stopped' ? 'stopped' : 'done';
        setStatus(`Explained (${how}): ${reports.map((r) => r.method).join(', ')}.`, 'done');
      }
      return reports;
    } finally {
      $('shx-stop').disabled = true;
      updateButtons();
    }
  }

  function image(images, name) {
    return images.find((entry) => entry.name === name)?.bytes;
  }

  function addResult({ report, images }) {
    const result = { report, images };
    results.push(result);
    $('shx-results').append(card(result));
    updateButtons();
  }

  function card({ report, images }) {
    const explanation = image(images, 'explanation.png');
    const mask = image(images, 'mask.png');
    const figures = [];
    if (explanation) {
      figures.push(
        element('img', {
          className: 'shx-explanation',
          src: objectUrl(explanation),
          alt: `${report.method}'s explanation`,
        }),
      );
    }
    if (mask) {
      figures.push(
        element('img', {
          className: 'shx-mask',
          src: objectUrl(mask),
          alt: `${report.method}'s mask, band groups side by side`,
        }),
      );
    }
    const rows = [
      ['Class', `${report.class_index} ${report.class_name ?? ''}`],
      ['Class probability', show(report.class_probability)],
      ...SCORES.map(([key, title]) => [title, show(report[key])]),
      ['Steps', `${report.timings.steps} (${report.status.state})`],
      ['Time', `${(report.timings.total_ms / 1000).toFixed(1)} s`],
    ];
    const table = element(
      'table',
      { className: 'shx-metrics' },
      rows.map(([term, value]) =>
        element('tr', {}, [
          element('th', { textContent: term }),
          element('td', { textContent: value }),
        ]),
      ),
    );
    const buttons = element('div', { className: 'controls' }, [
      button('PNG', () => saveImage(explanation, `${report.method}-explanation.png`)),
      button('Mask PNG', () => saveImage(mask, `${report.method}-mask.png`)),
      button('JSON', () => download(json(report), `${report.method}-report.json`)),
    ]);
    const article = element('article', { className: 'shx-card' }, [
      element('h3', { textContent: report.method }),
      ...figures,
      table,
      buttons,
    ]);
    article.dataset.method = report.method;
    return article;
  }

  function saveImage(bytes, name) {
    if (bytes) download(new Blob([bytes], { type: 'image/png' }), name);
  }

  function button(text, action) {
    const node = element('button', { type: 'button', textContent: text });
    node.addEventListener('click', action);
    return node;
  }

  const json = (value) =>
    new Blob([JSON.stringify(value, null, 2)], { type: 'application/json' });

  // The explanations side by side with their method and retained probability, as one PNG.
  async function composite() {
    const shown = results.filter(({ images }) => image(images, 'explanation.png'));
    const bitmaps = await Promise.all(
      shown.map(({ images }) => createImageBitmap(new Blob([image(images, 'explanation.png')]))),
    );
    const gap = 8;
    const caption = 40;
    const width = bitmaps.reduce((sum, bitmap) => sum + bitmap.width + gap, gap);
    const height = Math.max(...bitmaps.map((bitmap) => bitmap.height)) + caption + 2 * gap;
    const canvas = element('canvas', { width, height });
    const context = canvas.getContext('2d');
    context.fillStyle = '#fff';
    context.fillRect(0, 0, width, height);
    context.fillStyle = '#000';
    context.font = '14px sans-serif';
    let left = gap;
    bitmaps.forEach((bitmap, i) => {
      const { report } = shown[i];
      context.drawImage(bitmap, left, gap);
      const below = gap + bitmap.height + 16;
      context.fillText(report.method, left, below);
      context.fillText(`retained ${show(report.retained_probability, 3)}`, left, below + 18);
      left += bitmap.width + gap;
    });
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  }

  function updateButtons() {
    const idle = !lab.busy() && !pending;
    $('shx-run').disabled = !idle || !photo;
    $('shx-export-json').disabled = results.length === 0;
    $('shx-export-png').disabled = results.length === 0;
  }

  const handlers = {
    'shx-methods'(data) {
      settle('shx-methods', data);
    },
    'shx-prepared'(data) {
      settle('shx-prepared', data);
    },
    'shx-explained'(data) {
      settle('shx-explained', data);
    },
    'shx-progress'({ method, step }) {
      $('shx-progress').max = step.total;
      $('shx-progress').value = step.step;
      const terms = Object.entries(step.metrics)
        .filter(([name]) => name !== 'retained')
        .map(([name, value]) => `${name} ${show(value)}`);
      const { retained } = step.metrics;
      const kept = retained == null ? '' : `; retained probability ${show(retained)}`;
      setStatus(`${method}: step ${step.step} of ${step.total}: ${terms.join(', ')}${kept}`);
    },
    'build-progress'({ kind, path, loaded, total }) {
      if (kind !== 'image_classifier' || !pending) return;
      const percent = Math.round((100 * loaded) / (total || loaded || 1));
      $('shx-status').textContent = `Fetching ${path.split('/').pop()} (${percent} %)…`;
    },
  };

  function failed({ task, message, fatal }) {
    if (!task?.startsWith('shx-') || !pending) return false;
    const { reject } = pending;
    pending = null;
    stopAll = true;
    showError(message);
    $('shx-status').textContent = '';
    reject(new Error(message));
    if (fatal) lab.fail(message);
    else lab.setState('error', `Error: ${message}`, { recoverable: true });
    updateButtons();
    return true;
  }

  function takeFile(file) {
    if (file) prepare(file, { name: file.name }).catch(() => {});
  }

  async function takePackaged(name) {
    const response = await fetch(`/assets/photos/${name}`);
    if (!response.ok) {
      throw new Error(
        `The packaged photo ${name} is not served here (HTTP ${response.status}): serve the ` +
          'lab with scripts/serve, which fetches the packaged photos.',
      );
    }
    return prepare(await response.blob(), { name });
  }

  const photoOptions = PACKAGED_PHOTOS.map((name) =>
    element('option', { value: name, textContent: name }),
  );
  $('shx-photo').append(...photoOptions);
  $('shx-photo').addEventListener('change', (event) => {
    const name = event.target.value;
    if (!name) return;
    takePackaged(name).catch((error) => {
      if (!$('shx-error').textContent) showError(error.message);
    });
  });
  $('shx-file').addEventListener('change', (event) => {
    takeFile(event.target.files[0]);
    event.target.value = '';
  });
  acceptDrops($('shx-drop'), takeFile);
  // A pasted image goes to this panel, unless the paste is into a text field.
  document.addEventListener('paste', (event) => {
    if (event.target.closest?.('input, textarea')) return;
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      event.preventDefault();
      takeFile(file);
    }
  });
  $('shx-original').addEventListener('error', () => {
    // Browsers show no TIFF; the prepared input below is what counts.
    $('shx-original').hidden = true;
  });
  $('shx-all').addEventListener('click', () => {
    document.querySelectorAll('#shx-methods input[type=checkbox]').forEach((box) => {
      box.checked = true;
    });
  });
  $('shx-run').addEventListener('click', () =>
    run().catch((error) => {
      if (!$('shx-error').textContent) showError(error.message);
    }),
  );
  $('shx-stop').addEventListener('click', () => {
    stopAll = true;
    lab.send({ type: 'stop' });
  });
  $('shx-export-json').addEventListener('click', () =>
    download(json(results.map(({ report }) => report)), 'shearletx-reports.json'),
  );
  $('shx-export-png').addEventListener('click', async () =>
    download(await composite(), 'shearletx-comparison.png'),
  );

  return {
    handlers,
    failed,
    enable(enabled) {
      $('shx-file').disabled = !enabled;
      $('shx-photo').disabled = !enabled;
      updateButtons();
    },
    reset() {
      pending?.reject(new Error('The lab restarted before the task finished.'));
      pending = null;
      photo = null;
      methodList = null;
      urls.forEach((url) => URL.revokeObjectURL(url));
      urls.clear();
      clearResults();
      showError('');
      $('shx-status').textContent = '';
      $('shx-input').hidden = true;
      $('shx-classes').hidden = true;
    },
    api: {
      prepare,
      run,
      methods,
      reports: () => results.map(({ report }) => report),
      composite,
    },
  };
}
