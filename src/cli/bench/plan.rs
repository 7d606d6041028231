//! What `superlab bench` measures and how often. One plan drives both sides: the lab reads it
//! here, and the PyTorch side receives it as JSON (`scripts/bench_reference.py`), so the two
//! cannot drift apart in a size or a count.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;
use superlab::explain::mask_optimiser::PASS_BUDGET_BYTES;
use superlab::explain::shearletx::{IMAGE_SIZE, ShearletXConfig};
use superlab::models::vision::Architecture;
use superlab::shearlet::{SHEARLETX_SCALES, SHEARLETX_SHEAR_LEVELS};
use superlab::superhf::config::{Preset, SuperHfConfig, TokenBudget};

/// How much a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// One repetition of the smallest workloads, to check that the command works.
    Smoke,
    /// Fewer repetitions, steps and tokens and smaller batches: a few minutes.
    Quick,
    /// Every workload at its real size: the figures the README quotes.
    Standard,
}

/// A group of workloads, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Shearlet,
    Shearletx,
    Classifiers,
    Generation,
    Superhf,
    Browser,
}

/// Shearlet analysis and synthesis of one RGB image.
#[derive(Debug, Clone, Serialize)]
pub struct ShearletPlan {
    pub size: usize,
    pub channels: usize,
    pub scales: usize,
    pub shear_levels: [u32; 4],
    pub repetitions: usize,
}

/// ShearletX steps (the reference variant) with each classifier.
#[derive(Debug, Clone, Serialize)]
pub struct ShearletXPlan {
    pub size: usize,
    pub scales: usize,
    pub shear_levels: [u32; 4],
    pub classifiers: Vec<Architecture>,
    pub noise_samples: usize,
    /// What the lab chooses by itself for this size, stated so that PyTorch passes alike.
    pub samples_per_pass: usize,
    /// Untimed steps first (kernel compilation, allocation), then `steps` timed ones.
    pub warmup_steps: usize,
    pub steps: usize,
    /// The steps of a whole explanation, which the per-step time is multiplied by unless all
    /// of them run.
    pub steps_per_explanation: usize,
    pub learning_rate: f64,
    pub lambda1: f64,
    pub lambda2: f64,
    pub seed: u64,
}

/// Forward and backward of each classifier on one batch.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierPlan {
    pub architectures: Vec<Architecture>,
    pub batch: usize,
    pub size: usize,
    /// The cross-entropy's class for each image of the batch.
    pub targets: Vec<usize>,
    pub repetitions: usize,
}

/// Batched sampling from SmolLM2-135M-Instruct.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationPlan {
    pub gguf_path: PathBuf,
    pub prompt: String,
    /// The prompt as the lab's tokenizer reads it; PyTorch takes these ids as they are.
    pub prompt_tokens: Vec<u32>,
    pub sequences: usize,
    pub new_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    pub repetitions: usize,
}

/// A prompt of a SuperHF iteration as the policy reads it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedPrompt {
    /// In SuperHF's chat frame.
    pub framed: String,
    /// The policy's tokens of `framed`; PyTorch takes these ids as they are.
    pub tokens: Vec<u32>,
}

/// SuperHF iterations of the paper preset: SmolLM2-135M-Instruct as the policy, the lab's
/// default reward model (all-MiniLM-L6-v2 with its trained head) as the training reward.
#[derive(Debug, Clone, Serialize)]
pub struct SuperHfPlan {
    pub gguf_path: PathBuf,
    /// all-MiniLM-L6-v2's folder (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub reward_encoder: PathBuf,
    /// The default reward head, written into the work folder for the PyTorch side.
    pub reward_head: PathBuf,
    /// Every setting of the run; its `steps` are the warm-up and the timed iterations.
    pub config: SuperHfConfig,
    /// The prompts in the order both sides take them, `prompts_per_step` per iteration.
    pub prompts: Vec<PlannedPrompt>,
    /// Untimed iterations first (loading, kernel compilation), then `iterations` timed ones.
    pub warmup_iterations: usize,
    pub iterations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scale: Scale,
    /// Whether ShearletX runs all its steps instead of a few.
    pub full_explanations: bool,
    pub threads: usize,
    /// Untimed repetitions before the timed ones, per workload.
    pub warmup: usize,
    /// Where the inputs and the random weights go.
    pub work_dir: PathBuf,
    /// Seeds torchvision's initialisation of the random classifiers.
    pub weight_seed: u64,
    pub efficientnet_lite0_checkpoint: PathBuf,
    pub shearlet: Option<ShearletPlan>,
    pub shearletx: Option<ShearletXPlan>,
    pub classifiers: Option<ClassifierPlan>,
    pub generation: Option<GenerationPlan>,
    pub superhf: Option<SuperHfPlan>,
    /// Whether the page is timed in headless Chromium (`tests/browser/bench.mjs`, at this
    /// plan's scale).
    pub browser: bool,
}

