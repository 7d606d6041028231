//! The loader from a model's named files (`superlab::models::load`): what it builds from which
//! files, and the error it gives for each thing it does not read.
//!
//! The models are the tiny random checkpoints of `tests/fixtures/gpt2.json` and
//! `tests/fixtures/encoders.json` (written by `tests/oracle/gpt2.py` and
//! `tests/oracle/encoders.py` with transformers) and the cached EfficientNet-Lite0 and
//! SmolLM2-135M-Instruct. What a loaded model computes is compared with the fixtures'
//! transformers values: greedy tokens exactly (the smallest gap between the two largest
//! logits, 0.022, is far above f32 rounding), rewards within 1e-4 as in `tests/encoders.rs`
//! (both sides in f32 on values of order one). A classifier read from safetensors must
//! classify exactly as the same tensors read from the `.pth` checkpoint: the same values run
//! through the same code.

mod common;
mod model_files;

use burn::tensor::Device;
use common::{assert_close, read_asset};
use model_files::{tiny_gpt2, tiny_reward, word_tokenizer, words};
use superlab::LabError;
use superlab::device::{AdapterReport, BackendKind, DeviceReport, LimitsReport};
use superlab::explain::photo;
use superlab::models::generate::SamplingConfig;
use superlab::models::load::fit::{DeviceCapacity, Limit};
use superlab::models::load::policy::GenerationRequest;
use superlab::models::load::{self, Loaded, LoadedModel, ModelFiles, ModelKind};
use superlab::models::torch_legacy::TorchCheckpoint;
use superlab::models::weights::WeightSource;
use superlab::progress::Control;

const EFFICIENTNET: &str = "models/efficientnet-lite0/efficientnet-lite0-57934424.pth";
const SMOLLM2: &str = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const REWARD_TOLERANCE: f64 = 1e-4;

fn load_cpu(files: ModelFiles) -> Result<Loaded, LabError> {
    load::load_on(files, &Device::flex(), &DeviceCapacity::unlimited(), None)
}

fn error_of(result: Result<Loaded, LabError>) -> String {
    let error = result.expect_err("the files must be refused").to_string();
    println!("refused: {error}");
    error
}

fn assert_mentions(error: &str, needles: &[&str]) {
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} is not in: {error}");
    }
}

/// A device report of a GPU whose buffers bind at most `binding` bytes.
fn gpu_report(binding: u64) -> DeviceReport {
    DeviceReport {
        backend: BackendKind::Wgpu,
        description: "a small GPU".into(),
        adapter: Some(AdapterReport {
            name: "a small GPU".into(),
            vendor: String::new(),
            architecture: String::new(),
            device_type: "DiscreteGpu".into(),
            api: "Vulkan".into(),
            driver: String::new(),
            is_fallback_adapter: false,
            limits: LimitsReport {
                max_buffer_size: 1 << 30,
                max_storage_buffer_binding_size: binding,
                max_storage_buffers_per_shader_stage: 8,
                max_compute_invocations_per_workgroup: 256,
                max_compute_workgroup_storage_size: 16384,
                max_compute_workgroups_per_dimension: 65535,
            },
        }),
        fallback_reason: None,
    }
}

