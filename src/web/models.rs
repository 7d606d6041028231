//! The model layer's exports to the worker: building a model from the files the worker holds
//! (the model store's result, or the defaults fetched from `/assets/`), then generating text,
//! classifying images and scoring texts with it.
//!
//! The worker keeps one model of each kind: building another of the same kind replaces it,
//! releasing the old one's memory first.

use super::{ask_to_go_on, current_device, from_js, to_js};
use crate::LabError;
use crate::models::load::classifier::ImageModel;
use crate::models::load::defaults::DEFAULT_MODELS;
use crate::models::load::policy::{GenerationRequest, GenerationStep, Policy};
use crate::models::load::reward::TextReward;
use crate::models::load::{self, LoadedModel, ModelFiles, ModelKind};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[derive(Default)]
struct Models {
    policy: Option<Rc<Policy>>,
    reward: Option<Rc<TextReward>>,
    classifier: Option<Rc<ImageModel>>,
}

impl Models {
    fn release(&mut self, kind: ModelKind) {
        match kind {
            ModelKind::LanguageModel => self.policy = None,
            ModelKind::RewardModel => self.reward = None,
            ModelKind::ImageClassifier => self.classifier = None,
        }
    }
}

thread_local! {
    static MODELS: RefCell<Models> = RefCell::new(Models::default());
}

/// The embedded default models: for each, its name, kind, title and files (`asset`, the path
/// under `/assets/`, and `name`, the name to build it under).
#[wasm_bindgen(js_name = defaultModels)]
pub fn default_models() -> Result<JsValue, JsValue> {
    Ok(to_js(&DEFAULT_MODELS)?)
}

/// The files built into the lab for the default model called `name` (a `Map` of names to
/// `Uint8Array`s, empty for most), to add to its files fetched from `/assets/`.
#[wasm_bindgen(js_name = defaultBuiltInFiles)]
pub fn default_built_in_files(name: &str) -> Result<js_sys::Map, JsValue> {
    let model = (DEFAULT_MODELS.iter())
        .find(|model| model.name == name)
        .ok_or_else(|| LabError::Config(format!("the lab has no default model called {name}")))?;
    let files = js_sys::Map::new();
    for file in model.built_in {
        let bytes = js_sys::Uint8Array::from(file.bytes);
        files.set(&JsValue::from_str(file.name), &bytes);
    }
    Ok(files)
}

/// What the files make (`language_model`, `reward_model` or `image_classifier`), from their
/// names and `config.json` alone.
#[wasm_bindgen(js_name = modelKind)]
pub fn model_kind(files: js_sys::Map) -> Result<JsValue, JsValue> {
    Ok(to_js(&load::kind_of(&files_from_js(&files)?)?)?)
}

/// Builds the model that `files` (a `Map` of names to `Uint8Array`s) make on this worker's
/// device, which must be of `kind` unless that is `null`, and keeps it as the worker's model
/// of its kind, in place of the one it had. Returns its summary.
#[wasm_bindgen(js_name = buildModel)]
pub fn build_model(kind: JsValue, files: js_sys::Map) -> Result<JsValue, JsValue> {
    let expected: Option<ModelKind> = match kind.is_null() || kind.is_undefined() {
        true => None,
        false => Some(from_js(kind)?),
    };
    let files = files_from_js(&files)?;
    let kind = load::kind_of(&files)?;
    // The old model goes first, to make room, unless the files are refused for their kind.
    if expected.is_none_or(|expected| expected == kind) {
        MODELS.with_borrow_mut(|models| models.release(kind));
    }
    let loaded = load::load(files, &current_device()?, expected)?;
    let summary = to_js(&loaded.summary)?;
    MODELS.with_borrow_mut(|models| match loaded.model {
        LoadedModel::Language(policy) => models.policy = Some(Rc::from(policy)),
        LoadedModel::Reward(reward) => models.reward = Some(Rc::from(reward)),
        LoadedModel::Classifier(classifier) => models.classifier = Some(Rc::new(classifier)),
    });
    Ok(summary)
}

