//! `superlab generate`, `score` and `classify`, run as processes on models written by the test
//! and on the cached defaults, against transformers, timm and PyTorch.
//!
//! References:
//! - the tiny random GPT-2 and DistilBERT reward models of `tests/fixtures/gpt2.json` and
//!   `tests/fixtures/encoders.json` (`tests/oracle/gpt2.py`, `tests/oracle/encoders.py`):
//!   greedy tokens exactly (the smallest gap between the two largest logits is 0.022, far
//!   above f32 rounding), rewards within 1e-4 (f32 on values of order one, summed in other
//!   orders);
//! - the default SmolLM2-135M-Instruct (`tests/fixtures/default_generation.json`,
//!   `tests/oracle/default_generation.py`): transformers' chat template text and token ids, and
//!   its greedy tokens up to the end of the turn, exactly (the smallest gap between the two
//!   largest logits on the way is 0.08; `tests/smollm2.rs` holds the logits to 1e-4 of the
//!   largest, about 3e-3);
//! - the default EfficientNet-Lite0 (`tests/fixtures/efficientnet_lite0.json`,
//!   `tests/oracle/efficientnet_lite0.py`, timm in float64): the top five classes of
//!   `chelsea.png` in order, and their probabilities within 1e-4 (`tests/efficientnet_lite0.rs`
//!   holds the logits to 1e-3, which moves these probabilities by at most 4e-4 times their
//!   size, below 1e-4 for these).
//!
//! A sampled generation with a fixed seed must repeat exactly.

mod common;
mod model_files;

use common::{assert_close, asset, fixture};
use model_files::{TempFolder, tiny_gpt2, tiny_reward, words};
use serde::Deserialize;
use std::process::{Command, Output};

const REWARD_TOLERANCE: f64 = 1e-4;
const PROBABILITY_TOLERANCE: f64 = 1e-4;
/// SmolLM2's `<|im_end|>`, which ends a turn.
const END_OF_TURN: u32 = 2;

fn superlab(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_superlab"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the tool runs");
    println!("superlab {}", args.join(" "));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Standard output of a run that must succeed.
