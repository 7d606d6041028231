// The SuperHF panel: choose a method (SuperHF, PPO, best-of-N), a preset and the models, change
// any of the method's settings, and watch the training reward, the held-out reward, the KL to
// the reference, METEOR similarity and the loss step by step, with every finished run of the
// session overlaid; the latest step's samples in a table; the report, metrics, charts and the
// trained LoRA adapter for download, and an adapter loaded back. `api` gives scripts the same
// controls (window.lab.superhf).

import uPlot from './vendor/uplot/uPlot.esm.js';

const $ = (id) => document.getElementById(id);

const METHODS = { superhf: 'SuperHF', ppo: 'PPO', 'best-of-n': 'Best-of-N' };

// The charts: the report's series each draws; a dashed line for the second.
const CHARTS = [
  { id: 'hf-chart-reward', title: 'Reward (solid: training, dashed: held-out)',
    series: ['reward_train', 'reward_heldout'] },
  { id: 'hf-chart-kl', title: 'KL(reference || policy)', series: ['kl'] },
  { id: 'hf-chart-meteor', title: 'METEOR similarity across prompts', series: ['meteor_similarity'] },
  { id: 'hf-chart-loss', title: 'Loss', series: ['loss'] },
];
const SERIES = CHARTS.flatMap((chart) => chart.series);
const COLOURS = ['#2f6fdd', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#1098ad', '#5c940d', '#e67700'];

// Steps are whole numbers: the x axis ticks at these spacings only.
const STEP_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

// Settings that are not knobs: the preset's name and its prompt set.
const NOT_KNOBS = new Set(['preset', 'prompts']);
const GROUPS = { rollout: 'Sampling', fine_tuning: 'Fine-tuning', ppo: 'PPO' };

/** The leaves of a configuration as [path, value], in order. */
function leaves(config, prefix = '') {
  return Object.entries(config).flatMap(([name, value]) => {
    const path = `${prefix}${name}`;
    if (!prefix && NOT_KNOBS.has(name)) return [];
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return leaves(value, `${path}.`);
    }
    return [[path, value]];
  });
}

function setPath(target, path, value) {
  const parts = path.split('.');
  let at = target;
  for (const part of parts.slice(0, -1)) at = at[part] ??= {};
  at[parts.at(-1)] = value;
}

const escapeList = (list) => list.map((item) => item.replaceAll('\n', '\\n')).join(', ');
const parseList = (text) =>
  text
    .split(',')
    .map((item) => item.trim().replaceAll('\\n', '\n'))
    .filter((item) => item.length > 0);

function knobInput(path, value) {
  const id = `hf-knob-${path.replaceAll('.', '-').replaceAll('_', '-')}`;
  let input;
  if (path === 'fine_tuning.kind') {
    input = document.createElement('select');
    for (const kind of ['lora', 'full']) input.add(new Option(kind === 'lora' ? 'LoRA' : 'full', kind));
    input.value = value;
  } else if (typeof value === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = value;
  } else if (Array.isArray(value)) {
    input = document.createElement('input');
    input.type = 'text';
    input.size = 14;
    input.value = escapeList(value);
    input.placeholder = 'default';
  } else {
    input = document.createElement('input');
    input.type = 'number';
    input.step = 'any';
    input.value = value;
  }
  input.id = id;
  input.dataset.path = path;
  const label = document.createElement('label');
  const words = path.split('.');
  if (GROUPS[words[0]]) words.shift();
  label.append(`${words.join(' ').replaceAll('_', ' ')} `, input);
  return label;
}

function knobValue(input) {
  if (input.type === 'checkbox') return input.checked;
  if (input.type === 'text') return parseList(input.value);
  if (input.tagName === 'SELECT') return input.value;
  return Number(input.value);
}

