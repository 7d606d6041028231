// The Models panel: a hub id to load, files to open or drop, a progress bar per file, what
// fits on this device, the models kept in this browser, and errors in plain words. It talks to
// the worker through `send` with the model commands, and main.js routes the worker's model
// messages to `handlers`. `api` gives scripts the same controls (window.lab.models).

import { formatBytes } from './preflight.js';

const $ = (id) => document.getElementById(id);
const MARKS = { true: '✓', false: '✗', null: '·' };

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function renderPreflight(check) {
  const list = $('model-preflight');
  list.hidden = !check;
  if (!check) return list.replaceChildren();
  const verdict = element('p', {
    className: check.fits ? 'verdict fits' : 'verdict does-not-fit',
    textContent: check.fits ? 'It fits.' : 'It does not fit.',
  });
  const items = check.checks.map((item) =>
    element('li', { className: `fits-${item.fits}` }, [
      element('span', { className: 'mark', textContent: MARKS[item.fits] }),
      ` ${item.text}`,
    ]),
  );
  list.replaceChildren(verdict, element('ul', {}, items));
}

function describeSource(model) {
  const at = model.commit ? ` at ${model.commit.slice(0, 10)}` : '';
  const where = {
    hub: 'downloaded from the hub',
    cache: 'from this browser',
    local: 'from your files',
  }[model.source];
  return `${model.id}${at}, ${model.format}, ${formatBytes(model.totalBytes)}, ${where}.`;
}