/// SuperHF's chat frame around a short request, as SmolLM2-Instruct expects it.
pub const PROMPT: &str = "<|im_start|>user\nWrite a short story about a lighthouse keeper.<|im_end|>\n\
     <|im_start|>assistant\n";

const WEIGHT_SEED: u64 = 0;
const NOISE_SEED: u64 = 0;
const SAMPLING_SEED: u64 = 0;
const CLASSIFIER_SIDE: usize = 224;
/// A fixed spread of ImageNet classes for the cross-entropy: `(61 i + 7) mod 1000`.
fn targets(batch: usize) -> Vec<usize> {
    (0..batch).map(|i| (61 * i + 7) % 1000).collect()
}

/// The counts that differ between scales.
struct Sizes {
    warmup: usize,
    shearlet_repetitions: usize,
    shearletx_classifiers: Vec<Architecture>,
    noise_samples: usize,
    shearletx_warmup_steps: usize,
    shearletx_steps: usize,
    classifiers: Vec<Architecture>,
    batch: usize,
    classifier_repetitions: usize,
    generation: Option<(usize, usize, usize)>,
    /// Completions per prompt, new tokens, warm-up and timed iterations.
    superhf: Option<(usize, usize, usize, usize)>,
}

impl Sizes {
    fn of(scale: Scale) -> Self {
        use Architecture::*;
        match scale {
            Scale::Smoke => Self {
                warmup: 0,
                shearlet_repetitions: 1,
                shearletx_classifiers: vec![Resnet18],
                noise_samples: 1,
                shearletx_warmup_steps: 0,
                shearletx_steps: 1,
                classifiers: vec![MobilenetV3Small],
                batch: 1,
                classifier_repetitions: 1,
                // Loading the model takes most of a minute on the PyTorch side.
                generation: None,
                superhf: None,
            },
            Scale::Quick => Self {
                warmup: 1,
                shearlet_repetitions: 3,
                shearletx_classifiers: vec![Resnet18, EfficientnetLite0],
                noise_samples: 16,
                shearletx_warmup_steps: 1,
                shearletx_steps: 1,
                classifiers: vec![Resnet18, MobilenetV3Small, EfficientnetLite0],
                batch: 4,
                classifier_repetitions: 2,
                generation: Some((16, 16, 1)),
                superhf: Some((16, 16, 1, 1)),
            },
            Scale::Standard => Self {
                warmup: 1,
                shearlet_repetitions: 10,
                shearletx_classifiers: vec![Resnet18, EfficientnetLite0],
                noise_samples: 16,
                shearletx_warmup_steps: 1,
                shearletx_steps: 3,
                classifiers: vec![Resnet18, Vgg19, MobilenetV3Small, EfficientnetLite0],
                batch: 16,
                classifier_repetitions: 3,
                generation: Some((16, 64, 3)),
                superhf: Some((16, 64, 1, 2)),
            },
        }
    }
}

/// What the command line chose, besides the scale.
pub struct Choices {
    pub full_explanations: bool,
    pub threads: usize,
    pub only: Vec<Group>,
    pub work_dir: PathBuf,
    pub gguf_path: PathBuf,
    pub minilm_folder: PathBuf,
    pub efficientnet_lite0_checkpoint: PathBuf,
}

