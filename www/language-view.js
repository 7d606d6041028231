// The Language model panel: choose the default policy or the model loaded in the Models panel,
// write a prompt, set the sampling, and watch the text arrive token by token; Stop ends it
// where it is, and so does any of the stop strings typed. The generated text can be scored
// with the default sentiment reward model or a reward model loaded in the Models panel. `api`
// gives scripts the same controls (window.lab.generate, window.lab.score).

import { formatBytes, formatCount } from './preflight.js';

const $ = (id) => document.getElementById(id);

/** The stop strings a user typed: comma-separated, `\n` standing for a new line. */
function stopStrings(typed) {
  return typed
    .split(',')
    .map((text) => text.trim().replaceAll('\\n', '\n'))
    .filter((text) => text.length > 0);
}

// The form's fields and the names the core's GenerationRequest gives them.
const FIELDS = [
  ['maxNewTokens', 'lm-max-new-tokens', 'max_new_tokens'],
  ['temperature', 'lm-temperature', 'temperature'],
  ['topP', 'lm-top-p', 'top_p'],
  ['topK', 'lm-top-k', 'top_k'],
  ['seed', 'lm-seed', 'seed'],
];

function summaryRows(summary) {
  const where = summary.device || 'the GPU';
  const rows = [
    ['Model', summary.name],
    ['Architecture', `${summary.architecture} (${summary.format})`],
    ['Parameters', formatCount(summary.parameters)],
    // A browser's WebGPU adapter may have no name.
    ['Weights on the device', `${formatBytes(summary.weights_bytes)} as f32 on ${where}`],
  ];
  if (summary.vocab_size !== null) {
    rows.push(['Vocabulary', `${summary.vocab_size} (tokenizer ${summary.tokenizer_vocab_size})`]);
  }
  if (summary.max_positions !== null) rows.push(['Context', `${summary.max_positions} tokens`]);
  if (summary.kind === 'language_model') {
    rows.push(['Chat template', summary.chat ? 'yes' : 'none the lab renders']);
  }
  return rows;
}

export function renderSummary(list, summary) {
  list.replaceChildren(
    ...summaryRows(summary).flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = String(value);
      return [dt, dd];
    }),
  );
}

/**
 * `lab` is the page's side: send(message), setState(state, text, options), fail(message) for
 * errors the lab cannot recover from, and busy() whether a run or task is going on.
 */
