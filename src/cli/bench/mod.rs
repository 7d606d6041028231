//! `superlab bench`: the lab's workloads on every backend present, and the same workloads
//! through PyTorch on the same machine in the same run, compared by their median times.
//!
//! The order of a run: the lab makes the inputs (`inputs`) and the plan (`plan`); the PyTorch
//! side runs first (`reference`), which also writes the random classifier weights that both
//! sides use; then the lab runs every workload on each backend (`lab`), and the page is timed
//! in headless Chromium (`browser`); the report (`report`) prints the tables and keeps every
//! repetition in JSON.

mod browser;
mod inputs;
mod lab;
mod machine;
mod paths;
mod plan;
mod reference;
mod report;
mod timing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};

use machine::Machine;
use plan::{Choices, Group, Plan, Scale};
use report::BenchReport;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer repetitions, steps and tokens and smaller batches: a few minutes.
    #[arg(long)]
    quick: bool,
    /// One repetition of the smallest workloads, to check that the command runs.
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Run ShearletX's 300 steps instead of timing a few and multiplying.
    #[arg(long)]
    full: bool,
    /// The lab's backends to measure; PyTorch always runs on the CPU.
    #[arg(long, value_enum, default_value = "all")]
    backend: Backends,
    /// Only these groups of workloads (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
    /// Threads for burn's CPU backend and for PyTorch; the logical cores by default.
    #[arg(long)]
    threads: Option<usize>,
    /// The Python that runs the PyTorch side; the oracle environment's by default.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where the report with every repetition goes.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backends {
    Cpu,
    Wgpu,
    All,
}

pub async fn run(args: BenchArgs) -> Result<(), LabError> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let threads = set_threads(args.threads)?;
    let machine = Machine::describe();
    if cfg!(debug_assertions) {
        log::warn!("this is a debug build: its times say little; build with --release");
    }
    let scale = match (args.smoke, args.quick) {
        (true, _) => Scale::Smoke,
        (false, true) => Scale::Quick,
        (false, false) => Scale::Standard,
    };
    let work_dir = WorkDir::create()?;
    let choices = Choices {
        full_explanations: args.full,
        threads,
        only: args.only.clone(),
        work_dir: work_dir.path.clone(),
        gguf_path: paths::asset(paths::GGUF)?,
        minilm_folder: paths::asset(paths::MINILM_CONFIG)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        efficientnet_lite0_checkpoint: paths::asset(paths::EFFICIENTNET_LITE0)?,
    };
    let mut plan = Plan::new(scale, choices);
    let python = paths::reference_python(args.python.clone())?;
    let inputs = inputs::prepare(&mut plan)?;

    log::info!("PyTorch side ({threads} threads)");
    let pytorch = reference::run(&python, &plan)?;

    let context = RunContext {
        started,
        started_unix,
        machine,
        threads,
    };
    let mut lab = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    // Written after each side as well, so that a long run stopped on the way keeps what it
    // measured.
    let partial = context.report(&plan, &lab, &pytorch, &unavailable, None, false);
    write_report(&args.out, &partial)?;
    for (name, choice) in backends(args.backend) {
        match LabDevice::acquire(choice, &Requirements::default()).await {
            Ok(device) => {
                lab.insert(name.to_string(), lab::run(&device, &plan, &inputs).await);
            }
            Err(error) if args.backend == Backends::All => {
                log::warn!("{name}: {error}");
                unavailable.insert(name.to_string(), error.to_string());
            }
            Err(error) => return Err(error),
        }
        let partial = context.report(&plan, &lab, &pytorch, &unavailable, None, false);
        write_report(&args.out, &partial)?;
    }
    let mut browser = None;
    if plan.browser {
        log::info!("browser side (headless Chromium)");
        match browser::run(&plan) {
            Ok(run) => browser = Some(run),
            Err(error) => {
                log::warn!("browser: {error}");
                unavailable.insert("browser".into(), error.to_string());
            }
        }
    }
    let report = context.report(&plan, &lab, &pytorch, &unavailable, browser, true);
    println!("{}", report::table(&report));
    write_report(&args.out, &report)?;
    log::info!("every repetition is in {}", args.out.display());
    let failures: Vec<String> = (report.lab.iter())
        .flat_map(|(backend, run)| run.failures.keys().map(move |id| format!("{backend}/{id}")))
        .collect();
    match failures.is_empty() {
        true => Ok(()),
        false => Err(LabError::Execution(format!(
            "some workloads failed: {}",
            failures.join(", ")
        ))),
    }
}

/// What a run knows before it measures anything.
struct RunContext {
    started: Instant,
    started_unix: u64,
    machine: Machine,
    threads: usize,
}

impl RunContext {
    fn report(
        &self,
        plan: &Plan,
        lab: &BTreeMap<String, lab::BackendRun>,
        pytorch: &reference::ReferenceRun,
        unavailable: &BTreeMap<String, String>,
        browser: Option<browser::BrowserRun>,
        complete: bool,
    ) -> BenchReport {
        let profile = match cfg!(debug_assertions) {
            true => "debug",
            false => "release",
        };
        BenchReport {
            produced_by: "superlab bench".into(),
            superlab_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: report::BURN_VERSION.into(),
            build_profile: profile.into(),
            complete,
            started_unix_seconds: self.started_unix,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            machine: self.machine.clone(),
            load_average_at_end: machine::load_average(),
            threads: self.threads,
            notes: report::notes(plan),
            summary: report::summarise(plan, lab, pytorch),
            browser_summary: browser.as_ref().map(report::summarise_browser),
            browser,
            plan: plan.clone(),
            lab: lab.clone(),
            pytorch: pytorch.clone(),
            unavailable: unavailable.clone(),
        }
    }
}

fn write_report(out: &Path, report: &BenchReport) -> Result<(), LabError> {
    paths::write(out, crate::cli::to_json(report)?.as_bytes())
}

fn backends(choice: Backends) -> Vec<(&'static str, BackendChoice)> {
    let cpu = ("cpu", BackendChoice::Cpu);
    let wgpu = ("wgpu", BackendChoice::Wgpu);
    match choice {
        Backends::Cpu => vec![cpu],
        Backends::Wgpu => vec![wgpu],
        Backends::All => vec![cpu, wgpu],
    }
}

/// Sizes rayon's global pool, which burn's CPU backend computes on, before anything uses it.
fn set_threads(threads: Option<usize>) -> Result<usize, LabError> {
    if let Some(threads) = threads {
        if threads == 0 {
            return Err(LabError::Config("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|error| LabError::Execution(format!("cannot size the threads: {error}")))?;
    }
    Ok(rayon::current_num_threads())
}

/// A folder of its own for the inputs and weights both sides read, removed at the end.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create() -> Result<Self, LabError> {
        let path = std::env::temp_dir().join(format!("superlab-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|error| {
            LabError::Config(format!("cannot create {}: {error}", path.display()))
        })?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
