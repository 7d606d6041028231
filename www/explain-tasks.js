// The worker's ShearletX tasks: preparing a photo as the explanation methods take it and
// explaining the image classifier's decision on it, on the classifier tasks.js builds.
//
// Commands in:  {type: 'shx-prepare', source, name, bytes, k},
//               {type: 'shx-explain', source, method, overrides}
// Messages out: {type: 'shx-prepared', photo, preview},
//               {type: 'shx-progress', method, step}, {type: 'shx-explained', report, images},
//               and {type: 'task-error', task: 'shx-prepare' | 'shx-explain', message, fatal}
//
// `photo` is the core's summary ({name, info, crop, ranked, classes}), `preview` the prepared
// 256x256 image as PNG bytes; `report` is what `superlab shearletx` writes as report.json and
// `images` its PNG files as [{name, bytes}].

import * as core from './pkg/superlab.js';

const CLASSIFIER = 'image_classifier';

/** `tasks` is createTasks's result; the rest as createTasks takes them. */
export function createExplainTasks({ post, tasks, loadedModel, goOn, resetStop }) {
  const describeModel = (source) =>
    source === 'loaded' ? `loaded: ${loadedModel()?.id ?? 'unknown'}` : 'default';

  const commands = {
    'shx-methods'() {
      return tasks.task('shx-methods', async () => {
        post({ type: 'shx-methods', methods: core.explainMethods() });
      });
    },
    'shx-prepare'({ source = 'default', name = 'photo', bytes, k = 5 }) {
      return tasks.task('shx-prepare', async () => {
        await tasks.ensure(CLASSIFIER, source);
        const { photo, preview } = await core.preparePhoto(name, bytes, k);
        post({ type: 'shx-prepared', photo, preview });
      });
    },
    'shx-explain'({ source = 'default', method, overrides = {} }) {
      return tasks.task('shx-explain', async () => {
        await tasks.ensure(CLASSIFIER, source);
        resetStop();
        const request = { method, overrides, model: describeModel(source) };
        const { report, images } = await core.explainPhoto(request, (step) => {
          post({ type: 'shx-progress', method, step });
          return goOn();
        });
        post({ type: 'shx-explained', report, images });
      });
    },
  };

  return { commands };
}
