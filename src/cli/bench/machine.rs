//! What the benchmark ran on, as far as the operating system says (Linux's `/proc`; elsewhere
//! the fields say "unknown").

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cores: usize,
    pub memory_bytes: Option<u64>,
    pub operating_system: String,
    pub kernel: String,
    /// The 1, 5 and 15 minute load averages when the run started: other work on a shared
    /// machine slows both sides down.
    pub load_average_at_start: Option<[f64; 3]>,
}

impl Machine {
    pub fn describe() -> Self {
        Self {
            cpu_model: cpu_model().unwrap_or_else(unknown),
            logical_cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes: memory_bytes(),
            operating_system: operating_system().unwrap_or_else(unknown),
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|text| text.trim().to_string())
                .unwrap_or_else(unknown),
            load_average_at_start: load_average(),
        }
    }
}

fn unknown() -> String {
    "unknown".into()
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The value after the colon on the first line of `text` that starts with `key`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find(|line| line.starts_with(key))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim())
}

fn cpu_model() -> Option<String> {
    let info = read("/proc/cpuinfo")?;
    let model = field(&info, "model name")?.to_string();
    let flags = field(&info, "flags").unwrap_or_default();
    let vector = ["avx512f", "avx2"]
        .into_iter()
        .find(|flag| flags.split_whitespace().any(|f| f == *flag));
    Some(match vector {
        Some(flag) => format!("{model} ({flag})"),
        None => model,
    })
}

fn memory_bytes() -> Option<u64> {
    let info = read("/proc/meminfo")?;
    let kilobytes = field(&info, "MemTotal")?.split_whitespace().next()?;
    kilobytes.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn operating_system() -> Option<String> {
    let release = read("/etc/os-release")?;
    let line = release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

pub fn load_average() -> Option<[f64; 3]> {
    let text = read("/proc/loadavg")?;
    let mut values = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([values.next()??, values.next()??, values.next()??])
}
