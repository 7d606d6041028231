//! `superlab superhf`, `superlab best-of-n` and `superlab ppo` as a user runs them: the tiny models of
//! `tests/tiny_superhf/mod.rs` written as hub folders, a preset shortened to two steps, and the
//! files the commands write, with the fields `src/cli/superhf.rs` documents. The model hashes
//! in the report are checked against SHA-256 of the files computed here. One run takes the
//! embedded default models from the asset cache, as a run without model flags does.

mod common;
mod tiny_superhf;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use superlab::models::load::ModelKind;
use superlab::models::load::defaults::{self, DEFAULT, DEFAULT_HELDOUT};
use superlab::models::weights::Weights;
use tiny_superhf::{HELDOUT_SEED, REWARD_SEED};

struct Folders {
    policy: PathBuf,
    reward: PathBuf,
    heldout: PathBuf,
    root: PathBuf,
}

fn folders(name: &str) -> Folders {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let folders = Folders {
        policy: root.join("policy"),
        reward: root.join("reward"),
        heldout: root.join("heldout"),
        root,
    };
    tiny_superhf::write_policy_folder(&folders.policy);
    tiny_superhf::write_reward_folder(&folders.reward, REWARD_SEED);
    tiny_superhf::write_reward_folder(&folders.heldout, HELDOUT_SEED);
    folders
}

fn superlab(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_superlab"))
        .args(args)
        .output()
        .expect("the tool runs");
    println!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn run(command: &str, folders: &Folders, out: &Path) {
    let output = superlab(&[
        command,
        "--preset",
        "sentiment",
        "--steps",
        "2",
        "--seed",
        "4",
        "--backend",
        "cpu",
        "--policy",
        path(&folders.policy),
        "--reward-model",
        path(&folders.reward),
        "--heldout-reward-model",
        path(&folders.heldout),
        "--out",
        path(out),
    ]);
    assert!(output.status.success(), "superlab {command} failed");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sha256(path: &Path) -> String {
    sha256_of(&std::fs::read(path).unwrap())
}

fn sha256_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The report's model entry names every file of the folder with its hash.
fn check_identity(identity: &Value, folder: &Path) {
    assert_eq!(identity["id"], path(folder));
    let files = identity["files"].as_array().unwrap();
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        let file = (files.iter())
            .find(|file| file["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(file["sha256"], sha256(&folder.join(name)), "{name}");
    }
}

/// The per-step series, the sample table and the metrics file agree with each other.
fn check_common(out: &Path, report: &Value, series: &[&str]) {
    assert_eq!(report["status"]["state"], "completed");
    assert_eq!(report["config"]["preset"], "sentiment");
    assert_eq!(report["device"]["backend"], "cpu");
    assert_eq!(report["steps"].as_array().unwrap().len(), 2);
    let result = &report["result"];
    assert_eq!(result["seed"], 4);
    for name in series {
        let values = result[name].as_array().unwrap_or_else(|| panic!("{name}"));
        assert_eq!(values.len(), 2, "{name}");
    }
    let samples = result["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    let lines: Vec<Value> = std::fs::read_to_string(out.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(&lines, samples);
    for field in [
        "step",
        "prompt",
        "completion",
        "reward_train",
        "reward_heldout",
        "kept",
    ] {
        assert!(lines[0].get(field).is_some(), "samples carry {field}");
    }
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "a header and a row per step:\n{csv}");
    let header: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(header[0], "step");
    for name in ["reward_train", "reward_heldout", "kl", "meteor_similarity"] {
        assert!(
            header.contains(&name),
            "metrics.csv has {name}: {}",
            rows[0]
        );
    }
    check_identity(&result["models"]["policy"], &folder_of(report, "policy"));
}

fn folder_of(report: &Value, role: &str) -> PathBuf {
    PathBuf::from(report["result"]["models"][role]["id"].as_str().unwrap())
}

#[test]
fn superhf_writes_report_samples_metrics_and_a_peft_adapter() {
    let folders = folders("superhf-cli");
    let out = folders.root.join("run");
    run("superhf", &folders, &out);
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["lab"], "superhf");
    let series = [
        "reward_train",
        "reward_heldout",
        "kl",
        "meteor_similarity",
        "loss",
    ];
    check_common(&out, &report, &series);
    check_identity(&report["result"]["models"]["reward"], &folders.reward);
    check_identity(
        &report["result"]["models"]["heldout_reward"],
        &folders.heldout,
    );
    assert_eq!(report["config"]["rollout"]["chat_frame"], false);

    let adapter = out.join("adapter");
    let config = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 32.0);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "v_proj"])
    );
    let bytes = std::fs::read(adapter.join("adapter_model.safetensors")).unwrap();
    let weights = Weights::from_safetensors("adapter_model.safetensors", bytes).unwrap();
    let names = weights.names();
    assert_eq!(
        names.len(),
        2 * 2 * 2,
        "two projections, two layers, two factors"
    );
    assert!(
        names
            .iter()
            .all(|name| name.starts_with("base_model.model.model.layers."))
    );
}

#[test]
fn best_of_n_writes_report_samples_and_metrics() {
    let folders = folders("best-of-n-cli");
    let out = folders.root.join("run");
    run("best-of-n", &folders, &out);
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["lab"], "best-of-n");
    let series = [
        "reward_train",
        "reward_heldout",
        "kl",
        "meteor_similarity",
        "reward_train_all",
    ];
    check_common(&out, &report, &series);
    assert!(!out.join("adapter").exists());
}