impl Plan {
    /// The plan for `scale`; the prompt's tokens are filled in once the tokenizer is loaded.
    pub fn new(scale: Scale, choices: Choices) -> Self {
        let sizes = Sizes::of(scale);
        let wanted = |group| choices.only.is_empty() || choices.only.contains(&group);
        let paper = ShearletXConfig::default();
        let levels = SHEARLETX_SHEAR_LEVELS;
        let shearlet = wanted(Group::Shearlet).then_some(ShearletPlan {
            size: IMAGE_SIZE,
            channels: 3,
            scales: SHEARLETX_SCALES,
            shear_levels: levels,
            repetitions: sizes.shearlet_repetitions,
        });
        let shearletx = wanted(Group::Shearletx).then(|| {
            let (warmup_steps, steps) = match choices.full_explanations {
                true => (0, paper.steps),
                false => (sizes.shearletx_warmup_steps, sizes.shearletx_steps),
            };
            ShearletXPlan {
                size: IMAGE_SIZE,
                scales: SHEARLETX_SCALES,
                shear_levels: levels,
                classifiers: sizes.shearletx_classifiers,
                noise_samples: sizes.noise_samples,
                samples_per_pass: samples_per_pass(sizes.noise_samples),
                warmup_steps,
                steps,
                steps_per_explanation: paper.steps,
                learning_rate: paper.learning_rate,
                lambda1: paper.lambda1,
                lambda2: paper.lambda2,
                seed: NOISE_SEED,
            }
        });
        let classifiers = wanted(Group::Classifiers).then(|| ClassifierPlan {
            architectures: sizes.classifiers,
            batch: sizes.batch,
            size: CLASSIFIER_SIDE,
            targets: targets(sizes.batch),
            repetitions: sizes.classifier_repetitions,
        });
        let superhf = sizes.superhf.filter(|_| wanted(Group::Superhf)).map(
            |(completions, new_tokens, warmup_iterations, iterations)| {
                let mut config = Preset::Paper.config();
                config.rollout.completions_per_prompt = completions;
                config.rollout.new_tokens = TokenBudget::fixed(new_tokens);
                config.steps = warmup_iterations + iterations;
                config.seed = SAMPLING_SEED;
                SuperHfPlan {
                    gguf_path: choices.gguf_path.clone(),
                    reward_encoder: choices.minilm_folder.clone(),
                    reward_head: choices.work_dir.join("reward_head.safetensors"),
                    config,
                    prompts: Vec::new(),
                    warmup_iterations,
                    iterations,
                }
            },
        );
        let generation = sizes.generation.filter(|_| wanted(Group::Generation)).map(
            |(sequences, new_tokens, repetitions)| GenerationPlan {
                gguf_path: choices.gguf_path,
                prompt: PROMPT.into(),
                prompt_tokens: Vec::new(),
                sequences,
                new_tokens,
                temperature: 1.0,
                top_p: 0.95,
                seed: SAMPLING_SEED,
                repetitions,
            },
        );
        Self {
            scale,
            full_explanations: choices.full_explanations,
            threads: choices.threads,
            warmup: sizes.warmup,
            work_dir: choices.work_dir,
            weight_seed: WEIGHT_SEED,
            efficientnet_lite0_checkpoint: choices.efficientnet_lite0_checkpoint,
            shearlet,
            shearletx,
            classifiers,
            generation,
            superhf,
            browser: wanted(Group::Browser),
        }
    }
}

/// The samples per pass the lab's mask optimiser chooses for ShearletX at its size: as many
/// as keep the three channels' mixed coefficients under its budget.
fn samples_per_pass(noise_samples: usize) -> usize {
    let coefficients = SHEARLETX_BANDS * IMAGE_SIZE * IMAGE_SIZE;
    (PASS_BUDGET_BYTES / (3 * coefficients * 4)).clamp(1, noise_samples)
}

/// 8 + 8 + 16 + 16 directional bands and the lowpass.
const SHEARLETX_BANDS: usize = 49;