export function createLanguageView(lab) {
  let pending = null;
  let lastGeneration = null;

  function showError(message) {
    $('lm-error').textContent = message;
    $('lm-error').hidden = !message;
  }

  function setStatus(text) {
    $('lm-status').textContent = text;
  }

  function setRunning(running) {
    $('language-panel').dataset.state = running ? 'running' : 'idle';
    $('lm-stop').disabled = !running;
  }

  function start(kind, message, text) {
    if (lab.busy()) return Promise.reject(new Error('The lab is busy: wait, or stop the run.'));
    showError('');
    setRunning(true);
    setStatus(text);
    lab.setState('running', text);
    lab.send(message);
    return new Promise((resolve, reject) => {
      pending = { kind, resolve, reject };
    });
  }

  function settle(kind, value) {
    if (pending?.kind !== kind) return;
    pending.resolve(value);
    pending = null;
  }

  function request() {
    const sampling = Object.fromEntries(
      FIELDS.map(([, id, name]) => [name, Number($(id).value)]),
    );
    return {
      prompt: $('lm-prompt').value,
      chat: $('lm-chat').checked,
      stop_strings: stopStrings($('lm-stop-strings').value),
      ...sampling,
    };
  }

  /** Runs the form, after setting the fields `options` names. */
  function generate(options = {}) {
    if ('prompt' in options) $('lm-prompt').value = options.prompt;
    if ('chat' in options) $('lm-chat').checked = Boolean(options.chat);
    if ('model' in options) $('lm-source').value = options.model;
    for (const [option, id] of FIELDS) {
      if (option in options) $(id).value = options[option];
    }
    $('lm-output').textContent = '';
    $('lm-progress').value = 0;
    const source = $('lm-source').value;
    return start(
      'generate',
      { type: 'generate', source, request: request() },
      'Generating: preparing the language model…',
    );
  }

  function score(texts, { model = 'loaded' } = {}) {
    return start(
      'score',
      { type: 'score', source: model, texts },
      'Scoring with the reward model…',
    );
  }

  function build() {
    return start(
      'build',
      { type: 'model-build', kind: 'language_model', source: $('lm-source').value },
      'Building the language model…',
    );
  }

  const handlers = {
    'model-built'({ kind, summary }) {
      if (kind === 'language_model') renderSummary($('lm-summary'), summary);
      if (kind === 'reward_model') renderSummary($('lm-reward-summary'), summary);
      if (!pending || kind === 'image_classifier') return;
      if (pending.kind === 'build') {
        const text = `Done: built ${summary.name}.`;
        setRunning(false);
        setStatus(text);
        lab.setState('done', text);
        settle('build', summary);
        return;
      }
      const text = pending.kind === 'generate' ? 'Generating: compiling kernels…' : 'Scoring…';
      setStatus(text);
      lab.setState('running', text);
    },
    'generate-progress'({ step }) {
      $('lm-progress').max = step.total;
      $('lm-progress').value = step.step;
      $('lm-output').textContent = step.text;
      const text = `Generating: token ${step.step} of at most ${step.total}.`;
      setStatus(text);
      lab.setState('running', text);
    },
    generated({ generation }) {
      lastGeneration = generation;
      $('lm-output').textContent = generation.text;
      $('lm-score').disabled = false;
      const seconds = generation.elapsed_ms / 1000;
      const perSecond = generation.tokens.length / Math.max(seconds, 1e-3);
      const rate = perSecond < 1 ? perSecond.toPrecision(2) : perSecond.toFixed(1);
      const why = generation.interrupted
        ? 'stopped'
        : generation.ended
          ? 'ended by a stop token'
          : 'at the token limit';
      const text =
        `Done: ${generation.tokens.length} tokens in ${seconds.toFixed(2)} s ` +
        `(${rate} per second), ${why}.`;
      setRunning(false);
      setStatus(text);
      lab.setState('done', text);
      settle('generate', generation);
    },
    scored({ scores }) {
      setRunning(false);
      const text = `Done: ${scores.map((s) => s.toFixed(4)).join(', ')}.`;
      $('lm-score-result').textContent = `Reward: ${scores.map((s) => s.toFixed(4)).join(', ')}`;
      setStatus(text);
      lab.setState('done', text);
      settle('score', scores);
    },
    'build-progress'({ kind, path, loaded, total }) {
      if (kind !== 'language_model' || !pending) return;
      const amount = total ? ` (${formatBytes(loaded)} of ${formatBytes(total)})` : '';
      setStatus(`Fetching ${path.split('/').pop()}${amount}…`);
    },
  };

  /** A task of this panel failed; true when it was this panel's. */
  function failed({ task, message, fatal }) {
    if (!pending || !['build', 'generate', 'score'].includes(task)) return false;
    setRunning(false);
    showError(message);
    setStatus('');
    pending.reject(new Error(message));
    pending = null;
    if (fatal) lab.fail(message);
    else lab.setState('error', `Error: ${message}`, { recoverable: true });
    return true;
  }

  $('lm-form').addEventListener('submit', (event) => {
    event.preventDefault();
    generate().catch(() => {});
  });
  $('lm-stop').addEventListener('click', () => lab.send({ type: 'stop' }));
  $('lm-source').addEventListener('change', () => build().catch(() => {}));
  $('lm-score').addEventListener('click', () => {
    if (lastGeneration) {
      score([lastGeneration.text], { model: $('lm-reward-source').value }).catch(() => {});
    }
  });

  return {
    handlers,
    failed,
    /** Whether the panel's controls can be used. */
    enable(enabled) {
      for (const id of ['lm-generate', 'lm-source']) $(id).disabled = !enabled;
      $('lm-score').disabled = !enabled || lastGeneration === null;
    },
    reset() {
      pending?.reject(new Error('The lab restarted before the task finished.'));
      pending = null;
      lastGeneration = null;
      setRunning(false);
      setStatus('');
      showError('');
      $('lm-summary').replaceChildren();
    },
    api: {
      generate,
      score,
      build,
      last: () => lastGeneration,
    },
  };
}
