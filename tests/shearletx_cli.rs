//! `superlab shearletx` run as a process, as a user runs it, with the packaged
//! EfficientNet-Lite0 and photographs on the CPU backend for a step or two.
//!
//! What is compared with what: the files it writes against the documented list and their
//! sizes; report.json's fields against the flags given (the configuration, the steps taken)
//! and against what must hold of them (numbers where scores are defined, one history entry
//! per step, the crop of the photograph); and its failures against the messages a user needs
//! (a class the classifier lacks, a setting the method does not have, a file that is no
//! image, an architecture without cached weights), each with a failing exit status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn superlab(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_superlab"))
        .arg("shearletx")
        .args(arguments)
        .output()
        .expect("the superlab binary runs")
}

/// An empty folder of the system's temporary folder, for one test.
fn scratch(name: &str) -> PathBuf {
    let folder = scratch_path(name);
    let _ = std::fs::remove_dir_all(&folder);
    folder
}

fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "superlab-shearletx-cli-{}-{name}",
        std::process::id()
    ))
}

fn photo(name: &str) -> String {
    common::asset(&format!("photos/{name}"))
        .display()
        .to_string()
}

fn succeed(arguments: &[&str]) -> Value {
    let output = superlab(arguments);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{arguments:?} failed:\n{stderr}");
    let out = arguments[arguments.iter().position(|a| *a == "--out").unwrap() + 1];
    let text = std::fs::read_to_string(Path::new(out).join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fail(arguments: &[&str]) -> String {
    let output = superlab(arguments);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "{arguments:?} succeeded");
    println!("{arguments:?}: {}", stderr.trim());
    stderr
}

fn number(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is {}", report[key]))
}

fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn shearletx_writes_the_report_and_images() {
    let out = scratch("shearletx");
    let out_text = out.display().to_string();
    let report = succeed(&[
        "--image",
        &photo("chelsea.png"),
        "--model",
        "default",
        "--steps",
        "2",
        "--noise-samples",
        "1",
        "--seed",
        "3",
        "--backend",
        "cpu",
        "--out",
        &out_text,
    ]);
    let config = &report["config"];
    assert_eq!(config["method"], "shearletx");
    assert_eq!(
        (&config["steps"], &config["noise_samples"], &config["seed"]),
        (&Value::from(2), &Value::from(1), &Value::from(3))
    );
    assert_eq!(config["lambda1"], 1.0);
    assert_eq!(config["lambda2"], 2.0);
    assert_eq!(report["status"]["state"], "completed");
    let class = report["class_index"].as_u64().unwrap();
    assert!(class < 1000);
    assert!(report["class_name"].is_string());
    for key in [
        "class_probability",
        "retained_probability",
        "cp_l1",
        "cp_l1_pixel",
        "cp_entropy",
        "hallucination_score",
    ] {
        let value = number(&report, key);
        println!("{key}: {value}");
        assert!(value.is_finite() && value > 0.0, "{key} is {value}");
    }
    let timings = &report["timings"];
    assert_eq!(timings["steps"], 2);
    for key in [
        "setup_ms",
        "optimisation_ms",
        "ms_per_step",
        "scoring_ms",
        "total_ms",
    ] {
        assert!(number(timings, key) > 0.0, "timings.{key}");
    }
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["step"], 2);
    assert!(history[1]["metrics"]["loss"].is_f64());
    assert_eq!(
        report["image"]["crop"]["offset"],
        serde_json::json!([64, 0])
    );
    assert_eq!(report["image"]["format"], "png");
    assert_eq!(report["model"]["architecture"], "efficientnet_lite0");

    let files: Vec<&str> = (report["files"].as_array().unwrap().iter())
        .map(|file| file.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "explanation.png",
            "mask.png",
            "mask_lowpass.png",
            "mask_scale_1.png",
            "mask_scale_2.png",
            "mask_scale_3.png",
            "mask_scale_4.png"
        ]
    );
    assert_eq!(png_size(&out.join("explanation.png")), (256, 256));
    assert_eq!(png_size(&out.join("mask_scale_4.png")), (256, 256));
    // Five views of 256 pixels, 4 pixels apart.
    assert_eq!(png_size(&out.join("mask.png")), (5 * 256 + 4 * 4, 256));
    let explanation = image::open(out.join("explanation.png")).unwrap();
    assert_eq!(explanation.color(), image::ColorType::Rgb8);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn smooth_pixel_writes_every_area_and_gradcam_takes_a_named_weights_file() {
    let out = scratch("smooth");
    let out_text = out.display().to_string();
    let report = succeed(&[
        "--image",
        &photo("coffee.png"),
        "--method",
        "smooth-pixel",
        "--steps",
        "1",
        "--areas",
        "0.1,0.2",
        "--backend",
        "cpu",
        "--out",
        &out_text,
    ]);
    let areas: Vec<f64> = (report["scores"].as_array().unwrap().iter())
        .map(|score| score["area"].as_f64().unwrap())
        .collect();
    assert_eq!(areas, [0.1, 0.2]);
    assert_eq!(report["config"]["method"], "smooth-pixel");
    assert_eq!(report["config"]["steps"], 1);
    for file in [
        "explanation_area_0.1.png",
        "mask_area_0.2.png",
        "mask_mask.png",
    ] {
        assert_eq!(png_size(&out.join(file)), (256, 256), "{file}");
    }

    let weights = common::asset("models/efficientnet-lite0/efficientnet-lite0-57934424.pth");
    let named = format!("efficientnet_lite0:{}", weights.display());
    let out = scratch("gradcam");
    let out_text = out.display().to_string();
    let report = succeed(&[
        "--image",
        &photo("rocket.jpg"),
        "--model",
        &named,
        "--method",
        "gradcam",
        "--class",
        "812",
        "--backend",
        "cpu",
        "--out",
        &out_text,
    ]);
    assert_eq!(report["class_index"], 812);
    assert_eq!(report["history"].as_array().unwrap().len(), 1);
    assert!(number(&report, "cp_entropy").is_finite());
    assert_eq!(png_size(&out.join("mask_heatmap.png")), (256, 256));
    // A weights file alone: the architecture is recognised from its tensor names.
    let out = scratch("recognised");
    let weights = weights.display().to_string();
    let report = succeed(&[
        "--image",
        &photo("rocket.jpg"),
        "--model",
        &weights,
        "--method",
        "gradcam",
        "--backend",
        "cpu",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(report["model"]["architecture"], "efficientnet_lite0");
    for folder in ["smooth", "gradcam", "recognised"] {
        std::fs::remove_dir_all(scratch_path(folder)).ok();
    }
}

#[test]
fn bad_requests_fail_with_the_reason() {
    let out = scratch("failures");
    let out_text = out.display().to_string();
    let chelsea = photo("chelsea.png");
    let base = ["--image", &chelsea, "--backend", "cpu", "--out", &out_text];
    let with = |extra: &[&'static str]| {
        let mut arguments: Vec<&str> = base.to_vec();
        arguments.extend(extra);
        fail(&arguments)
    };
    let message = with(&["--class", "1000", "--method", "gradcam"]);
    assert!(message.contains("class 1000 does not exist"), "{message}");
    let message = with(&["--method", "cartoonx", "--lambda2", "3"]);
    assert!(
        message.contains("cartoonx has no lambda2 setting"),
        "{message}"
    );
    let message = with(&["--method", "gradcam", "--steps", "3"]);
    assert!(
        message.contains("gradcam has no steps setting"),
        "{message}"
    );
    let message = with(&["--model", "resnet18"]);
    assert!(
        message.contains("holds no weights for resnet18"),
        "{message}"
    );
    let message = with(&["--variant", "sideways"]);
    assert!(message.contains("expected reference or paper"), "{message}");

    std::fs::create_dir_all(&out).unwrap();
    let text_file = out.join("notes.png");
    std::fs::write(&text_file, "not a picture at all").unwrap();
    let text_path = text_file.display().to_string();
    let message = fail(&["--image", &text_path, "--out", &out_text]);
    assert!(
        message.contains(&text_path) && message.contains("not an image the lab can read"),
        "{message}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