#[test]
fn a_gpt2_folder_makes_a_language_model_that_decodes_as_transformers() {
    let (files, case) = tiny_gpt2();
    assert_eq!(load::kind_of(&files).unwrap(), ModelKind::LanguageModel);
    let loaded = load_cpu(files).expect("the tiny GPT-2 loads");
    let summary = &loaded.summary;
    assert_eq!(summary.kind, ModelKind::LanguageModel);
    assert_eq!(summary.architecture, "gpt2");
    assert_eq!(summary.format, "safetensors");
    assert_eq!(summary.vocab_size, Some(97));
    assert_eq!(summary.tokenizer_vocab_size, Some(97));
    assert_eq!(summary.max_positions, Some(32));
    assert!(!summary.chat);
    let parameters: usize = (case.weights.iter())
        .map(|spec| spec.shape.iter().product::<usize>())
        .sum();
    assert_eq!(summary.parameters, parameters);
    assert_eq!(summary.weights_bytes, 4 * parameters as u64);

    let LoadedModel::Language(policy) = loaded.model else {
        panic!("not a language model");
    };
    let request = GenerationRequest {
        prompt: words(&case.greedy.prompt),
        chat: false,
        sampling: SamplingConfig::greedy(case.greedy.continuation.len()),
        ..GenerationRequest::default()
    };
    let mut steps = Vec::new();
    let record = async |step: &_| {
        steps.push(Clone::clone(step));
        Control::Continue
    };
    let generation = pollster::block_on(policy.generate(&request, &Device::flex(), record))
        .expect("the model generates");
    assert_eq!(generation.prompt_tokens, case.greedy.prompt);
    assert_eq!(generation.tokens, case.greedy.continuation);
    assert_eq!(generation.text, words(&case.greedy.continuation));
    assert!(!generation.ended && !generation.interrupted);
    assert_eq!(steps.len(), case.greedy.continuation.len());
    let last = steps.last().expect("a step");
    assert_eq!((last.step, last.total), (steps.len(), steps.len()));
    assert_eq!(last.text, generation.text);

    // A stop string ends the generation at the step its text appears, and the text stops
    // before it: here the first token of the continuation whose text is new.
    let continuation = &case.greedy.continuation;
    let stop_at = (1..continuation.len())
        .find(|&at| !words(&continuation[..at]).contains(&words(&continuation[at..=at])))
        .expect("a continuation with a new token");
    let stop = format!(" {}", words(&continuation[stop_at..=stop_at]));
    let stopping = GenerationRequest {
        stop_strings: vec![stop.clone()],
        ..request.clone()
    };
    let stopped = pollster::block_on(
        policy.generate(&stopping, &Device::flex(), async |_: &_| Control::Continue),
    )
    .expect("the model generates");
    assert!(stopped.ended && !stopped.interrupted, "{stopped:?}");
    assert_eq!(stopped.tokens, continuation[..=stop_at]);
    assert_eq!(stopped.text, words(&continuation[..stop_at]));
    assert!(!generation.text[..stopped.text.len()].contains(stop.as_str()));

    let chat = GenerationRequest {
        chat: true,
        ..request
    };
    let error = pollster::block_on(
        policy.generate(&chat, &Device::flex(), async |_: &_| Control::Continue),
    )
    .expect_err("no chat template")
    .to_string();
    assert_mentions(&error, &["no chat template"]);
}

/// A checkpoint split into shards with an index loads as the whole file does.
#[test]
fn a_sharded_checkpoint_loads_through_its_index() {
    let (files, case) = tiny_gpt2();
    let seed = model_files::gpt2_seed();
    let (first, second): (Vec<_>, Vec<_>) = (case.weights.iter().cloned())
        .partition(|spec| spec.name.contains(".h.0.") || spec.name.starts_with("h.0."));
    assert!(!first.is_empty() && !second.is_empty());
    let index = |specs: &[common::WeightSpec], shard: &str| {
        specs
            .iter()
            .map(|spec| (spec.name.clone(), serde_json::Value::from(shard)))
            .collect::<Vec<_>>()
    };
    let weight_map: serde_json::Map<String, serde_json::Value> =
        index(&first, "model-00001-of-00002.safetensors")
            .into_iter()
            .chain(index(&second, "model-00002-of-00002.safetensors"))
            .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    let mut sharded = files.clone();
    sharded.take("model.safetensors");
    let sharded = sharded
        .with(
            "model.safetensors.index.json",
            index.to_string().into_bytes(),
        )
        .with(
            "model-00001-of-00002.safetensors",
            common::safetensors_from_spec(seed, &first),
        )
        .with(
            "model-00002-of-00002.safetensors",
            common::safetensors_from_spec(seed, &second),
        );
    let loaded = load_cpu(sharded).expect("the shards load");
    assert_eq!(loaded.summary.name, "model");
    let LoadedModel::Language(policy) = loaded.model else {
        panic!("not a language model");
    };
    let request = GenerationRequest {
        prompt: words(&case.greedy.prompt),
        chat: false,
        sampling: SamplingConfig::greedy(case.greedy.continuation.len()),
        ..GenerationRequest::default()
    };
    let go_on = async |_: &_| Control::Continue;
    let generation = pollster::block_on(policy.generate(&request, &Device::flex(), go_on)).unwrap();
    assert_eq!(generation.tokens, case.greedy.continuation);

    let mut missing = files;
    missing.take("model.safetensors");
    let missing = missing
        .with(
            "model.safetensors.index.json",
            index.to_string().into_bytes(),
        )
        .with(
            "model-00001-of-00002.safetensors",
            common::safetensors_from_spec(seed, &first),
        );
    assert_mentions(
        &error_of(load_cpu(missing)),
        &["model-00002-of-00002.safetensors", "give all the shards"],
    );
}

