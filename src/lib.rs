//! SuperLab: SuperHF and ShearletX on the user's own GPU.
//!
//! The core is target-independent: it runs natively (command-line tool and tests) and in a
//! browser worker through the `web` boundary module, the only place that knows about
//! JavaScript.

pub mod device;
pub mod error;
pub mod explain;
pub mod models;
pub mod progress;
pub mod report;
pub mod rng;
pub mod selfcheck;
pub mod shearlet;
pub mod superhf;
pub mod wavelet;

#[cfg(target_arch = "wasm32")]
mod web;

pub use error::LabError;
