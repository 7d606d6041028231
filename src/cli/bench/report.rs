//! The benchmark's report: every repetition of both sides as JSON, and a table of medians
//! with the ratio of the lab's time to PyTorch's.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use superlab::models::vision::Architecture;

use super::browser::BrowserRun;
use super::lab::BackendRun;
use super::machine::Machine;
use super::plan::{Plan, Scale};
use super::reference::ReferenceRun;
use super::timing::Timings;

/// One workload's timings on one side, with what else that side reported about it (the
/// target class and losses of a ShearletX run, the tokens generated).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measured {
    #[serde(flatten)]
    pub timings: Timings,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Measured {
    pub fn new(timings: Timings) -> Self {
        Self {
            timings,
            extra: BTreeMap::new(),
        }
    }

    fn tokens(&self) -> Option<f64> {
        self.extra.get("tokens").and_then(serde_json::Value::as_f64)
    }

    /// Tokens per second at the median time.
    fn tokens_per_second(&self) -> Option<f64> {
        Some(self.tokens()? / self.timings.median()?)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Measured,
    /// Compared with the native tool rather than PyTorch: see `browser_summary`.
    Browser,
}

/// One row of the table: a workload on one of the lab's backends against PyTorch.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub backend: String,
    pub lab_median_seconds: Option<f64>,
    pub lab_repetitions: usize,
    pub lab_failure: Option<String>,
    /// Why the lab left it out on this backend.
    pub lab_skipped: Option<String>,
    pub pytorch_median_seconds: Option<f64>,
    pub pytorch_repetitions: usize,
    /// The lab's median over PyTorch's: below 1, the lab is faster.
    pub ratio: Option<f64>,
    pub lab_tokens_per_second: Option<f64>,
    pub pytorch_tokens_per_second: Option<f64>,
}

/// A ShearletX explanation's whole run: all its steps, measured or estimated.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub steps: usize,
    /// Whether every step ran; otherwise the times are the median step times `steps`.
    pub measured: bool,
    pub lab_seconds: Option<f64>,
    pub pytorch_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub number: u8,
    pub id: String,
    pub title: String,
    pub status: Status,
    pub comparisons: Vec<Comparison>,
    pub explanations: Vec<Explanation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub produced_by: String,
    pub superlab_version: String,
    pub burn_version: String,
    pub build_profile: String,
    /// False while the run is still going (or was stopped): the sides measured so far.
    pub complete: bool,
    pub started_unix_seconds: u64,
    pub elapsed_seconds: f64,
    pub machine: Machine,
    pub load_average_at_end: Option<[f64; 3]>,
    /// rayon's threads, which burn's CPU backend computes with; PyTorch gets as many.
    pub threads: usize,
    pub plan: Plan,
    /// What the scale and the plan mean for the figures, in words.
    pub notes: Vec<String>,
    pub summary: Vec<Summary>,
    /// Every repetition of every workload on each of the lab's backends.
    pub lab: BTreeMap<String, BackendRun>,
    pub pytorch: ReferenceRun,
    /// The page in headless Chromium against the native tool, when it was timed.
    pub browser_summary: Option<Vec<BrowserComparison>>,
    pub browser: Option<BrowserRun>,
    /// Backends (and the browser side) that were asked for but could not run.
    pub unavailable: BTreeMap<String, String>,
}

/// One row of the browser's table: a tiny configuration in the page on one of its backends
/// against the same run through the native tool on the CPU backend.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserComparison {
    pub id: String,
    pub title: String,
    pub page_backend: String,
    pub page_median_seconds: Option<f64>,
    pub page_repetitions: usize,
    pub native_median_seconds: Option<f64>,
    pub native_repetitions: usize,
    /// The page's median over the native tool's: what the browser costs.
    pub ratio: Option<f64>,
}

/// The lab's version of burn: `Cargo.toml` pins it exactly.
pub const BURN_VERSION: &str = "0.22.1";