/// PPO writes SuperHF's files under SuperHF's series names, and its value head beside the
/// adapter under trl's names.
#[test]
fn ppo_writes_superhf_files_and_the_value_head() {
    let folders = folders("ppo-cli");
    let out = folders.root.join("run");
    run("ppo", &folders, &out);
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["lab"], "ppo");
    let series = [
        "reward_train",
        "reward_heldout",
        "kl",
        "meteor_similarity",
        "loss",
        "policy_loss",
        "value_loss",
        "clip_fraction",
        "approximate_kl",
        "kl_coefficient",
        "score_mean",
    ];
    check_common(&out, &report, &series);
    check_identity(&report["result"]["models"]["reward"], &folders.reward);
    assert_eq!(report["config"]["ppo"]["kl_coefficient"], 0.2);
    assert_eq!(report["config"]["rollout"]["completions_per_prompt"], 8);
    assert!(report["result"]["divergence"].is_null());
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    for name in [
        "policy_loss",
        "value_loss",
        "clip_fraction",
        "approximate_kl",
    ] {
        assert!(csv.lines().next().unwrap().contains(name), "{name}");
    }

    let adapter = out.join("adapter");
    let config = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(
        (config["peft_type"].as_str(), config["r"].as_u64()),
        (Some("LORA"), Some(4))
    );
    let bytes = std::fs::read(adapter.join("adapter_model.safetensors")).unwrap();
    let weights = Weights::from_safetensors("adapter_model.safetensors", bytes).unwrap();
    assert_eq!(weights.names().len(), 2 * 2 * 2);
    let bytes = std::fs::read(adapter.join("value_head.safetensors")).unwrap();
    let head = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = head.names();
    names.sort();
    assert_eq!(names, ["v_head.summary.bias", "v_head.summary.weight"]);
    let weight = head.tensor("v_head.summary.weight").unwrap();
    assert_eq!(weight.shape(), [1, 32], "[1, the policy's width]");
    assert_eq!(head.tensor("v_head.summary.bias").unwrap().shape(), [1]);
    // The head trained: it is no longer as `ValueHead::new` drew it from the run's seed.
    let values: Vec<f32> = (weight.data().chunks_exact(4))
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let initial = superlab::rng::named_uniform(4, "value_head.weight", 32, 1.0 / 32f32.sqrt(), 0.0);
    assert!(values.iter().all(|v| v.is_finite()));
    assert_ne!(values, initial);
}

/// The report's model entry names every file of the default model `spec` with its hash: the
/// cached assets and the files built into the lab.
fn check_default_identity(identity: &Value, spec: &str, kind: ModelKind) {
    assert_eq!(identity["id"], spec);
    let model = defaults::find(spec, kind).unwrap().unwrap();
    let assets = (model.files.iter()).map(|file| (file.name, common::read_asset(file.asset)));
    let built_in = (model.built_in.iter()).map(|file| (file.name, file.bytes.to_vec()));
    let mut expected: Vec<(&str, String)> = (assets.chain(built_in))
        .map(|(name, bytes)| (name, sha256_of(&bytes)))
        .collect();
    expected.sort();
    let listed: Vec<(&str, String)> = (identity["files"].as_array().unwrap().iter())
        .map(|file| {
            let name = file["name"].as_str().unwrap();
            (name, file["sha256"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(listed, expected, "{spec}");
}

/// Without model flags a run takes SmolLM2-135M-Instruct and the two default sentiment
/// rewards from the asset cache. One step of the sentiment preset on the CPU: about 35 s in
/// the dev profile on two shared cores.
#[test]
fn superhf_runs_on_the_default_models() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("defaults-cli");
    let _ = std::fs::remove_dir_all(&root);
    let out = root.join("run");
    let output = superlab(&[
        "superhf",
        "--preset",
        "sentiment",
        "--steps",
        "1",
        "--backend",
        "cpu",
        "--out",
        path(&out),
    ]);
    assert!(output.status.success(), "superlab superhf failed");
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["status"]["state"], "completed");
    let models = &report["result"]["models"];
    check_default_identity(&models["policy"], DEFAULT, ModelKind::LanguageModel);
    check_default_identity(&models["reward"], DEFAULT, ModelKind::RewardModel);
    check_default_identity(
        &models["heldout_reward"],
        DEFAULT_HELDOUT,
        ModelKind::RewardModel,
    );
    for series in ["reward_train", "reward_heldout", "kl"] {
        let values = report["result"][series].as_array().unwrap();
        assert_eq!(values.len(), 1, "{series}");
        assert!(values[0].as_f64().is_some_and(f64::is_finite), "{series}");
    }
    assert!(out.join("adapter/adapter_model.safetensors").is_file());
}

#[test]
fn a_model_that_is_not_there_is_explained() {
    let folders = folders("missing-cli");
    let out = folders.root.join("run");
    let missing = folders.root.join("no-such-policy");
    let output = superlab(&[
        "superhf",
        "--preset",
        "paper",
        "--policy",
        path(&missing),
        "--reward-model",
        path(&folders.reward),
        "--heldout-reward-model",
        "none",
        "--out",
        path(&out),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let expected = format!("there is no file or folder {}", path(&missing));
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!out.exists(), "nothing is written before the models load");
    let output = superlab(&["superhf", "--preset", "fast", "--out", path(&out)]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown preset 'fast'"));
}
