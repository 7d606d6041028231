// Tiny random models written as the hub's files (config.json, tokenizer.json,
// model.safetensors), for runs that SwiftShader finishes in seconds: a Llama policy and a BERT
// reward model (an encoder with a scalar `reward_head`) over one word-level vocabulary, the
// shapes of tests/tiny_superhf/mod.rs. The weights come from a seeded generator; the page and
// the native tool read the same files, so the values need not match any other test's.
// `openTinyModels` opens them in the page's Models panel, served under /assets/.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const SPECIAL = ['[PAD]', '[UNK]', '</s>'];
const WORDS = `Human: Assistant: the a an it this that I you we they he she is was are were be
  been good bad happy sad great terrible nice awful love hate like movie food dog cat day night
  sun rain tree house friend music book game very not really so and but or today tomorrow
  yesterday always never warm cold fun boring bright dark quick slow`.split(/\s+/);
const VOCAB = [...SPECIAL, ...WORDS];

function tokenizerJson() {
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: {
      type: 'WordLevel',
      vocab: Object.fromEntries(VOCAB.map((word, id) => [word, id])),
      unk_token: '[UNK]',
    },
  });
}

/** Uniform values in [offset - scale, offset + scale) from a 32-bit xorshift generator. */
function uniform(state, count, scale, offset) {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state.x ^= state.x << 13;
    state.x ^= state.x >>> 17;
    state.x ^= state.x << 5;
    values[i] = offset + scale * (2 * ((state.x >>> 0) / 2 ** 32) - 1);
  }
  return values;
}

/** A safetensors file of float32 tensors: `specs` is [[name, shape, scale, offset]]. */
function safetensors(seed, specs) {
  const state = { x: seed | 1 };
  const header = {};
  const chunks = [];
  let at = 0;
  for (const [name, shape, scale, offset] of specs) {
    const values = uniform(state, shape.reduce((a, b) => a * b, 1), scale, offset);
    header[name] = { dtype: 'F32', shape, data_offsets: [at, at + values.byteLength] };
    chunks.push(Buffer.from(values.buffer));
    at += values.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), ...chunks]);
}

const matrix = (name, outputs, inputs) => [name, [outputs, inputs], 2 / Math.sqrt(inputs), 0];

function policySpecs() {
  const [width, inner, headDim] = [32, 48, 8];
  const specs = [['model.embed_tokens.weight', [VOCAB.length, width], 0.5, 0]];
  for (const layer of [0, 1]) {
    const name = (part) => `model.layers.${layer}.${part}`;
    specs.push(
      [name('input_layernorm.weight'), [width], 0.1, 1],
      matrix(name('self_attn.q_proj.weight'), 4 * headDim, width),
      matrix(name('self_attn.k_proj.weight'), 2 * headDim, width),
      matrix(name('self_attn.v_proj.weight'), 2 * headDim, width),
      matrix(name('self_attn.o_proj.weight'), width, 4 * headDim),
      [name('post_attention_layernorm.weight'), [width], 0.1, 1],
      matrix(name('mlp.gate_proj.weight'), inner, width),
      matrix(name('mlp.up_proj.weight'), inner, width),
      matrix(name('mlp.down_proj.weight'), width, inner),
    );
  }
  specs.push(['model.norm.weight', [width], 0.1, 1]);
  return specs;
}

const POLICY_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  vocab_size: VOCAB.length,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: true,
};

function rewardSpecs() {
  const [width, inner] = [16, 32];
  const name = (part) => `encoder.layer.0.${part}`;
  const specs = [
    ['embeddings.word_embeddings.weight', [VOCAB.length, width], 1, 0],
    ['embeddings.position_embeddings.weight', [128, width], 0.1, 0],
    ['embeddings.token_type_embeddings.weight', [2, width], 0.1, 0],
    ['embeddings.LayerNorm.weight', [width], 0.1, 1],
    ['embeddings.LayerNorm.bias', [width], 0.1, 0],
  ];
  for (const part of ['attention.self.query', 'attention.self.key', 'attention.self.value']) {
    specs.push(matrix(name(`${part}.weight`), width, width), [name(`${part}.bias`), [width], 0.05, 0]);
  }
  specs.push(
    matrix(name('attention.output.dense.weight'), width, width),
    [name('attention.output.dense.bias'), [width], 0.05, 0],
    [name('attention.output.LayerNorm.weight'), [width], 0.1, 1],
    [name('attention.output.LayerNorm.bias'), [width], 0.1, 0],
    matrix(name('intermediate.dense.weight'), inner, width),
    [name('intermediate.dense.bias'), [inner], 0.05, 0],
    matrix(name('output.dense.weight'), width, inner),
    [name('output.dense.bias'), [width], 0.05, 0],
    [name('output.LayerNorm.weight'), [width], 0.1, 1],
    [name('output.LayerNorm.bias'), [width], 0.1, 0],
    ['reward_head.weight', [1, width], 1, 0],
    ['reward_head.bias', [1], 0, 0],
  );
  return specs;
}

const REWARD_CONFIG = {
  model_type: 'bert',
  architectures: ['BertModel'],
  vocab_size: VOCAB.length,
  hidden_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 32,
  max_position_embeddings: 128,
  type_vocab_size: 2,
};

export const MODEL_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];

function writeFolder(folder, config, weights) {
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, 'config.json'), JSON.stringify(config));
  writeFileSync(path.join(folder, 'tokenizer.json'), tokenizerJson());
  writeFileSync(path.join(folder, 'model.safetensors'), weights);
}

/** Writes the tiny policy and reward model into `root`/policy and `root`/reward. */
export function writeTinyModels(root) {
  writeFolder(path.join(root, 'policy'), POLICY_CONFIG, safetensors(41, policySpecs()));
  writeFolder(path.join(root, 'reward'), REWARD_CONFIG, safetensors(42, rewardSpecs()));
  return { policy: path.join(root, 'policy'), reward: path.join(root, 'reward') };
}

/** Opens the tiny model in `folder` (served under /assets/) in the Models panel. */
function openModel(page, folder) {
  return page.evaluate(
    async ({ folder, names }) => {
      const files = [];
      for (const name of names) {
        const blob = await (await fetch(`/assets/${folder}/${name}`)).blob();
        files.push(new File([blob], name));
      }
      await window.lab.models.open(files);
    },
    { folder, names: MODEL_FILES },
  );
}

/** The tiny policy built from the Models panel, then the reward model left open there. */
export async function openTinyModels(page) {
  await openModel(page, 'policy');
  await page.evaluate(() => {
    document.getElementById('lm-source').value = 'loaded';
    return window.lab.buildLanguageModel();
  });
  await openModel(page, 'reward');
}