/// Releases the worker's model of `kind`.
#[wasm_bindgen(js_name = releaseModel)]
pub fn release_model(kind: JsValue) -> Result<(), JsValue> {
    let kind: ModelKind = from_js(kind)?;
    MODELS.with_borrow_mut(|models| models.release(kind));
    Ok(())
}

/// Continues `request.prompt` with the language model (`request` as
/// [`GenerationRequest`] deserialises: `prompt`, `chat`, `max_new_tokens`, `temperature`,
/// `top_k`, `top_p`, `seed`). `progress(step)` is called after every decoding step with the
/// tokens and text so far, and returns a promise of whether to go on.
#[wasm_bindgen(js_name = generateText)]
pub async fn generate_text(
    request: JsValue,
    progress: js_sys::Function,
) -> Result<JsValue, JsValue> {
    let request: GenerationRequest = from_js(request)?;
    let policy = MODELS
        .with_borrow(|models| models.policy.clone())
        .ok_or_else(|| missing(ModelKind::LanguageModel))?;
    let device = current_device()?;
    let ask = async |step: &GenerationStep| ask_to_go_on(&progress, step).await;
    let generation = policy.generate(&request, &device.device, ask).await?;
    Ok(to_js(&generation)?)
}

/// The `k` most probable classes of an encoded image (the bytes of a PNG, JPEG, GIF, WebP, BMP
/// or TIFF file) under the image classifier.
#[wasm_bindgen(js_name = classifyImage)]
pub async fn classify_image(bytes: Vec<u8>, k: usize) -> Result<JsValue, JsValue> {
    let classifier = MODELS
        .with_borrow(|models| models.classifier.clone())
        .ok_or_else(|| missing(ModelKind::ImageClassifier))?;
    let device = current_device()?;
    let image = crate::explain::photo::decode_photo(&bytes)?.image;
    let ranked = classifier.classify(&image, k, &device.device).await?;
    Ok(to_js(&ranked)?)
}

/// One score per text (an array of strings) under the reward model.
#[wasm_bindgen(js_name = scoreTexts)]
pub async fn score_texts(texts: JsValue) -> Result<JsValue, JsValue> {
    let texts: Vec<String> = from_js(texts)?;
    let reward = MODELS
        .with_borrow(|models| models.reward.clone())
        .ok_or_else(|| missing(ModelKind::RewardModel))?;
    let device = current_device()?;
    Ok(to_js(&reward.score(&texts, &device.device).await?)?)
}

/// The worker's language model, for the runs that train it.
pub(super) fn policy() -> Result<Rc<Policy>, LabError> {
    (MODELS.with_borrow(|models| models.policy.clone()))
        .ok_or_else(|| missing(ModelKind::LanguageModel))
}

/// Puts `policy` in place of the worker's language model.
pub(super) fn replace_policy(policy: Policy) {
    MODELS.with_borrow_mut(|models| models.policy = Some(Rc::new(policy)));
}

/// The worker's reward model.
pub(super) fn reward() -> Result<Rc<TextReward>, LabError> {
    (MODELS.with_borrow(|models| models.reward.clone()))
        .ok_or_else(|| missing(ModelKind::RewardModel))
}

/// The worker's image classifier, for the explanation methods.
pub(super) fn image_classifier() -> Result<Rc<ImageModel>, LabError> {
    MODELS
        .with_borrow(|models| models.classifier.clone())
        .ok_or_else(|| missing(ModelKind::ImageClassifier))
}

pub(super) fn missing(kind: ModelKind) -> LabError {
    LabError::Config(format!("no {} is loaded: build one first", kind.describe()))
}

/// A `Map` of file names to `Uint8Array`s, copied into the core's memory.
pub(super) fn files_from_js(map: &js_sys::Map) -> Result<ModelFiles, LabError> {
    let mut files = ModelFiles::new();
    let mut failure = None;
    map.for_each(
        &mut |bytes, name| match (name.as_string(), bytes.dyn_into::<js_sys::Uint8Array>()) {
            (Some(name), Ok(bytes)) => files.insert(name, bytes.to_vec()),
            _ => {
                failure = Some(LabError::Config(
                    "a model's files must be a Map of file names to Uint8Arrays".into(),
                ))
            }
        },
    );
    match failure {
        Some(error) => Err(error),
        None => Ok(files),
    }
}