/// The table's rows, in the order the workloads are numbered, with the ones not measured yet.
pub fn summarise(
    plan: &Plan,
    lab: &BTreeMap<String, BackendRun>,
    pytorch: &ReferenceRun,
) -> Vec<Summary> {
    let mut summaries = Vec::new();
    let mut add = |number, id: String, title: String| {
        summaries.push(compare(number, id, title, plan, lab, pytorch));
    };
    if let Some(shearlet) = &plan.shearlet {
        let size = shearlet.size;
        let title = format!("shearlet analysis + synthesis, {size}x{size} RGB, 49 bands");
        add(1, "shearlet_transform".into(), title);
    }
    if let Some(shearletx) = &plan.shearletx {
        for architecture in &shearletx.classifiers {
            let title = format!(
                "ShearletX step, {0}x{0}, {1} noise samples, {2}",
                shearletx.size,
                shearletx.noise_samples,
                describe(*architecture)
            );
            add(2, format!("shearletx_{}", architecture.name()), title);
        }
    }
    if let Some(classifiers) = &plan.classifiers {
        for architecture in &classifiers.architectures {
            let title = format!(
                "{} forward + backward, batch {} at {}",
                describe(*architecture),
                classifiers.batch,
                classifiers.size
            );
            add(3, format!("classifier_{}", architecture.name()), title);
        }
    }
    if let Some(generation) = &plan.generation {
        let title = format!(
            "SmolLM2-135M sampling, {} sequences x {} new tokens, top-p {}",
            generation.sequences, generation.new_tokens, generation.top_p
        );
        add(4, "generation_smollm2".into(), title);
    }
    if let Some(superhf) = &plan.superhf {
        let rollout = &superhf.config.rollout;
        let title = format!(
            "one SuperHF iteration, {} prompts x {} completions x {} tokens, LoRA rank 4",
            rollout.prompts_per_step, rollout.completions_per_prompt, rollout.new_tokens.max
        );
        add(5, "superhf_iteration".into(), title);
    }
    if plan.browser {
        summaries.push(Summary {
            number: 6,
            id: "browser".into(),
            title: BROWSER_TITLE.into(),
            status: Status::Browser,
            comparisons: Vec::new(),
            explanations: Vec::new(),
        });
    }
    summaries
}

const BROWSER_TITLE: &str = "the page in headless Chromium (WebGPU, wasm CPU)";

/// The browser's rows: each workload on each of the page's backends that ran it.
pub fn summarise_browser(run: &BrowserRun) -> Vec<BrowserComparison> {
    let mut rows = Vec::new();
    for (id, title) in &run.workloads {
        let native = run.native_cpu.get(id);
        let native_median = native.and_then(Timings::median);
        for (backend, workloads) in &run.page {
            let Some(page) = workloads.get(id) else {
                continue;
            };
            let page_median = page.median();
            rows.push(BrowserComparison {
                id: id.clone(),
                title: title.clone(),
                page_backend: backend.clone(),
                page_median_seconds: page_median,
                page_repetitions: page.seconds.len(),
                native_median_seconds: native_median,
                native_repetitions: native.map_or(0, |t| t.seconds.len()),
                ratio: page_median.zip(native_median).map(|(a, b)| a / b),
            });
        }
    }
    rows
}

fn describe(architecture: Architecture) -> String {
    let (name, weights) = match architecture {
        Architecture::Resnet18 => ("ResNet-18", "random weights"),
        Architecture::Vgg19 => ("VGG-19", "random weights"),
        Architecture::MobilenetV3Small => ("MobileNetV3-small", "random weights"),
        Architecture::EfficientnetLite0 => ("EfficientNet-Lite0", "ImageNet weights"),
    };
    format!("{name} ({weights})")
}

fn compare(
    number: u8,
    id: String,
    title: String,
    plan: &Plan,
    lab: &BTreeMap<String, BackendRun>,
    pytorch: &ReferenceRun,
) -> Summary {
    let theirs = pytorch.workloads.get(&id);
    let pytorch_median = theirs.and_then(|m| m.timings.median());
    let mut comparisons = Vec::new();
    let mut explanations = Vec::new();
    for (backend, run) in lab {
        let ours = run.workloads.get(&id);
        let lab_median = ours.and_then(|m| m.timings.median());
        comparisons.push(Comparison {
            backend: backend.clone(),
            lab_median_seconds: lab_median,
            lab_repetitions: ours.map_or(0, |m| m.timings.seconds.len()),
            lab_failure: run.failures.get(&id).cloned(),
            lab_skipped: run.skipped.get(&id).cloned(),
            pytorch_median_seconds: pytorch_median,
            pytorch_repetitions: theirs.map_or(0, |m| m.timings.seconds.len()),
            ratio: lab_median.zip(pytorch_median).map(|(a, b)| a / b),
            lab_tokens_per_second: ours.and_then(Measured::tokens_per_second),
            pytorch_tokens_per_second: theirs.and_then(Measured::tokens_per_second),
        });
        if let (Some(shearletx), true) = (&plan.shearletx, id.starts_with("shearletx_")) {
            let steps = shearletx.steps_per_explanation;
            let measured = shearletx.steps == steps;
            let whole = |m: &Measured| match measured {
                true => Some(m.timings.seconds.iter().sum::<f64>()),
                false => m.timings.median().map(|step| step * steps as f64),
            };
            explanations.push(Explanation {
                steps,
                measured,
                lab_seconds: ours.and_then(whole),
                pytorch_seconds: theirs.and_then(whole),
            });
        }
    }
    Summary {
        number,
        id,
        title,
        status: Status::Measured,
        comparisons,
        explanations,
    }
}

