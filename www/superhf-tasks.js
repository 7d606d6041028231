// The worker's side of the SuperHF lab: builds a run's models (the policy and the training
// reward model as the other tasks build them, and a held-out reward model of the lab's own),
// runs SuperHF, PPO or best-of-N in the core with a message after every step, and hands out
// the adapter the last run trained or loads one back onto the policy.
//
// Commands in:  {type: 'hf-run', request: {method, preset, overrides}, models: {policy,
//               reward, heldout}}, {type: 'hf-adapter'}, {type: 'hf-load-adapter', config,
//               weights}
// Messages out: {type: 'hf-progress', step} (its metrics and samples), {type: 'hf-done', run}
//               ({report, metrics_csv, samples_jsonl, adapter}), {type: 'hf-adapter',
//               adapter}, {type: 'hf-adapter-loaded'}, and the tasks' model-built,
//               build-progress and task-error (task 'hf').
//
// A model's source is 'default' or 'loaded' (the Models panel's model); the held-out reward
// model's may also be 'none'. 'loaded' keeps a model the core built from the Models panel
// earlier while the panel now holds a model of another kind, so a run can pair a loaded
// policy with a loaded reward model.

import * as core from './pkg/superlab.js';
import { modelId } from './tasks.js';

export function createSuperHfTasks({ post, tasks, loadedModel, goOn, resetStop }) {
  // The held-out reward model the core holds: {from, identity}.
  let heldout = null;

  async function ensure(kind, source) {
    const model = loadedModel();
    const held = tasks.built(kind);
    const loadedIsOther = model && core.modelKind(model.files) !== kind;
    if (source === 'loaded' && held && held.from !== 'default' && loadedIsOther) return held;
    await tasks.ensure(kind, source);
    return tasks.built(kind);
  }

  async function ensureHeldout(source) {
    if (source === 'none') {
      core.releaseHeldoutReward();
      heldout = null;
      return null;
    }
    const model = loadedModel();
    if (source === 'loaded' && !model) {
      throw new Error(
        'No model is loaded in the Models panel: load a reward model there first, or choose ' +
          'the default held-out reward model.',
      );
    }
    const from = source === 'loaded' ? model : 'default';
    if (heldout?.from === from) return heldout;
    const files = source === 'loaded' ? model.files : await tasks.defaultFiles('reward_model', 1);
    heldout = null;
    const summary = core.buildHeldoutReward(files);
    const identity = await tasks.identify(source === 'loaded' ? modelId(model) : files.id, files);
    heldout = { from, identity };
    post({ type: 'model-built', kind: 'heldout_reward', source, summary });
    return heldout;
  }

  const commands = {
    'hf-run'({ request, models }) {
      return tasks.task('hf', async () => {
        const policy = await ensure('language_model', models.policy);
        const reward = await ensure('reward_model', models.reward);
        const measure = await ensureHeldout(models.heldout);
        resetStop();
        const identities = {
          policy: policy.identity,
          reward: reward.identity,
          heldout_reward: measure?.identity ?? null,
        };
        const run = await core.runAlignment({ ...request, models: identities }, (step) => {
          post({ type: 'hf-progress', step });
          return goOn();
        });
        post({ type: 'hf-done', run });
      });
    },
    'hf-adapter'() {
      return tasks.task('hf', async () => {
        post({ type: 'hf-adapter', adapter: await core.trainedAdapter() });
      });
    },
    'hf-load-adapter'({ config, weights }) {
      return tasks.task('hf', async () => {
        core.loadAdapter(config, weights);
        post({ type: 'hf-adapter-loaded' });
      });
    },
    'hf-presets'() {
      return tasks.task('hf', async () => {
        post({ type: 'hf-presets', presets: core.alignmentPresets() });
      });
    },
  };

  return { commands };
}
