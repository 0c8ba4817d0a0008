//! The errors of a source, sorted by whose fault they are.

/// One problem of a source's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path inside the source's section (`date_range.start`); empty for the
    /// whole section.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What can go wrong in a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The configuration is wrong (the user's to fix).
    #[error("{}", join(problems))]
    Config {
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The run could not read what it should (server, network, files); the message names
    /// the URL, file, window or record at fault.
    #[error("{message}")]
    Failed {
        /// What failed, with its context.
        message: String,
    },
}

impl SourceError {
    /// A runtime failure.
    pub fn failed(message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            message: message.into(),
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p.key.as_str() {
            "" => p.message.clone(),
            k => format!("{k}: {}", p.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_every_key() {
        let e = SourceError::Config {
            problems: vec![Problem::new("a.b", "missing"), Problem::new("", "empty")],
        };
        assert_eq!(e.to_string(), "a.b: missing; empty");
    }
}
