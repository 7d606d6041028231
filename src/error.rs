//! The one error type of the core. The browser boundary turns it into a JavaScript error
//! carrying the same message, so every message here is written for the user.

use burn::tensor::ExecutionError;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("no GPU adapter is available: {0}")]
    NoAdapter(String),
    #[error("the GPU adapter cannot run this lab: {0}")]
    AdapterTooSmall(String),
    #[error(
        "the GPU device was lost ({0}); the run stopped. Reload the page to get a new device, \
         or choose the CPU backend."
    )]
    DeviceLost(String),
    #[error("the device failed while computing: {0}")]
    Execution(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file or photograph the user gave that cannot be used; the message says which and why.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    WordNet(#[from] crate::superhf::meteor::WordNetError),
    #[error("cannot load the weights: {0}")]
    Weights(String),
    #[error("cannot use the tokenizer: {0}")]
    Tokenizer(String),
    #[error("the model's configuration is not usable: {0}")]
    ModelConfig(String),
    #[error("the run diverged at step {step}: {what}")]
    Diverged { step: usize, what: String },
}

impl From<ExecutionError> for LabError {
    fn from(error: ExecutionError) -> Self {
        match error {
            ExecutionError::DevicePoisoned { reason } => LabError::DeviceLost(first_line(&reason)),
            other => LabError::Execution(first_line(&other.to_string())),
        }
    }
}

impl LabError {
    /// A failed read of tensor data. Backends defer some failures into the data itself and
    /// describe them only in text; a poisoned device there is still a lost device.
    pub fn from_failed_read(description: &str) -> Self {
        let text = description.replace("\\n", "\n");
        match text.split_once("The device is poisoned") {
            Some((_, cause)) => {
                let cause = first_line(cause);
                LabError::DeviceLost(cause.trim_matches(['"', ':', ' ']).into())
            }
            None => LabError::Execution(format!("reading results failed: {}", first_line(&text))),
        }
    }
}

/// Backend errors read "what happened / Caused by: / cause / Backtrace: ..."; the user needs
/// the cause only.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Backtrace"))
        .filter(|line| !line.is_empty() && !line.starts_with("Caused by"))
        .last()
        .unwrap_or(text)
        .to_string()
}
