//! `superlab bench --smoke` runs the lab's side and the PyTorch side
//! (`scripts/bench_reference.py` in the oracle environment) on the smallest workloads, one
//! repetition each, and writes a report that reads back with every field the table needs.
//!
//! Benchmarks time nothing here: the figures of a smoke run mean nothing and are not checked
//! against any bound. What is checked is that both sides ran the same plan: each planned
//! workload has one positive time from each, the ratio is theirs, PyTorch ran with the lab's
//! number of threads. The browser side is left out here (it needs the built page; the
//! browser tests run it).

use std::process::Command;

use serde_json::Value;

const MEASURED: [&str; 3] = [
    "shearlet_transform",
    "shearletx_resnet18",
    "classifier_mobilenet_v3_small",
];

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

#[test]
fn a_smoke_run_measures_both_sides_and_writes_its_report() {
    let out =
        std::env::temp_dir().join(format!("superlab-bench-smoke-{}.json", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_superlab"))
        .args(["bench", "--smoke", "--backend", "cpu"])
        .args([
            "--only",
            "shearlet,shearletx,classifiers,generation,superhf",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("the tool starts");
    assert!(status.success(), "superlab bench --smoke failed: {status}");
    let text = std::fs::read_to_string(&out).expect("the report was written");
    std::fs::remove_file(&out).ok();
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");

    assert_eq!(report["plan"]["scale"], "smoke");
    let threads = report["threads"].as_u64().expect("the lab's threads");
    assert_eq!(report["pytorch"]["threads"].as_u64(), Some(threads));
    assert!(report["machine"]["logical_cores"].as_u64().unwrap() >= 1);

    for id in MEASURED {
        for side in [
            &report["lab"]["cpu"]["workloads"][id],
            &report["pytorch"]["workloads"][id],
        ] {
            let seconds = side["seconds"]
                .as_array()
                .unwrap_or_else(|| panic!("{id}: {side}"));
            assert_eq!(seconds.len(), 1, "{id}: one repetition");
            assert!(number(&seconds[0], id) > 0.0);
        }
    }

    let summary = report["summary"].as_array().expect("a summary");
    let ids: Vec<&str> = summary.iter().map(|s| s["id"].as_str().unwrap()).collect();
    println!("summary: {ids:?}");
    for id in MEASURED {
        let row = summary
            .iter()
            .find(|s| s["id"] == id)
            .expect("a row per workload");
        assert_eq!(row["status"], "measured");
        let comparison = &row["comparisons"][0];
        assert_eq!(comparison["backend"], "cpu");
        let lab = number(&comparison["lab_median_seconds"], id);
        let pytorch = number(&comparison["pytorch_median_seconds"], id);
        let ratio = number(&comparison["ratio"], id);
        println!("{id}: lab {lab:.3} s, PyTorch {pytorch:.3} s, ratio {ratio:.2}");
        assert!((ratio - lab / pytorch).abs() <= 1e-9 * ratio);
    }
    assert!(summary.iter().all(|s| s["id"] != "browser"));
    assert_eq!(report["plan"]["browser"], false);
    // The smoke scale plans neither language-model workload: loading SmolLM2 on both sides
    // would take most of a minute.
    for id in ["generation_smollm2", "superhf_iteration"] {
        assert!(summary.iter().all(|s| s["id"] != id), "{id} is not planned");
        assert!(report["plan"][id.split('_').next().unwrap()].is_null());
    }
}
