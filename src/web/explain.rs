//! The ShearletX panel's exports to the worker: preparing a photograph as the explanation
//! methods take it, then explaining the image classifier's decision on it with any method,
//! each run reported as `superlab shearletx` reports it (the same [`RunRecord`] and images).
//!
//! The worker keeps the photograph last prepared, so that several methods explain the same
//! input without decoding the file again.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::models::image_classifier;
use super::{JsProgress, current_device, from_js, to_js};
use crate::LabError;
use crate::explain::methods::{
    self, ImageRecord, Method, MethodConfig, MethodOverrides, ModelRecord, NamedImage, RunRecord,
    ScoreConfig, explanation_images, rgb_png,
};
use crate::explain::photo::{self, CropReport, PhotoInfo, PreparedPhoto};
use crate::explain::shearletx;
use crate::models::load::classifier::RankedClass;
use crate::models::vision::imagenet::top_k_of_batch;

/// A prepared photograph and the name it came under.
struct KeptPhoto {
    name: String,
    prepared: PreparedPhoto,
}

thread_local! {
    static PHOTO: RefCell<Option<Rc<KeptPhoto>>> = const { RefCell::new(None) };
}

/// A method as the panel offers it.
#[derive(Serialize)]
struct MethodEntry {
    method: Method,
    /// The settings the method takes (see [`MethodConfig::setting_names`]).
    settings: Vec<&'static str>,
    /// Its defaults, the paper's settings.
    defaults: MethodConfig,
}

/// What the panel learns of a prepared photograph.
#[derive(Serialize)]
struct PhotoSummary {
    name: String,
    info: PhotoInfo,
    crop: CropReport,
    /// The most probable classes of the prepared image, as the methods see it.
    ranked: Vec<RankedClass>,
    classes: usize,
}

/// What to explain: the method, the settings that differ from its defaults, and a
/// description of the classifier for the report.
#[derive(Deserialize)]
struct ExplainRequest {
    method: Method,
    #[serde(default)]
    overrides: MethodOverrides,
    #[serde(default)]
    model: String,
}

/// Every method with the settings it takes and its defaults.
#[wasm_bindgen(js_name = explainMethods)]
pub fn explain_methods() -> Result<JsValue, JsValue> {
    let entries: Vec<MethodEntry> = (Method::ALL.into_iter())
        .map(|method| {
            let defaults = method.default_config();
            MethodEntry {
                method,
                settings: defaults.setting_names(),
                defaults,
            }
        })
        .collect();
    Ok(to_js(&entries)?)
}

/// Decodes a photograph (`bytes` of a PNG, JPEG, GIF, WebP, BMP or TIFF file), resizes and
/// crops it as ShearletX does, keeps it for [`explain_photo`], and ranks its `k` most probable
/// classes under the image classifier. Returns `{photo, preview}`: the photo's summary (what
/// the file held, the crop taken, the ranking) and the prepared 256x256 image as PNG bytes.
#[wasm_bindgen(js_name = preparePhoto)]
pub async fn prepare_photo(name: String, bytes: Vec<u8>, k: usize) -> Result<JsValue, JsValue> {
    let classifier = image_classifier()?;
    let device = current_device()?;
    let prepared = photo::prepare_photo(&bytes, &shearletx::preparation())?;
    let size = prepared.crop.size as usize;
    let preview = rgb_png(&prepared.planar(), [size, size])?;
    let image = prepared.tensor(&device.device)?;
    let logits = classifier.model.logits(image.unsqueeze());
    let ranked = top_k_of_batch(logits, k).await?.remove(0);
    let summary = PhotoSummary {
        name: name.clone(),
        info: prepared.info.clone(),
        crop: prepared.crop.clone(),
        ranked: (ranked.into_iter())
            .map(|rank| RankedClass {
                class: rank.class,
                name: classifier.class_name(rank.class),
                probability: rank.probability,
                logit: rank.logit,
            })
            .collect(),
        classes: classifier.model.classes(),
    };
    PHOTO.set(Some(Rc::new(KeptPhoto { name, prepared })));
    let result = js_sys::Object::new();
    set(&result, "photo", &to_js(&summary)?)?;
    set(&result, "preview", &js_sys::Uint8Array::from(&preview[..]))?;
    Ok(result.into())
}

/// Explains the image classifier's decision on the prepared photograph with `request`'s
/// method (`{method, overrides, model}`: `overrides` as [`MethodOverrides`] deserialises,
/// `model` a description of the classifier for the report). `progress(step)` is called after
/// every step with `{step, total, metrics}` (the loss terms, the retained probability) and
/// returns a promise of whether to go on. Returns `{report, images}`: the report as
/// `report.json` holds it and `[{name, bytes}]`, the PNG images named as in its `files`.
#[wasm_bindgen(js_name = explainPhoto)]
pub async fn explain_photo(
    request: JsValue,
    progress: js_sys::Function,
) -> Result<JsValue, JsValue> {
    let request: ExplainRequest = from_js(request)?;
    let config = (request.method.default_config()).with_overrides(&request.overrides)?;
    let kept = PHOTO
        .with_borrow(Clone::clone)
        .ok_or_else(|| LabError::Config("no photo is prepared: choose one first".into()))?;
    let classifier = image_classifier()?;
    let device = current_device()?;
    let image = kept.prepared.tensor(&device.device)?;
    let report = methods::run(
        &device,
        classifier.model.as_ref(),
        image,
        config,
        ScoreConfig::default(),
        &mut JsProgress(progress),
    )
    .await?;
    let images = match &report.explanation {
        Some(explanation) => explanation_images(explanation)?,
        None => Vec::new(),
    };
    let record = RunRecord {
        run: &report,
        class_name: report.class_index.map(|class| classifier.class_name(class)),
        image: ImageRecord {
            path: kept.name.clone(),
            info: kept.prepared.info.clone(),
            crop: kept.prepared.crop.clone(),
        },
        model: ModelRecord {
            architecture: classifier.architecture.name(),
            weights: request.model,
        },
        files: images.iter().map(|image| image.name.clone()).collect(),
    };
    let result = js_sys::Object::new();
    set(&result, "report", &to_js(&record)?)?;
    set(&result, "images", &images_to_js(&images)?.into())?;
    Ok(result.into())
}

fn images_to_js(images: &[NamedImage]) -> Result<js_sys::Array, LabError> {
    let array = js_sys::Array::new();
    for image in images {
        let entry = js_sys::Object::new();
        set(&entry, "name", &JsValue::from_str(&image.name))?;
        set(&entry, "bytes", &js_sys::Uint8Array::from(&image.png[..]))?;
        array.push(&entry);
    }
    Ok(array)
}

fn set(object: &js_sys::Object, key: &str, value: &JsValue) -> Result<(), LabError> {
    js_sys::Reflect::set(object, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| LabError::Execution(format!("cannot pass {key} to the page")))
}
