//! Framing a user's message as a chat model expects it. The lab renders ChatML, the format of
//! SmolLM2, Qwen and many others (`<|im_start|>role\ncontent<|im_end|>\n`), recognised from the
//! model's own chat template (a Jinja program in the GGUF metadata `tokenizer.chat_template` or
//! in `tokenizer_config.json`), including the system message such a template writes when the
//! conversation brings none.

use crate::LabError;

const TURN_START: &str = "<|im_start|>";
/// Ends each turn; a reply ends with it.
pub const TURN_END: &str = "<|im_end|>";

/// A ChatML template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFormat {
    /// The system message the template adds before a conversation that has none.
    pub default_system: Option<String>,
}

impl ChatFormat {
    /// Recognises a ChatML template; any other template is an error that says so.
    pub fn from_template(template: &str) -> Result<Self, LabError> {
        if !template.contains(TURN_START) || !template.contains(TURN_END) {
            return Err(LabError::Tokenizer(
                "the model's chat template is not ChatML (<|im_start|>role ... <|im_end|>), the \
                 one format the lab renders; give the prompt already framed, without --chat"
                    .into(),
            ));
        }
        Ok(Self {
            default_system: default_system(template),
        })
    }

    /// The text of a conversation of one user message, ending where the assistant's reply
    /// begins.
    pub fn render(&self, user: &str) -> String {
        let turn = |role: &str, content: &str| format!("{TURN_START}{role}\n{content}{TURN_END}\n");
        let system = (self.default_system.as_deref())
            .map(|system| turn("system", system))
            .unwrap_or_default();
        format!("{system}{}{TURN_START}assistant\n", turn("user", user))
    }
}

/// The literal system turn a template writes, unescaping what a Jinja string literal escapes.
fn default_system(template: &str) -> Option<String> {
    let opening = format!("{TURN_START}system");
    let start = template.find(&opening)? + opening.len();
    let rest = &template[start..];
    let end = rest.find(TURN_END)?;
    let literal = &rest[..end];
    // A role taken from the messages is spliced in by an expression, never written literally.
    if literal.contains("{{") || literal.contains('\'') || literal.contains('"') {
        return None;
    }
    let text = literal.replace("\\n", "\n");
    let text = text.strip_prefix('\n').unwrap_or(&text);
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's template, as its GGUF file carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] \
        != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, \
        trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + \
        '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt \
        %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_the_template_with_its_system_message() {
        let format = ChatFormat::from_template(SMOLLM2).unwrap();
        assert_eq!(
            format.render("Hi"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
             Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let escaped = SMOLLM2.replace('\n', "\\n");
        assert_eq!(ChatFormat::from_template(&escaped).unwrap(), format);
    }

    #[test]
    fn without_a_literal_system_message_there_is_none() {
        let template = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + \
            m['content'] + '<|im_end|>\\n'}}{% endfor %}";
        let format = ChatFormat::from_template(template).unwrap();
        assert_eq!(format.default_system, None);
        assert!(ChatFormat::from_template("[INST] {{ message }} [/INST]").is_err());
    }
}