/// The notes a reader needs: what the scale changed, how ShearletX's whole run is counted.
pub fn notes(plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    match plan.scale {
        Scale::Smoke => notes.push(
            "smoke scale: one repetition of the smallest workloads, to check that the command \
             runs; the figures mean nothing"
                .into(),
        ),
        Scale::Quick => notes.push(
            "quick scale: fewer repetitions and steps, classifier batches of 4, 16 new tokens \
             per sequence; run without --quick for the figures to quote"
                .into(),
        ),
        Scale::Standard => {}
    }
    if let Some(shearletx) = &plan.shearletx {
        let steps = shearletx.steps_per_explanation;
        notes.push(match shearletx.steps == steps {
            true => format!("ShearletX: all {steps} steps ran and were timed"),
            false => format!(
                "ShearletX: {} timed steps after {} warm-up step(s); the {steps}-step time is \
                 the median step x {steps} (--full runs all {steps})",
                shearletx.steps, shearletx.warmup_steps
            ),
        });
        notes.push(format!(
            "ShearletX: the reference variant (mixed coefficients clamped), {} samples per \
             forward and backward pass on both sides; PyTorch draws its noise with torch's \
             generator, the lab with SplitMix64 on the CPU (the same distribution)",
            shearletx.samples_per_pass
        ));
    }
    if plan.classifiers.is_some() {
        notes.push(
            "classifiers: evaluation mode (the lab folds batch norm into the convolutions \
             when loading; PyTorch runs it as a layer), mean cross-entropy, gradients for \
             every parameter and the images"
                .into(),
        );
    }
    if plan.superhf.is_some() {
        notes.push(
            "SuperHF: the paper preset (keep the best of each prompt's completions, KL 0.35, \
             AdamW, LoRA rank 4 on q_proj and v_proj) with SmolLM2-135M-Instruct and the lab's \
             default reward model; PyTorch runs transformers + peft on the same prompt ids; \
             completions end at the end-of-sequence token, so both sides sample as many \
             tokens as their draws make them; the lab's time includes its METEOR metric"
                .into(),
        );
    }
    if plan.browser {
        notes.push(
            "browser: the page's own time for each run (from its start to its report, without \
             loading the page), against the same run through this tool on the CPU backend with \
             one thread, since the page computes on one; WebGPU is the machine's adapter \
             (SwiftShader, a software renderer, without a GPU); ShearletX is timed on the wasm \
             CPU backend only (a step takes minutes on SwiftShader)"
                .into(),
        );
    }
    if plan.generation.is_some() {
        notes.push(
            "generation: the prompt runs once in the lab (shared by the batch), once per \
             sequence in transformers; both sample every token (temperature 1, no top-k), \
             the time includes the prompt"
                .into(),
        );
    }
    notes
}

