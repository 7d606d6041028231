//! The interface every image classifier offers the explanation methods.

use crate::models::vision::prepare::{Preparation, Resampling};
use burn::tensor::Tensor;

/// An image classifier that takes RGB images in [0, 1] and applies its own preprocessing
/// (normalisation, scaling) inside, so that masks and perturbations live in plain image space.
///
/// It is split at the output of its last convolutional block so that Grad-CAM can
/// differentiate the logits with respect to those features: burn keeps gradients of leaf
/// tensors only, so Grad-CAM detaches the features, marks them as requiring gradients and runs
/// [`ImageClassifier::logits_from_features`] on them.
pub trait ImageClassifier {
    /// How many classes its logits cover.
    fn classes(&self) -> usize;

    /// The side of the square input it was trained on (224 for the torchvision models).
    fn input_size(&self) -> usize;

    /// How a photograph becomes its input: by default torchvision's evaluation transform,
    /// resizing the shorter side to `input_size * 8 / 7` (256 for 224) bilinearly and cropping
    /// the centre square of `input_size`.
    fn preparation(&self) -> Preparation {
        Preparation::centre_crop(self.input_size(), Resampling::Bilinear)
    }

    /// The output of the last convolutional block (what Grad-CAM weighs).
    ///
    /// Shapes: `images` is `[batch, 3, height, width]` with values in [0, 1]; the result is
    /// `[batch, channels, rows, cols]`.
    fn features(&self, images: Tensor<4>) -> Tensor<4>;

    /// The logits from the output of the last convolutional block.
    ///
    /// Shapes: `features` as [`ImageClassifier::features`] returns them; the result is
    /// `[batch, classes]`.
    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2>;

    /// Shapes: `images` is `[batch, 3, height, width]` with values in [0, 1]; the result is
    /// `[batch, classes]` logits.
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.logits_from_features(self.features(images))
    }

    /// The output of the last convolutional block and the logits, in one pass.
    ///
    /// Shapes: `images` as for [`ImageClassifier::logits`]; the features are
    /// `[batch, channels, rows, cols]`, the logits `[batch, classes]`.
    fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let features = self.features(images);
        (features.clone(), self.logits_from_features(features))
    }
}

/// A classifier chosen at run time (what [`crate::models::vision::Architecture::load`]
/// returns) is one too, so the explanation methods take it as they take a concrete model.
impl<T: ImageClassifier + ?Sized> ImageClassifier for Box<T> {
    fn classes(&self) -> usize {
        (**self).classes()
    }

    fn input_size(&self) -> usize {
        (**self).input_size()
    }

    fn preparation(&self) -> Preparation {
        (**self).preparation()
    }

    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        (**self).features(images)
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        (**self).logits_from_features(features)
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        (**self).logits(images)
    }

    fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        (**self).features_and_logits(images)
    }
}