/// Stop after the third step ends the generation there, with the tokens chosen so far.
#[test]
fn stopping_keeps_what_was_generated() {
    let (files, case) = tiny_gpt2();
    let LoadedModel::Language(policy) = load_cpu(files).unwrap().model else {
        panic!("not a language model");
    };
    let request = GenerationRequest {
        prompt: words(&case.greedy.prompt),
        chat: false,
        sampling: SamplingConfig::greedy(case.greedy.continuation.len()),
        ..GenerationRequest::default()
    };
    let stop_at_three =
        async |step: &superlab::models::load::policy::GenerationStep| match step.step {
            3 => Control::Stop,
            _ => Control::Continue,
        };
    let generation = pollster::block_on(policy.generate(&request, &Device::flex(), stop_at_three))
        .expect("the model generates");
    assert!(generation.interrupted);
    assert_eq!(generation.tokens, case.greedy.continuation[..3]);
}

#[test]
fn an_unknown_architecture_is_named() {
    let (files, _) = tiny_gpt2();
    let t5 = r#"{"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}"#;
    let files = files.with("config.json", t5.as_bytes().to_vec());
    let error = error_of(load::kind_of(&files).map(|_| unreachable!()));
    assert_mentions(
        &error,
        &[
            "t5",
            "T5ForConditionalGeneration",
            "gpt2, gpt_neox, llama",
            "bert, distilbert",
        ],
    );
    let timm = r#"{"architecture": "mobilenetv3_large_100", "num_classes": 1000}"#;
    let (files, _) = tiny_gpt2();
    let files = files.with("config.json", timm.as_bytes().to_vec());
    assert_eq!(load::kind_of(&files).unwrap(), ModelKind::ImageClassifier);
    assert_mentions(
        &error_of(load_cpu(files)),
        &[
            "mobilenetv3_large_100",
            "resnet18, vgg19, tf_efficientnet_lite0",
        ],
    );
}

#[test]
fn a_tokenizer_of_another_vocabulary_is_refused() {
    let (files, _) = tiny_gpt2();
    let files = files.with("tokenizer.json", word_tokenizer(200));
    assert_mentions(
        &error_of(load_cpu(files)),
        &[
            "ids up to 199",
            "only 97 entries",
            "does not belong to this model",
        ],
    );
    let (mut files, _) = tiny_gpt2();
    files.take("tokenizer.json");
    assert_mentions(&error_of(load_cpu(files)), &["no tokenizer.json"]);
}

/// The largest tensors of the tiny GPT-2 are its MLP projections of 32 x 128 values (16 KiB as
/// f32); an adapter that binds 8 KiB cannot hold it, one that binds 16 KiB can.
#[test]
fn a_model_larger_than_the_adapter_binds_is_refused_before_loading() {
    let (files, _) = tiny_gpt2();
    let small = DeviceCapacity::of(&gpu_report(8 << 10));
    let error = error_of(load::load_on(files, &Device::flex(), &small, None));
    assert_mentions(
        &error,
        &[
            "does not fit",
            ".mlp.c_",
            "16.0 KiB",
            "8.0 KiB",
            "a small GPU",
            "CPU backend",
        ],
    );
    let (files, _) = tiny_gpt2();
    let enough = DeviceCapacity::of(&gpu_report(16 << 10));
    load::load_on(files, &Device::flex(), &enough, None).expect("it fits");

    let (files, case) = tiny_gpt2();
    let parameters: usize = (case.weights.iter())
        .map(|spec| spec.shape.iter().product::<usize>())
        .sum();
    let memory = DeviceCapacity {
        per_tensor: None,
        total: Some(Limit {
            bytes: 64 << 10,
            holder: "the test memory holds".into(),
        }),
        advice: "choose a smaller model".into(),
    };
    let error = error_of(load::load_on(files, &Device::flex(), &memory, None));
    let total = format!("{:.1} KiB", (4 * parameters) as f64 / 1024.0);
    assert_mentions(
        &error,
        &["weights take", &total, "64.0 KiB", "smaller model"],
    );
}

