//! The interface every image classifier offers the explanation methods.

use burn::tensor::Tensor;

/// An image classifier that takes RGB images in [0, 1] and applies its own preprocessing
/// (normalisation, scaling) inside, so that masks and perturbations live in plain image space.
pub trait ImageClassifier {
    /// How many classes its logits cover.
    fn classes(&self) -> usize;

    /// The side of the square input it was trained on (224 for the torchvision models).
    fn input_size(&self) -> usize;

    /// Shapes: `images` is `[batch, 3, height, width]` with values in [0, 1]; the result is
    /// `[batch, classes]` logits.
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.features_and_logits(images).1
    }

    /// The output of the last convolutional block (what Grad-CAM weighs) and the logits.
    ///
    /// Shapes: `images` as for [`ImageClassifier::logits`]; the features are
    /// `[batch, channels, rows, cols]`, the logits `[batch, classes]`.
    fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<4>, Tensor<2>);
}
