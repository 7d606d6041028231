//! Settings given by name, as the command line gives them, laid over a method's defaults.

use serde::{Deserialize, Serialize};

use super::{Method, MethodConfig};
use crate::LabError;
use crate::explain::Variant;

/// Each present setting replaces the method's own; a setting the method does not have is an
/// error rather than silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MethodOverrides {
    pub target_class: Option<usize>,
    pub steps: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub variant: Option<Variant>,
    pub noise_samples: Option<usize>,
    pub lambda1: Option<f64>,
    pub lambda2: Option<f64>,
    /// The smooth pixel mask's areas.
    pub areas: Option<Vec<f64>>,
}

impl MethodConfig {
    /// These settings with `overrides` laid over them.
    pub fn with_overrides(mut self, overrides: &MethodOverrides) -> Result<Self, LabError> {
        let method = self.method();
        let knobs = self.knobs();
        if let Some(class) = overrides.target_class {
            *knobs.target_class = Some(class);
        }
        set(method, "steps", knobs.steps, &overrides.steps)?;
        set(
            method,
            "learning rate",
            knobs.learning_rate,
            &overrides.learning_rate,
        )?;
        set(method, "seed", knobs.seed, &overrides.seed)?;
        set(method, "variant", knobs.variant, &overrides.variant)?;
        set(
            method,
            "noise samples",
            knobs.noise_samples,
            &overrides.noise_samples,
        )?;
        set(method, "lambda1", knobs.lambda1, &overrides.lambda1)?;
        set(method, "lambda2", knobs.lambda2, &overrides.lambda2)?;
        set(method, "areas", knobs.areas, &overrides.areas)?;
        Ok(self)
    }
}

fn set<T: Clone>(
    method: Method,
    name: &str,
    knob: Option<&mut T>,
    value: &Option<T>,
) -> Result<(), LabError> {
    match (knob, value) {
        (_, None) => Ok(()),
        (Some(knob), Some(value)) => {
            *knob = value.clone();
            Ok(())
        }
        (None, Some(_)) => Err(LabError::Config(format!(
            "{method} has no {name} setting{}",
            hint(method, name)
        ))),
    }
}

fn hint(method: Method, name: &str) -> &'static str {
    match (method, name) {
        (Method::Cartoonx, "lambda2") => {
            " (CartoonX is WaveletX without the spatial term; waveletx has lambda2)"
        }
        (Method::Pixel, "lambda2") => " (the pixel mask has no spatial term)",
        (Method::SmoothPixel, _) => {
            " (the smooth pixel mask takes steps, learning rate, areas and the class)"
        }
        (Method::Gradcam, _) => " (Grad-CAM takes only the class)",
        (_, "areas") => " (areas belong to the smooth pixel mask)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_reach_the_method_and_foreign_ones_are_refused() {
        let overrides = MethodOverrides {
            steps: Some(7),
            lambda2: Some(3.0),
            target_class: Some(5),
            ..MethodOverrides::default()
        };
        let config = Method::Waveletx
            .default_config()
            .with_overrides(&overrides)
            .unwrap();
        let MethodConfig::Waveletx(waveletx) = &config else {
            panic!("{config:?}")
        };
        assert_eq!((waveletx.steps, waveletx.lambda2), (7, 3.0));
        assert_eq!(config.target_class(), Some(5));
        let error = Method::Cartoonx
            .default_config()
            .with_overrides(&overrides)
            .unwrap_err();
        assert!(
            error.to_string().contains("cartoonx has no lambda2"),
            "{error}"
        );
        let steps = MethodOverrides {
            steps: Some(3),
            ..MethodOverrides::default()
        };
        assert!(
            Method::Gradcam
                .default_config()
                .with_overrides(&steps)
                .is_err()
        );
        let areas = MethodOverrides {
            areas: Some(vec![0.3]),
            ..steps
        };
        assert!(
            Method::Shearletx
                .default_config()
                .with_overrides(&areas)
                .is_err()
        );
        let smooth = Method::SmoothPixel
            .default_config()
            .with_overrides(&areas)
            .unwrap();
        let MethodConfig::SmoothPixel(extremal) = smooth else {
            panic!()
        };
        assert_eq!((extremal.steps, extremal.areas), (3, vec![0.3]));
    }

    #[test]
    fn each_method_names_the_settings_it_takes() {
        let names = |method: Method| method.default_config().setting_names();
        let masking = [
            "steps",
            "learning_rate",
            "seed",
            "variant",
            "noise_samples",
            "lambda1",
        ];
        assert_eq!(
            names(Method::Shearletx),
            [&masking[..], &["lambda2"]].concat()
        );
        assert_eq!(names(Method::Cartoonx), masking);
        assert_eq!(
            names(Method::SmoothPixel),
            ["steps", "learning_rate", "areas"]
        );
        assert!(names(Method::Gradcam).is_empty());
        // Every named setting is one the overrides accept for the method.
        for method in Method::ALL {
            let text = serde_json::to_string(&method.default_config()).unwrap();
            let config: serde_json::Value = serde_json::from_str(&text).unwrap();
            for name in names(method) {
                let value = config[name].clone();
                let overrides: MethodOverrides =
                    serde_json::from_value(serde_json::json!({ name: value })).unwrap();
                assert!(
                    method.default_config().with_overrides(&overrides).is_ok(),
                    "{method} {name}"
                );
            }
        }
    }

    #[test]
    fn a_partial_json_config_takes_the_methods_defaults() {
        let config: MethodConfig =
            serde_json::from_str(r#"{"method": "waveletx", "lambda1": 3}"#).unwrap();
        let MethodConfig::Waveletx(waveletx) = config else {
            panic!()
        };
        assert_eq!((waveletx.lambda1, waveletx.lambda2), (3.0, 10.0));
        let config: MethodConfig = serde_json::from_str(r#"{"method": "smooth-pixel"}"#).unwrap();
        assert_eq!(config.method(), Method::SmoothPixel);
        let text = serde_json::to_string(&Method::Pixel.default_config()).unwrap();
        assert!(text.starts_with(r#"{"method":"pixel","#), "{text}");
    }
}