/// VGG-19's first fully connected layer (25088 x 4096, 392 MiB) is kept in blocks of 64 MiB,
/// so it fits an adapter that binds WebGPU's guaranteed 128 MiB.
#[test]
fn blocked_layers_count_by_their_blocks() {
    use superlab::models::load::fit::Footprint;
    let capacity = DeviceCapacity::of(&gpu_report(128 << 20));
    let blocked = Footprint::in_blocks("classifier.0.weight", &[4096, 25088], 64 << 20);
    capacity.check(&[blocked]).expect("blocks of 64 MiB fit");
    let whole = Footprint::whole("classifier.0.weight", &[4096, 25088]);
    assert!(capacity.check(&[whole]).is_err());
}

#[test]
fn truncated_files_are_clear_errors() {
    let (files, _) = tiny_gpt2();
    let weights = files.bytes("model.safetensors").unwrap().to_vec();
    let cut = files
        .clone()
        .with("model.safetensors", weights[..weights.len() / 2].to_vec());
    assert_mentions(
        &error_of(load_cpu(cut)),
        &[
            "model.safetensors",
            "not a readable safetensors file",
            "truncated",
        ],
    );
    let config = files.bytes("config.json").unwrap().to_vec();
    let cut = files.with("config.json", config[..config.len() / 2].to_vec());
    assert_mentions(&error_of(load_cpu(cut)), &["config.json", "not valid JSON"]);

    let gguf = read_asset(SMOLLM2);
    let cut = ModelFiles::new().with("smollm2.gguf", gguf[..gguf.len() / 2].to_vec());
    assert_mentions(
        &error_of(load_cpu(cut)),
        &["smollm2.gguf", "cut short", "truncated"],
    );

    let pth = read_asset(EFFICIENTNET);
    let cut = ModelFiles::new().with("net.pth", pth[..pth.len() / 3].to_vec());
    assert_mentions(&error_of(load_cpu(cut)), &["net.pth"]);
}

