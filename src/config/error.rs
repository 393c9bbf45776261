//! The error every setting reports, and the helpers the readers of settings share.

/// A setting that is missing or unusable; the message names it and says how to fix it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A required setting is not set.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// The setting, as the user would write it.
        name: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// A setting is set to something unusable.
    #[error("{name} is invalid ({detail}): {hint}")]
    Invalid {
        /// The setting, as the user would write it.
        name: &'static str,
        /// What is wrong with the value.
        detail: String,
        /// What to set it to.
        hint: &'static str,
    },
}

/// The value trimmed, or `None` when it is unset or blank.
pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}
