//! What crosses to the webview when a command fails: `{code, message}`.

use serde::Serialize;
use sockscope_core::CoreError;
use ts_rs::TS;

/// A command's error, as the UI receives it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
#[ts(rename = "UiErrorShape")]
pub struct UiError {
    /// Stable machine-readable code, e.g. `unknown_socket`.
    pub code: &'static str,
    /// Plain words for the person.
    pub message: String,
}

impl UiError {
    /// An error with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> UiError {
        UiError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> UiError {
        let code = e.code();
        // The text crosses to the webview: scrubbed like any that leaves.
        UiError::new(code, sockscope_recorder::redact::free_text(&e.to_string()))
    }
}

impl From<sockscope_recorder::Error> for UiError {
    fn from(e: sockscope_recorder::Error) -> UiError {
        UiError::new("recorder", e.to_string())
    }
}

impl From<std::io::Error> for UiError {
    fn from(e: std::io::Error) -> UiError {
        UiError::new("io", e.to_string())
    }
}
