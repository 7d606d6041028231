//! A preset with some of its settings changed: how the page sets every knob of a run. The
//! overrides are JSON in the configuration's own shape, so any field can be changed without a
//! flag of its own, and a misspelt name is an error rather than a setting silently ignored.

use crate::LabError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `base` with the fields that `overrides` (a JSON object in the shape of `T`'s serialisation)
/// names set to its values. Objects merge field by field; anything else, and an object that
/// switches an enum's `kind` (LoRA to full fine-tuning), replaces the base's value whole.
pub fn with_overrides<T: Serialize + DeserializeOwned>(
    base: &T,
    overrides: &Value,
) -> Result<T, LabError> {
    let mut merged = serde_json::to_value(base)
        .map_err(|error| LabError::Config(format!("unreadable settings: {error}")))?;
    if !overrides.is_null() {
        merge(&mut merged, overrides, "")?;
    }
    serde_json::from_value(merged)
        .map_err(|error| LabError::Config(format!("the settings cannot be read: {error}")))
}

fn merge(base: &mut Value, overrides: &Value, path: &str) -> Result<(), LabError> {
    let (Value::Object(fields), Value::Object(changes)) = (&mut *base, overrides) else {
        *base = overrides.clone();
        return Ok(());
    };
    let switches_kind = (changes.get("kind")).is_some_and(|kind| fields.get("kind") != Some(kind));
    if switches_kind {
        *base = overrides.clone();
        return Ok(());
    }
    for (name, change) in changes {
        if !fields.contains_key(name) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(LabError::Config(format!(
                "there is no setting '{path}{name}': the settings here are {}",
                known.join(", ")
            )));
        }
        if let Some(field) = fields.get_mut(name) {
            merge(field, change, &format!("{path}{name}."))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superhf::config::{FineTuning, Preset, SuperHfConfig};
    use crate::superhf::prompts::PromptSet;
    use serde_json::json;

    #[test]
    fn nested_fields_change_and_the_rest_stay() {
        let base = Preset::Sentiment.config();
        let changes = json!({"steps": 3, "rollout": {"top_p": 0.5}, "kl_coefficient": 0.1});
        let changed: SuperHfConfig = with_overrides(&base, &changes).unwrap();
        assert_eq!(changed.steps, 3);
        assert_eq!(changed.rollout.top_p, 0.5);
        assert_eq!(changed.kl_coefficient, 0.1);
        assert_eq!(changed.rollout.new_tokens, base.rollout.new_tokens);
        assert_eq!(changed.prompts, PromptSet::Sentiment);
        assert_eq!(with_overrides(&base, &Value::Null).unwrap(), base);
    }

    #[test]
    fn enums_and_lists_are_replaced_whole() {
        let base = Preset::Paper.config();
        let changes = json!({"fine_tuning": {"kind": "full"}, "prompts": {"custom": ["Hi"]}});
        let changed: SuperHfConfig = with_overrides(&base, &changes).unwrap();
        assert_eq!(changed.fine_tuning, FineTuning::Full);
        assert_eq!(changed.prompts, PromptSet::Custom(vec!["Hi".into()]));
        let back = json!({"fine_tuning": {"kind": "lora", "rank": 8}});
        let lora: SuperHfConfig = with_overrides(&changed, &back).unwrap();
        let FineTuning::Lora(lora) = lora.fine_tuning else {
            panic!("LoRA expected")
        };
        assert_eq!(lora.rank, 8);
    }

    #[test]
    fn a_misspelt_setting_is_named() {
        let base = Preset::Paper.config();
        let error = with_overrides(&base, &json!({"rollout": {"top_pp": 0.5}})).unwrap_err();
        assert!(error.to_string().contains("rollout.top_pp"), "{error}");
        let error = with_overrides(&base, &json!({"steps": "many"})).unwrap_err();
        assert!(error.to_string().contains("cannot be read"), "{error}");
    }
}
