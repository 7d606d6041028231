//! The command-line tool's commands that need more than a few lines, one module each.

pub mod shearletx;
