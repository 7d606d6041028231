//! The images a run leaves in `--out`, named and encoded as
//! [`superlab::explain::methods::explanation_images`] describes.

use std::path::Path;

use superlab::LabError;
use superlab::explain::Explanation;
use superlab::explain::methods::explanation_images;

/// Writes the images of `explanation` into `out`; returns the file names written.
pub fn write_images(out: &Path, explanation: &Explanation) -> Result<Vec<String>, LabError> {
    let mut files = Vec::new();
    for image in explanation_images(explanation)? {
        let path = out.join(&image.name);
        std::fs::write(&path, &image.png).map_err(|error| {
            LabError::Input(format!("cannot write {}: {error}", path.display()))
        })?;
        files.push(image.name);
    }
    Ok(files)
}