export function createModelsView(send) {
  let pending = null;
  let lastRequest = null;
  let current = null;
  let cached = [];
  const listWaiters = [];
  const bars = new Map();

  function setStatus(text) {
    $('model-status').textContent = text;
  }

  function setBusy(busy) {
    $('hub-load').disabled = busy;
    $('model-files').disabled = busy;
    $('hub-cancel').disabled = !busy;
  }

  function showError(message) {
    $('model-error').textContent = message;
    $('model-error').hidden = !message;
  }

  function bar(path) {
    if (!bars.has(path)) {
      const progress = element('progress', { max: 1, value: 0 });
      const amount = element('span', { className: 'amount' });
      const item = element('li', {}, [
        element('span', { className: 'name', textContent: path }),
        progress,
        amount,
      ]);
      item.dataset.path = path;
      $('model-progress').append(item);
      bars.set(path, { item, progress, amount });
    }
    return bars.get(path);
  }

  function start(message) {
    if (pending) {
      return Promise.reject(new Error('A model is loading already: wait for it, or cancel it.'));
    }
    lastRequest = message;
    bars.clear();
    $('model-progress').replaceChildren();
    renderPreflight(null);
    showError('');
    $('model-force').hidden = true;
    $('models-panel').dataset.state = 'loading';
    setBusy(true);
    setStatus(
      message.type === 'model-load'
        ? `Looking up ${message.id} on the hub…`
        : 'Reading your files…',
    );
    send(message);
    return new Promise((resolve, reject) => {
      pending = { resolve, reject };
    });
  }

  function finish(state) {
    $('models-panel').dataset.state = state;
    setBusy(false);
  }

  function renderCache(models, storage) {
    cached = models;
    const rows = models.map((model) => {
      const load = element('button', { type: 'button', textContent: 'Load' });
      load.addEventListener('click', () =>
        loadHub(model.id, { revision: model.commit }).catch(() => {}),
      );
      const remove = element('button', {
        type: 'button',
        className: 'delete',
        textContent: 'Delete',
      });
      remove.addEventListener('click', () =>
        send({ type: 'model-delete', id: model.id, commit: model.commit }),
      );
      const row = element('tr', {}, [
        element('td', { textContent: model.id }),
        element('td', { textContent: model.revisions.join(', ') || '—' }),
        element('td', { className: 'commit', textContent: model.commit.slice(0, 10) }),
        element('td', { textContent: formatBytes(model.totalBytes) }),
        element('td', {}, [load, ' ', remove]),
      ]);
      row.dataset.id = model.id;
      row.dataset.commit = model.commit;
      return row;
    });
    $('model-cache').tBodies[0].replaceChildren(...rows);
    $('model-cache').hidden = models.length === 0;
    const total = models.reduce((sum, model) => sum + model.totalBytes, 0);
    const room = storage?.quota
      ? ` This site may use ${formatBytes(storage.quota - storage.usage)} more.`
      : '';
    $('model-storage').textContent = models.length
      ? `${models.length} kept, ${formatBytes(total)} in all.${room}`
      : `No models are kept in this browser yet.${room}`;
  }

  const handlers = {
    'model-plan'({ plan, preflight }) {
      renderPreflight(preflight);
      setStatus(
        `Downloading ${plan.id} at ${plan.commit.slice(0, 10)}: ${plan.files.length} files, ` +
          `${formatBytes(plan.totalBytes)}.`,
      );
      // A sharded checkpoint's index arrives before the plan; the bars follow the plan's order.
      $('model-progress').append(...plan.files.map((file) => bar(file.path).item));
    },
    'model-progress'({ path, loaded, total }) {
      const { progress, amount } = bar(path);
      progress.max = total || 1;
      progress.value = total ? loaded : 1;
      amount.textContent = `${formatBytes(loaded)} of ${formatBytes(total)}`;
    },
    'model-loaded'({ model }) {
      current = model;
      renderPreflight(model.preflight);
      const kept = model.cacheError ? ` It was not kept: ${model.cacheError}` : '';
      setStatus(`Loaded ${describeSource(model)}${kept}`);
      finish('loaded');
      pending?.resolve(model);
      pending = null;
    },
    'model-error'({ about, message, code, preflight }) {
      if (about === 'cache') {
        showError(message);
        listWaiters.splice(0).forEach((resolve) => resolve(cached));
        return;
      }
      const tooLarge = code === 'does-not-fit';
      // What does not fit is listed just above; the error only says what to do about it.
      showError(
        tooLarge
          ? 'Not loaded, because of what does not fit above. "Load anyway" tries regardless.'
          : message,
      );
      if (preflight) renderPreflight(preflight);
      if (tooLarge) {
        bars.clear();
        $('model-progress').replaceChildren();
      }
      $('model-force').hidden = !tooLarge;
      if (!pending) return;
      setStatus(code === 'aborted' ? 'Cancelled.' : 'Not loaded.');
      finish('error');
      pending.reject(Object.assign(new Error(message), { code }));
      pending = null;
    },
    'model-cache'({ models, storage }) {
      renderCache(models, storage);
      listWaiters.splice(0).forEach((resolve) => resolve(models));
    },
  };

  function loadHub(id = $('hub-id').value, options = {}) {
    const {
      revision = $('hub-revision').value.trim() || 'main',
      update = $('hub-update').checked,
      force = false,
    } = options;
    return start({ type: 'model-load', id, revision, update, force });
  }

  function openFiles(files, { force = false } = {}) {
    return start({ type: 'model-open', files: Array.from(files), force });
  }

  function list() {
    send({ type: 'model-list' });
    return new Promise((resolve) => listWaiters.push(resolve));
  }

  $('hub-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadHub().catch(() => {});
  });
  $('hub-cancel').addEventListener('click', () => send({ type: 'model-cancel' }));
  $('model-force').addEventListener('click', () => {
    const request = { ...lastRequest, force: true };
    (request.type === 'model-load'
      ? loadHub(request.id, request)
      : openFiles(request.files, request)
    ).catch(() => {});
  });
  $('model-files').addEventListener('change', (event) => {
    if (event.target.files.length) openFiles(event.target.files).catch(() => {});
    event.target.value = '';
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (event.dataTransfer?.files.length) openFiles(event.dataTransfer.files).catch(() => {});
  });

  return {
    handlers,
    /** A new worker holds no model: forget the last one and ask for the kept list again. */
    reset() {
      pending?.reject(new Error('The lab restarted before the model finished loading.'));
      pending = null;
      current = null;
      finish('idle');
      setStatus('');
      list();
    },
    api: {
      load: loadHub,
      open: openFiles,
      cancel: () => send({ type: 'model-cancel' }),
      list,
      delete: (id, commit) => {
        send({ type: 'model-delete', id, commit });
        return new Promise((resolve) => listWaiters.push(resolve));
      },
      current: () => current,
      cached: () => cached,
    },
  };
}