function download(name, data, type) {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

/** The run's key settings but its seed: runs that share them are seeds of one experiment. */
function describeRun(method, config) {
  const settings =
    method === 'superhf'
      ? `KL ${config.kl_coefficient}, lr ${config.learning_rate}`
      : method === 'ppo'
        ? `KL ${config.ppo.kl_coefficient}${config.ppo.adaptive_kl ? ' adaptive' : ''}, ` +
          `lr ${config.ppo.learning_rate}`
        : `N ${config.rollout.completions_per_prompt}`;
  const tuning = config.fine_tuning?.kind === 'full' ? ', full' : '';
  return `${METHODS[method]} (${settings}${tuning}`;
}

/** Per step, the least and greatest value over `runs` of a series (null where none has one). */
function spread(runs, name, length) {
  const at = (step) => runs.map((run) => run.series[name][step]).filter((v) => v !== null && v !== undefined);
  const bound = (pick) => Array.from({ length }, (_, step) => (at(step).length ? pick(...at(step)) : null));
  return [bound(Math.min), bound(Math.max)];
}

/** `lab` is the page's side, as the other panels have it. */
export function createSuperHfView(lab) {
  let presets = null;
  let presetsAsked = false;
  let pending = null;
  // Every run of the session: {label, method, colour, series, report, files}.
  const runs = [];
  let current = null;
  let charts = [];

  const showError = (message) => {
    $('hf-error').textContent = message;
    $('hf-error').hidden = !message;
  };
  const setStatus = (text) => {
    $('hf-status').textContent = text;
  };
  const setRunning = (running) => {
    $('superhf-panel').dataset.state = running ? 'running' : 'idle';
    $('hf-stop').disabled = !running;
  };

  function methodConfig(method = $('hf-method').value, preset = $('hf-preset').value) {
    return presets?.[preset]?.[method] ?? null;
  }

  function renderKnobs() {
    const config = methodConfig();
    const box = $('hf-knobs');
    box.replaceChildren();
    if (!config) return;
    const groups = new Map();
    for (const [path, value] of leaves(config)) {
      const top = path.includes('.') ? path.split('.')[0] : null;
      const group = GROUPS[top] ?? (['steps', 'seed'].includes(path) ? 'Run' : METHODS[$('hf-method').value]);
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(knobInput(path, value));
    }
    for (const [title, inputs] of groups) {
      const fieldset = document.createElement('fieldset');
      const legend = document.createElement('legend');
      legend.textContent = title;
      fieldset.append(legend, ...inputs);
      fieldset.className = 'controls';
      box.append(fieldset);
    }
  }

  /** The settings the knobs give, in the method's configuration's shape. */
  function overridesFromKnobs() {
    const overrides = {};
    for (const input of $('hf-knobs').querySelectorAll('[data-path]')) {
      setPath(overrides, input.dataset.path, knobValue(input));
    }
    if (overrides.fine_tuning?.kind === 'full') overrides.fine_tuning = { kind: 'full' };
    return overrides;
  }

  // --- charts ---

  function chartData(spec) {
    const shown = current ? [...runs, current] : runs;
    const length = Math.max(1, ...shown.map((run) => run.series.reward_train.length));
    const x = Array.from({ length }, (_, i) => i + 1);
    const data = [x];
    const series = [{ label: 'step' }];
    const bands = [];
    // Seeds of one experiment: the band between their least and greatest values.
    const experiments = Map.groupBy(runs, (run) => run.settings);
    for (const [settings, seeds] of experiments) {
      if (seeds.length < 2) continue;
      for (const name of spec.series) {
        const [low, high] = spread(seeds, name, length);
        data.push(low, high);
        const label = `${settings}, ${seeds.length} seeds)`;
        series.push({ label: `${label} least`, stroke: seeds[0].colour, width: 0 });
        series.push({ label: `${label} greatest`, stroke: seeds[0].colour, width: 0 });
        bands.push({ series: [series.length - 1, series.length - 2], fill: `${seeds[0].colour}33` });
      }
    }
    for (const run of shown) {
      spec.series.forEach((name, i) => {
        const values = run.series[name];
        data.push(x.map((_, step) => values[step] ?? null));
        series.push({
          label: `${run.label}${spec.series.length > 1 ? (i ? ' held-out' : ' training') : ''}`,
          stroke: run.colour,
          width: 2,
          dash: i ? [6, 4] : undefined,
          spanGaps: true,
        });
      });
    }
    return { data, series, bands };
  }

  function drawCharts() {
    charts.forEach((chart) => chart.destroy());
    const width = Math.max(320, Math.min(880, $('hf-charts').clientWidth || 880));
    charts = CHARTS.map((spec) => {
      const { data, series, bands } = chartData(spec);
      const options = {
        title: spec.title,
        width,
        height: 200,
        series,
        bands,
        scales: { x: { time: false } },
        axes: [{ label: 'step', incrs: STEP_TICKS }, {}],
        legend: { live: false },
      };
      return new uPlot(options, data, $(spec.id));
    });
  }

  function updateCharts() {
    charts.forEach((chart, i) => chart.setData(chartData(CHARTS[i]).data));
  }

  // --- samples ---

  function showSamples(samples) {
    const body = $('hf-samples').tBodies[0];
    body.replaceChildren();
    for (const sample of samples) {
      const row = body.insertRow();
      row.insertCell().textContent = sample.step;
      row.insertCell().textContent = sample.prompt;
      row.insertCell().textContent = sample.completion;
      row.insertCell().textContent = sample.reward_train.toFixed(3);
      row.insertCell().textContent = sample.reward_heldout?.toFixed(3) ?? '';
      row.insertCell().textContent = sample.kept ? 'yes' : '';
    }
    $('hf-samples').hidden = samples.length === 0;
  }

  // --- runs ---

  function models() {
    return {
      policy: $('hf-policy').value,
      reward: $('hf-reward').value,
      heldout: $('hf-heldout').value,
    };
  }

  /** Runs a method; `options` may set method, preset, overrides (else the knobs') and models. */
  function run(options = {}) {
    if (!presets) return Promise.reject(new Error('The lab is not ready yet.'));
    if (lab.busy()) return Promise.reject(new Error('The lab is busy: wait, or stop the run.'));
    if (options.method) $('hf-method').value = options.method;
    if (options.preset) $('hf-preset').value = options.preset;
    if (options.method || options.preset) renderKnobs();
    for (const [role, source] of Object.entries(options.models ?? {})) {
      $(`hf-${role}`).value = source;
    }
    const method = $('hf-method').value;
    const preset = $('hf-preset').value;
    const overrides = options.overrides ?? overridesFromKnobs();
    const colour = COLOURS[runs.length % COLOURS.length];
    current = {
      label: `${METHODS[method]} (running)`,
      method,
      colour,
      series: Object.fromEntries(SERIES.map((name) => [name, []])),
    };
    drawCharts();
    showError('');
    showSamples([]);
    setRunning(true);
    const text = `${METHODS[method]}: preparing the models…`;
    setStatus(text);
    lab.setState('running', text);
    lab.send({ type: 'hf-run', request: { method, preset, overrides }, models: models() });
    return new Promise((resolve, reject) => {
      pending = { kind: 'run', resolve, reject };
    });
  }

  function enableExports() {
    $('hf-exports').querySelectorAll('button').forEach((button) => {
      button.disabled = runs.length === 0;
    });
    $('hf-export-adapter').disabled = !runs.at(-1)?.files.adapter;
  }

  function finish(text, state = 'done') {
    setRunning(false);
    setStatus(text);
    lab.setState(state, text, { recoverable: true });
    enableExports();
  }

  function settle(value) {
    pending?.resolve(value);
    pending = null;
  }

  const handlers = {
    'hf-presets'({ presets: given }) {
      presets = given;
      renderKnobs();
      drawCharts();
      $('hf-run').disabled = lab.busy();
    },
    'hf-progress'({ step }) {
      for (const name of SERIES) current.series[name].push(step.metrics[name] ?? null);
      updateCharts();
      showSamples(step.samples ?? []);
      $('hf-progress').max = step.total;
      $('hf-progress').value = step.step;
      const metric = (name, digits = 3) => step.metrics[name]?.toFixed(digits) ?? '–';
      const text =
        `${METHODS[current.method]}: step ${step.step} of ${step.total}; reward ` +
        `${metric('reward_train')}, held-out ${metric('reward_heldout')}, KL ${metric('kl', 4)}, ` +
        `METEOR ${metric('meteor_similarity')}.`;
      setStatus(text);
      lab.setState('running', text);
    },
    'hf-done'({ run: files }) {
      const { report } = files;
      const result = report.result ?? {};
      const settings = describeRun(current.method, report.config);
      const finished = {
        label: `${settings}, seed ${report.config.seed})`,
        settings,
        method: current.method,
        colour: current.colour,
        series: Object.fromEntries(SERIES.map((name) => [name, result[name] ?? []])),
        report,
        files,
      };
      runs.push(finished);
      current = null;
      drawCharts();
      showSamples((result.samples ?? []).filter((s) => s.step === report.steps.length));
      const seconds = (report.elapsed_ms / 1000).toFixed(1);
      const steps = report.steps.length;
      const { state, message } = report.status;
      if (state === 'failed') {
        const error =
          `The run failed at step ${steps + 1}: ${message} Its ${steps} finished ` +
          'steps are kept: in the charts and in the exports.';
        showError(error);
        finish(`Error: ${error}`, 'error');
      } else {
        finish(`Done: ${finished.label}, ${steps} steps ${state} in ${seconds} s.`);
      }
      settle(files);
    },
    'hf-adapter'({ adapter }) {
      const base = `superlab-${runs.at(-1).method}`;
      download(`${base}-adapter_model.safetensors`, adapter.adapter_model, 'application/octet-stream');
      download(`${base}-adapter_config.json`, adapter.adapter_config, 'application/json');
      if (adapter.value_head) {
        download(`${base}-value_head.safetensors`, adapter.value_head, 'application/octet-stream');
      }
      finish('Done: the adapter is downloaded.');
      settle(adapter);
    },
    'hf-adapter-loaded'() {
      finish('Done: the adapter is loaded onto the language model; the next run trains it on.');
      settle(true);
    },
    'model-built'({ kind, summary }) {
      if (!pending) return;
      setStatus(`Built ${summary.name} as the ${kind.replaceAll('_', ' ')}…`);
    },
    'build-progress'({ path, loaded, total }) {
      if (!pending) return;
      const share = total ? ` (${Math.round((100 * loaded) / total)}%)` : '';
      setStatus(`Fetching ${path.split('/').pop()}${share}…`);
    },
  };

  /** A task of this panel failed; true when it was this panel's. */
  function failed({ task, message, fatal }) {
    if (task !== 'hf' || !pending) return false;
    showError(message);
    if (current) {
      current = null;
      drawCharts();
    }
    pending.reject(new Error(message));
    pending = null;
    setRunning(false);
    setStatus('');
    if (fatal) lab.fail(message);
    else lab.setState('error', `Error: ${message}`, { recoverable: true });
    return true;
  }

  function latest() {
    return runs.at(-1);
  }

  function exportPng() {
    const canvases = CHARTS.map((spec) => $(spec.id).querySelector('canvas')).filter(Boolean);
    const legend = runs.map((run) => run.label);
    const lineHeight = 18;
    const width = Math.max(...canvases.map((canvas) => canvas.width));
    const height =
      canvases.reduce((sum, canvas) => sum + canvas.height + 24, 0) + lineHeight * legend.length + 8;
    const sheet = document.createElement('canvas');
    sheet.width = width;
    sheet.height = height;
    const context = sheet.getContext('2d');
    context.fillStyle = 'white';
    context.fillRect(0, 0, width, height);
    context.font = '14px system-ui, sans-serif';
    let y = 4;
    runs.forEach((run) => {
      context.fillStyle = run.colour;
      context.fillText(run.label, 8, (y += lineHeight));
    });
    canvases.forEach((canvas, i) => {
      context.fillStyle = '#1d232b';
      context.fillText(CHARTS[i].title, 8, (y += 22));
      context.drawImage(canvas, 0, y + 2);
      y += canvas.height + 2;
    });
    sheet.toBlob((blob) => download('superlab-alignment-charts.png', blob));
  }

  function requestAdapter() {
    if (lab.busy()) return Promise.reject(new Error('The lab is busy: wait, or stop the run.'));
    lab.send({ type: 'hf-adapter' });
    return new Promise((resolve, reject) => {
      pending = { kind: 'adapter', resolve, reject };
    });
  }

  /** Loads an adapter (adapter_config.json's text, adapter_model.safetensors' bytes). */
  function loadAdapter(config, weights) {
    if (lab.busy()) return Promise.reject(new Error('The lab is busy: wait, or stop the run.'));
    showError('');
    lab.send({ type: 'hf-load-adapter', config, weights });
    return new Promise((resolve, reject) => {
      pending = { kind: 'load-adapter', resolve, reject };
    });
  }

  async function loadAdapterFiles(files) {
    const config = [...files].find((file) => file.name.endsWith('.json'));
    const weights = [...files].find((file) => file.name.endsWith('.safetensors'));
    if (!config || !weights) {
      showError('Choose both files of the adapter: adapter_config.json and adapter_model.safetensors.');
      return;
    }
    const bytes = new Uint8Array(await weights.arrayBuffer());
    await loadAdapter(await config.text(), bytes).catch(() => {});
  }

  $('hf-form').addEventListener('submit', (event) => {
    event.preventDefault();
    run().catch(() => {});
  });
  $('hf-method').addEventListener('change', renderKnobs);
  $('hf-preset').addEventListener('change', renderKnobs);
  $('hf-stop').addEventListener('click', () => lab.send({ type: 'stop' }));
  $('hf-clear').addEventListener('click', () => {
    runs.length = 0;
    drawCharts();
    enableExports();
  });
  $('hf-export-report').addEventListener('click', () => {
    const run = latest();
    download(`superlab-${run.method}-report.json`, JSON.stringify(run.report, null, 2), 'application/json');
  });
  $('hf-export-csv').addEventListener('click', () => {
    const run = latest();
    download(`superlab-${run.method}-metrics.csv`, run.files.metrics_csv, 'text/csv');
  });
  $('hf-export-samples').addEventListener('click', () => {
    const run = latest();
    download(`superlab-${run.method}-samples.jsonl`, run.files.samples_jsonl, 'application/jsonl');
  });
  $('hf-export-png').addEventListener('click', exportPng);
  $('hf-export-adapter').addEventListener('click', () => requestAdapter().catch(() => {}));
  $('hf-adapter-files').addEventListener('change', (event) => loadAdapterFiles(event.target.files));

  return {
    handlers,
    failed,
    enable(enabled) {
      if (enabled && !presets && !presetsAsked) {
        presetsAsked = true;
        lab.send({ type: 'hf-presets' });
      }
      $('hf-run').disabled = !enabled || !presets;
      $('hf-adapter-files').disabled = !enabled;
    },
    reset() {
      pending?.reject(new Error('The lab restarted before the task finished.'));
      pending = null;
      current = null;
      presets = null;
      presetsAsked = false;
      setRunning(false);
      setStatus('');
      showError('');
    },
    api: {
      run,
      stop: () => lab.send({ type: 'stop' }),
      runs: () => runs.map(({ label, method, report, files }) => ({ label, method, report, files })),
      presets: () => presets,
      adapter: requestAdapter,
      loadAdapter,
    },
  };
}
