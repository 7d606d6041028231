//! The inputs both sides compute on, made once by the lab and written into the work folder as
//! raw little-endian f32 (`photo.f32`, `images.f32`) for the PyTorch side to read.

use superlab::LabError;
use superlab::explain::shearletx;
use superlab::models::gguf::{GgufTokenizerFlavor, LlamaGguf};
use superlab::models::vision::prepare;
use superlab::rng::named_uniform;

use superlab::models::tokenizer::Tokenizer;
use superlab::superhf::config::SuperHfConfig;
use superlab::superhf::prompts::PromptOrder;
use superlab::superhf::reward::defaults::DefaultReward;
use superlab::superhf::rollout::PromptTurn;

use super::paths;
use super::plan::{Plan, PlannedPrompt};

/// Seeds the classifiers' random batch.
const IMAGES_SEED: u64 = 2025;

pub struct Inputs {
    /// ShearletX's photograph, `[3, 256, 256]` in [0, 1], channel after channel.
    pub photo: Vec<f32>,
    /// The classifiers' batch, `[batch, 3, side, side]`, uniform in [0, 1].
    pub images: Vec<f32>,
    /// SmolLM2's file, opened once for the tokenizer and every backend's generation model.
    pub gguf: Option<LlamaGguf>,
}

/// Makes the inputs, writes them for the PyTorch side and fills in the prompt's tokens.
pub fn prepare(plan: &mut Plan) -> Result<Inputs, LabError> {
    let photo = match plan.shearlet.is_some() || plan.shearletx.is_some() {
        true => photograph()?,
        false => Vec::new(),
    };
    paths::write(&plan.work_dir.join("photo.f32"), bytes(&photo))?;
    let images = match &plan.classifiers {
        Some(classifiers) => {
            let count = classifiers.batch * 3 * classifiers.size * classifiers.size;
            named_uniform(IMAGES_SEED, "images", count, 0.5, 0.5)
        }
        None => Vec::new(),
    };
    paths::write(&plan.work_dir.join("images.f32"), bytes(&images))?;
    let gguf_path = (plan.generation.as_ref().map(|g| &g.gguf_path))
        .or(plan.superhf.as_ref().map(|s| &s.gguf_path));
    let gguf = match gguf_path {
        Some(path) => Some(LlamaGguf::open(
            &path.display().to_string(),
            paths::read(path)?,
        )?),
        None => None,
    };
    if let Some(gguf) = &gguf {
        let tokenizer = gguf.tokenizer(GgufTokenizerFlavor::AsFile)?;
        if let Some(generation) = &mut plan.generation {
            generation.prompt_tokens = tokenizer.encode(&generation.prompt, false)?;
        }
        if let Some(superhf) = &mut plan.superhf {
            superhf.prompts = superhf_prompts(&superhf.config, &tokenizer)?;
            paths::write(
                &superhf.reward_head,
                DefaultReward::Train.head_safetensors(),
            )?;
        }
    }
    Ok(Inputs {
        photo,
        images,
        gguf,
    })
}

/// The prompts a SuperHF run of `config` takes, in its order: the run draws them the same way.
fn superhf_prompts(
    config: &SuperHfConfig,
    tokenizer: &Tokenizer,
) -> Result<Vec<PlannedPrompt>, LabError> {
    let mut order = PromptOrder::new(config.prompts.prompts(), config.seed);
    let count = config.steps * config.rollout.prompts_per_step;
    (order.take(count).iter())
        .map(|text| {
            let turn = PromptTurn::new(text, config.rollout.chat_frame, tokenizer)?;
            Ok(PlannedPrompt {
                framed: turn.framed,
                tokens: turn.tokens,
            })
        })
        .collect()
}

/// scikit-image's cat, prepared as ShearletX prepares photographs.
fn photograph() -> Result<Vec<f32>, LabError> {
    let decoded = prepare::decode(&paths::read(&paths::asset(paths::PHOTO)?)?)?;
    let image = shearletx::preparation().apply(&decoded)?;
    let plane = (image.width() * image.height()) as usize;
    let mut values = vec![0.0; 3 * plane];
    for (pixel, rgb) in image.pixels().enumerate() {
        for (channel, &value) in rgb.0.iter().enumerate() {
            values[channel * plane + pixel] = value;
        }
    }
    Ok(values)
}

fn bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}
