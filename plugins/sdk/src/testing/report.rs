//! What a contract run found, check by check.

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The check ran and the plugin met its contract; the note says how when there was a
    /// choice (for example "refused with a typed error").
    Passed(Option<String>),
    /// The check ran and the plugin broke its contract: what happened.
    Failed(String),
    /// The check did not run: why (an option not given, or skipped by the caller).
    Skipped(String),
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The check's name (see [`super::SINK_CHECKS`]).
    pub check: &'static str,
    /// How it ended.
    pub status: Status,
}

/// The outcome of every check of one contract run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was checked (`sink`, or the name given to the suite).
    pub subject: String,
    /// One outcome per check, in the order they ran.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// True when no check failed.
    pub fn is_ok(&self) -> bool {
        self.failed().next().is_none()
    }

    /// The failed checks, with what happened.
    pub fn failed(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.outcomes.iter().filter_map(|o| match &o.status {
            Status::Failed(why) => Some((o.check, why.as_str())),
            _ => None,
        })
    }

    /// The names of the failed checks.
    pub fn failed_checks(&self) -> Vec<&'static str> {
        self.failed().map(|(c, _)| c).collect()
    }

    /// The names of the checks that ran and passed.
    pub fn passed_checks(&self) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Passed(_)))
            .map(|o| o.check)
            .collect()
    }

    /// The outcome of one check.
    pub fn status(&self, check: &str) -> Option<&Status> {
        self.outcomes
            .iter()
            .find(|o| o.check == check)
            .map(|o| &o.status)
    }

    /// Panics with the whole report when a check failed.
    ///
    /// # Panics
    /// When any check failed; the message names each failed check and what happened.
    #[allow(clippy::panic)] // The harness's way of failing the caller's #[test].
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!(
                "{} failed the contract: {}\n{self}",
                self.subject,
                self.failed_checks().join(", ")
            );
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "contract of {}:", self.subject)?;
        for o in &self.outcomes {
            match &o.status {
                Status::Passed(None) => writeln!(f, "  ok      {}", o.check)?,
                Status::Passed(Some(note)) => writeln!(f, "  ok      {} ({note})", o.check)?,
                Status::Failed(why) => writeln!(f, "  FAILED  {}: {why}", o.check)?,
                Status::Skipped(why) => writeln!(f, "  skipped {}: {why}", o.check)?,
            }
        }
        Ok(())
    }
}