/// A GGUF file of the smallest kind: the header and one metadata string.
fn gguf_with_architecture(architecture: &str) -> Vec<u8> {
    let string = |text: &str| {
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    bytes.extend(1u64.to_le_bytes());
    bytes.extend(string("general.architecture"));
    bytes.extend(8u32.to_le_bytes());
    bytes.extend(string(architecture));
    bytes
}

#[test]
fn other_formats_and_architectures_are_named() {
    let files = ModelFiles::new().with("phi.gguf", gguf_with_architecture("phi3"));
    assert_mentions(&error_of(load_cpu(files)), &["phi3", "Llama"]);

    let zip = ModelFiles::new().with("resnet18.pth", b"PK\x03\x04rest".to_vec());
    assert_mentions(&error_of(load_cpu(zip)), &["zip format", "safetensors"]);

    let (files, _) = tiny_gpt2();
    let mut weights_only = ModelFiles::new();
    weights_only.insert(
        "model.safetensors",
        files.bytes("model.safetensors").unwrap().to_vec(),
    );
    assert_eq!(
        load::kind_of(&weights_only).unwrap(),
        ModelKind::ImageClassifier
    );
    assert_mentions(
        &error_of(load_cpu(weights_only)),
        &["none of the image classifiers", "config.json"],
    );

    let pickle = ModelFiles::new()
        .with("config.json", b"{}".to_vec())
        .with("pytorch_model.bin", vec![0; 8]);
    assert_mentions(&error_of(load_cpu(pickle)), &["no weights", "pickled"]);

    let (files, _) = tiny_gpt2();
    let wrong = load::load_on(
        files,
        &Device::flex(),
        &DeviceCapacity::unlimited(),
        Some(ModelKind::ImageClassifier),
    );
    assert_mentions(
        &error_of(wrong),
        &["hold a language model, not an image classifier"],
    );
}

/// A fine-tuned classifier and an encoder with a head saved apart: rewards as transformers
/// computes them, from texts tokenised by the model's own tokenizer.
#[test]
fn encoder_checkpoints_make_reward_models_that_score_as_transformers() {
    for (group, name, architecture) in [
        (
            "classifiers",
            "distilbert_sentiment",
            "DistilBertForSequenceClassification",
        ),
        ("pooled", "distilbert_pooled", "DistilBertModel"),
    ] {
        let (files, case) = tiny_reward(group, name);
        assert_eq!(load::kind_of(&files).unwrap(), ModelKind::RewardModel);
        let loaded = load_cpu(files).expect("the reward model loads");
        assert_eq!(loaded.summary.architecture, architecture);
        assert_eq!(loaded.summary.vocab_size, Some(53));
        let LoadedModel::Reward(reward) = loaded.model else {
            panic!("not a reward model");
        };
        let scores = pollster::block_on(reward.score(&case.texts(), &Device::flex()))
            .expect("the texts score");
        assert_close(name, &scores, &case.rewards, REWARD_TOLERANCE, false);
    }
}

/// The packaged checkpoint, and the same tensors written as safetensors without a
/// `config.json` (recognised by their names) or with timm's, give the same top classes.
#[test]
fn classifiers_come_from_pth_and_from_safetensors() {
    let pth = read_asset(EFFICIENTNET);
    let names = read_asset("data/imagenet1k_names.json");
    let encoded = read_asset("photos/chelsea.png");
    let photo = photo::decode_photo(&encoded).unwrap().image;
    let from_pth = ModelFiles::new()
        .with("efficientnet-lite0.pth", pth.clone())
        .with("class_names.json", names.clone());
    let loaded = load_cpu(from_pth).expect("the checkpoint loads");
    assert_eq!(loaded.summary.architecture, "efficientnet_lite0");
    assert_eq!(loaded.summary.classes, Some(1000));
    assert!(loaded.summary.class_names);
    let LoadedModel::Classifier(classifier) = loaded.model else {
        panic!("not a classifier");
    };
    let reference = pollster::block_on(classifier.classify(&photo, 5, &Device::flex())).unwrap();
    assert!((281..=285).contains(&reference[0].class), "{reference:?}");
    assert_eq!(reference[0].name, "a cat having a striped coat");

    let checkpoint = TorchCheckpoint::from_bytes("efficientnet-lite0.pth", pth).unwrap();
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = (checkpoint.names().iter())
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .map(|name| {
            let (values, shape) = checkpoint.read_f32(name).unwrap();
            (
                name.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                shape,
            )
        })
        .collect();
    let views = tensors.iter().map(|(name, bytes, shape)| {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes);
        (name.clone(), view.unwrap())
    });
    let safetensors = safetensors::serialize(views, None).unwrap();
    let timm = br#"{"architecture": "tf_efficientnet_lite0", "num_classes": 1000}"#.to_vec();
    for config in [None, Some(timm)] {
        let mut files = ModelFiles::new().with("model.safetensors", safetensors.clone());
        if let Some(config) = config {
            files.insert("config.json", config);
        }
        let loaded = load_cpu(files).expect("the safetensors load");
        assert!(!loaded.summary.class_names);
        let LoadedModel::Classifier(classifier) = loaded.model else {
            panic!("not a classifier");
        };
        let ranked = pollster::block_on(classifier.classify(&photo, 5, &Device::flex())).unwrap();
        let classes: Vec<usize> = ranked.iter().map(|r| r.class).collect();
        let want: Vec<usize> = reference.iter().map(|r| r.class).collect();
        assert_eq!(classes, want);
        assert_eq!(ranked[0].probability, reference[0].probability);
        assert_eq!(ranked[0].name, format!("class {}", want[0]));
    }

    let corrupt = photo::decode_photo(&encoded[..1000]);
    let error = corrupt.expect_err("a cut-off PNG").to_string();
    assert_mentions(&error, &["the file is damaged"]);
}

/// The default language model, from its GGUF file with the tokenizer and chat template of its
/// metadata.
#[test]
fn the_default_gguf_makes_a_chat_model() {
    let files = ModelFiles::new().with("SmolLM2-135M-Instruct.Q4_1.gguf", read_asset(SMOLLM2));
    let loaded = load_cpu(files).expect("SmolLM2 loads");
    let summary = &loaded.summary;
    assert_eq!(summary.name, "SmolLM2-135M-Instruct");
    assert_eq!(
        (summary.architecture.as_str(), summary.format.as_str()),
        ("llama", "gguf")
    );
    assert_eq!(summary.vocab_size, Some(49152));
    assert_eq!(summary.max_positions, Some(8192));
    assert_eq!(summary.parameters, 134_515_008);
    assert!(summary.chat);
}