fn succeeds(args: &[&str]) -> String {
    let output = superlab(args);
    assert!(
        output.status.success(),
        "superlab {} failed",
        args.join(" ")
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Standard error of a run that must fail.
fn fails(args: &[&str]) -> String {
    let output = superlab(args);
    assert!(
        !output.status.success(),
        "superlab {} succeeded",
        args.join(" ")
    );
    String::from_utf8(output.stderr).expect("UTF-8 output")
}

#[derive(Deserialize)]
struct Generation {
    prompt: String,
    prompt_tokens: Vec<u32>,
    tokens: Vec<u32>,
    text: String,
    ended: bool,
}

fn generation(args: &[&str]) -> Generation {
    serde_json::from_str(&succeeds(args)).expect("a generation as JSON")
}

#[test]
fn generate_decodes_a_model_folder_as_transformers() {
    let (files, case) = tiny_gpt2();
    let folder = TempFolder::new("gpt2");
    folder.write(&files);
    let model = folder.path().to_str().unwrap();
    let prompt = words(&case.greedy.prompt);
    let new_tokens = case.greedy.continuation.len().to_string();
    let greedy = ["--temperature", "0", "--max-new-tokens", &new_tokens];
    let args = [
        &[
            "generate",
            "--model",
            model,
            "--prompt",
            &prompt,
            "--backend",
            "cpu",
            "--json",
        ][..],
        &greedy,
    ]
    .concat();
    let result = generation(&args);
    assert_eq!(result.prompt_tokens, case.greedy.prompt);
    assert_eq!(result.tokens, case.greedy.continuation);
    assert_eq!(result.text, words(&case.greedy.continuation));

    // Without --json the text alone, as it is generated.
    let plain = [&args[..args.len() - greedy.len() - 1], &greedy].concat();
    assert_eq!(succeeds(&plain).trim_end(), result.text);
}

#[test]
fn generate_with_the_default_model_frames_chats_and_decodes_as_transformers() {
    #[derive(Deserialize)]
    struct Case {
        text: String,
        tokens: Vec<u32>,
        continuation: Vec<u32>,
    }
    #[derive(Deserialize)]
    struct Fixture {
        chat: Case,
        plain: Case,
    }
    let fixture: Fixture = fixture("default_generation");
    let greedy = ["--temperature", "0", "--backend", "cpu", "--json"];
    let message = "What is the capital of France?";
    let chat = [
        &[
            "generate", "--model", "default", "--chat", "--prompt", message,
        ][..],
        &greedy,
        &["--max-new-tokens", "12"],
    ]
    .concat();
    let result = generation(&chat);
    assert_eq!(result.prompt, fixture.chat.text);
    assert_eq!(result.prompt_tokens, fixture.chat.tokens);
    let end = (fixture.chat.continuation.iter())
        .position(|&token| token == END_OF_TURN)
        .expect("the reply ends its turn");
    assert_eq!(result.tokens, fixture.chat.continuation[..=end]);
    assert!(result.ended);
    assert_eq!(result.text, "The capital of France is Paris.");

    let plain = [
        &["generate", "--prompt", &fixture.plain.text][..],
        &greedy,
        &["--max-new-tokens", "8"],
    ]
    .concat();
    let result = generation(&plain);
    assert_eq!(result.prompt_tokens, fixture.plain.tokens);
    assert_eq!(result.tokens, fixture.plain.continuation[..8]);
}

#[test]
fn a_sampled_generation_repeats_with_its_seed() {
    let sample = |seed: &str| {
        generation(&[
            "generate",
            "--model",
            "default",
            "--prompt",
            "Once upon a time",
            "--seed",
            seed,
            "--temperature",
            "0.9",
            "--top-p",
            "0.9",
            "--top-k",
            "50",
            "--max-new-tokens",
            "16",
            "--backend",
            "cpu",
            "--json",
        ])
    };
    let first = sample("7");
    let again = sample("7");
    assert_eq!(first.tokens.len(), 16);
    assert_eq!(first.tokens, again.tokens);
    assert_eq!(first.text, again.text);
    println!("seed 7: {:?}", first.text);
}

#[test]
fn score_gives_the_reward_of_each_text() {
    for (group, name) in [
        ("classifiers", "distilbert_sentiment"),
        ("pooled", "distilbert_pooled"),
    ] {
        let (files, case) = tiny_reward(group, name);
        let folder = TempFolder::new(name);
        folder.write(&files);
        let mut args = vec![
            "score".to_string(),
            "--reward-model".into(),
            folder.path().to_str().unwrap().into(),
            "--backend".into(),
            "cpu".into(),
        ];
        for text in case.texts() {
            args.extend(["--text".into(), text]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let scores: Vec<f32> = (succeeds(&args).lines())
            .map(|line| line.parse().expect("a score per line"))
            .collect();
        assert_close(name, &scores, &case.rewards, REWARD_TOLERANCE, false);
    }
}

#[test]
fn classify_ranks_the_photo_as_timm() {
    #[derive(Deserialize)]
    struct Photo {
        file: String,
        logits: Vec<f64>,
        top5: Vec<usize>,
    }
    #[derive(Deserialize)]
    struct Fixture {
        photos: Vec<Photo>,
    }
    #[derive(Deserialize)]
    struct Ranked {
        class: usize,
        name: String,
        probability: f32,
    }
    let fixture: Fixture = fixture("efficientnet_lite0");
    let photo = (fixture.photos.iter())
        .find(|photo| photo.file.ends_with("chelsea.png"))
        .expect("chelsea in the fixture");
    let image = asset("photos/chelsea.png");
    let output = succeeds(&[
        "classify",
        "--model",
        "default",
        "--image",
        image.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let ranked: Vec<Ranked> = serde_json::from_str(&output).expect("the top five as JSON");
    let classes: Vec<usize> = ranked.iter().map(|r| r.class).collect();
    assert_eq!(classes, photo.top5);
    assert!((281..=285).contains(&classes[0]), "a cat class first");
    assert!(ranked[0].name.contains("cat"), "{}", ranked[0].name);

    let largest = photo
        .logits
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = photo.logits.iter().map(|l| (l - largest).exp()).sum();
    let want: Vec<f64> = (photo.top5.iter())
        .map(|&class| (photo.logits[class] - largest).exp() / total)
        .collect();
    let got: Vec<f32> = ranked.iter().map(|r| r.probability).collect();
    assert_close("probabilities", &got, &want, PROBABILITY_TOLERANCE, false);
}

/// Through wgpu (Mesa's lavapipe where there is no GPU driver) the ranking is the CPU's: the
/// same classes, probabilities within 1e-4 (the backends sum in other orders; the logits move
/// by about 1e-5).
#[test]
fn classify_on_wgpu_ranks_as_on_the_cpu() {
    #[derive(Deserialize)]
    struct Ranked {
        class: usize,
        probability: f32,
    }
    let image = asset("photos/coffee.png");
    let ranking = |backend: &str| -> Vec<Ranked> {
        let args = [
            "classify",
            "--image",
            image.to_str().unwrap(),
            "--backend",
            backend,
        ];
        serde_json::from_str(&succeeds(&args)).expect("the top five as JSON")
    };
    let (cpu, wgpu) = (ranking("cpu"), ranking("wgpu"));
    let classes = |ranked: &[Ranked]| ranked.iter().map(|r| r.class).collect::<Vec<_>>();
    assert_eq!(classes(&wgpu), classes(&cpu));
    let want: Vec<f64> = cpu.iter().map(|r| f64::from(r.probability)).collect();
    let got: Vec<f32> = wgpu.iter().map(|r| r.probability).collect();
    assert_close(
        "wgpu probabilities",
        &got,
        &want,
        PROBABILITY_TOLERANCE,
        false,
    );
}

#[test]
fn the_tool_says_what_it_cannot_read() {
    let error = fails(&[
        "generate",
        "--model",
        "HuggingFaceTB/SmolLM2-360M",
        "--prompt",
        "Hi",
    ]);
    assert!(error.contains("reads models from local files"), "{error}");
    assert!(
        error.contains("https://huggingface.co/HuggingFaceTB/SmolLM2-360M"),
        "{error}"
    );

    let folder = TempFolder::new("not-an-image");
    let fake = folder.path().join("photo.png");
    std::fs::write(&fake, b"not a picture").unwrap();
    // The photo is checked before the model is looked for, and worded as `superlab shearletx`
    // words it.
    let error = fails(&[
        "classify",
        "--model",
        "/no/such/classifier",
        "--image",
        fake.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(
        error.contains("photo.png: this is not an image the lab can read"),
        "{error}"
    );
    assert!(!error.contains("invalid configuration"), "{error}");

    let error = fails(&["classify", "--top", "0", "--image", "x.png"]);
    assert!(error.contains("must be at least 1"), "{error}");
    let error = fails(&["generate", "--max-new-tokens", "0", "--prompt", "Hi"]);
    assert!(error.contains("must be at least 1"), "{error}");

    // A bad line stops METEOR before it prints any score.
    let pairs = folder.path().join("pairs.jsonl");
    let good = r#"{"hypothesis": "a cat sat", "reference": "the cat sat"}"#;
    std::fs::write(&pairs, format!("{good}\n{{\"hypothesis\": 1}}\n")).unwrap();
    let output = superlab(&["meteor", "--pairs", pairs.to_str().unwrap()]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("pairs.jsonl:2:"), "{error}");

    let error = fails(&["score", "--reward-model", "no/such-model", "--text", "Hi"]);
    assert!(error.contains("there is no file or folder"), "{error}");

    let image = asset("photos/chelsea.png");
    let image = image.to_str().unwrap();
    let error = fails(&[
        "classify",
        "--model",
        "smollm2-135m-instruct",
        "--image",
        image,
    ]);
    assert!(
        error.contains("is a language model, not an image classifier"),
        "{error}"
    );
}