/// The table and what it was measured on, as Markdown.
pub fn table(report: &BenchReport) -> String {
    let mut text = String::new();
    let machine = &report.machine;
    let memory = machine.memory_bytes.map_or("unknown memory".into(), |b| {
        format!("{:.0} GiB", b as f64 / (1u64 << 30) as f64)
    });
    let _ = writeln!(
        text,
        "Machine: {}, {} logical cores, {memory}, {}",
        machine.cpu_model, machine.logical_cores, machine.operating_system
    );
    let versions = &report.pytorch.versions;
    let version = |name: &str| versions.get(name).map_or("?", String::as_str);
    let _ = writeln!(
        text,
        "Lab: superlab {} ({} build), burn {}, {} threads. PyTorch {} ({}), torchvision {}, \
         timm {}, transformers {}, {} threads.",
        report.superlab_version,
        report.build_profile,
        report.burn_version,
        report.threads,
        version("torch"),
        report.pytorch.cpu_capability,
        version("torchvision"),
        version("timm"),
        version("transformers"),
        report.pytorch.threads
    );
    if let Some(load) = machine.load_average_at_start {
        let end = report.load_average_at_end.unwrap_or_default();
        let _ = writeln!(
            text,
            "Load average (1 min) at start {:.2}, at end {:.2}: other work on the machine \
             slows both sides.",
            load[0], end[0]
        );
    }
    for (backend, run) in &report.lab {
        if let Some(note) = &run.note {
            let _ = writeln!(text, "{backend}: {note}.");
        }
        for (id, reason) in &run.skipped {
            let _ = writeln!(text, "{backend}: {id} {reason}.");
        }
    }
    for (backend, reason) in &report.unavailable {
        let _ = writeln!(text, "{backend}: not measured: {reason}");
    }
    for note in &report.notes {
        let _ = writeln!(text, "Note: {note}.");
    }
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "| # | workload | lab backend | lab, median | PyTorch CPU, median | lab / PyTorch |"
    );
    let _ = writeln!(text, "| --- | --- | --- | --- | --- | --- |");
    for summary in &report.summary {
        write_rows(&mut text, summary, report.browser_summary.is_some());
    }
    if let Some(rows) = &report.browser_summary {
        write_browser_table(&mut text, rows, report.browser.as_ref());
    }
    text
}

fn write_browser_table(text: &mut String, rows: &[BrowserComparison], run: Option<&BrowserRun>) {
    let chromium = run
        .and_then(|run| run.chromium.as_deref())
        .unwrap_or("Chromium");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "6: the page in {chromium}, headless, against the native tool:"
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "| # | workload | page backend | page, median | native CPU (1 thread), median | page / \
         native |"
    );
    let _ = writeln!(text, "| --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let _ = writeln!(
            text,
            "| 6 | {} | {} | {} | {} | {} |",
            row.title,
            row.page_backend,
            cell(row.page_median_seconds, row.page_repetitions, None),
            cell(row.native_median_seconds, row.native_repetitions, None),
            ratio(row.ratio)
        );
    }
}

fn write_rows(text: &mut String, summary: &Summary, browser_measured: bool) {
    let number = summary.number;
    if matches!(summary.status, Status::Browser) {
        let lab = match browser_measured {
            true => "in the table below",
            false => "not measured",
        };
        let _ = writeln!(text, "| {number} | {} | - | {lab} | - | - |", summary.title);
        return;
    }
    for comparison in &summary.comparisons {
        let lab = match (&comparison.lab_failure, &comparison.lab_skipped) {
            (Some(_), _) => "failed (see the JSON)".to_string(),
            (None, Some(_)) => "skipped (see the notes)".to_string(),
            (None, None) => cell(
                comparison.lab_median_seconds,
                comparison.lab_repetitions,
                comparison.lab_tokens_per_second,
            ),
        };
        let pytorch = cell(
            comparison.pytorch_median_seconds,
            comparison.pytorch_repetitions,
            comparison.pytorch_tokens_per_second,
        );
        let _ = writeln!(
            text,
            "| {number} | {} | {} | {lab} | {pytorch} | {} |",
            summary.title,
            comparison.backend,
            ratio(comparison.ratio)
        );
    }
    for (explanation, comparison) in summary.explanations.iter().zip(&summary.comparisons) {
        let how = match explanation.measured {
            true => "measured",
            false => "estimated",
        };
        let whole = |seconds: Option<f64>| seconds.map_or("-".into(), duration);
        let ratio_whole = explanation
            .lab_seconds
            .zip(explanation.pytorch_seconds)
            .map(|(a, b)| a / b);
        let _ = writeln!(
            text,
            "| {number} | ... one explanation, {} steps ({how}) | {} | {} | {} | {} |",
            explanation.steps,
            comparison.backend,
            whole(explanation.lab_seconds),
            whole(explanation.pytorch_seconds),
            ratio(ratio_whole)
        );
    }
}

fn cell(median: Option<f64>, repetitions: usize, tokens_per_second: Option<f64>) -> String {
    let Some(median) = median else {
        return "-".into();
    };
    match tokens_per_second {
        Some(rate) => format!("{} ({rate:.1} tokens/s), n={repetitions}", duration(median)),
        None => format!("{}, n={repetitions}", duration(median)),
    }
}

fn ratio(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{r:.2}"))
}

fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 1.0 => format!("{:.0} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.2} s"),
        s => format!("{:.1} min", s / 60.0),
    }
}
