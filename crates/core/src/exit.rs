//! Exit codes shared by every subcommand (documented in `docs/exit-codes.md`).

/// A process outcome that scripts can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: the command succeeded and found nothing.
    Clean = 0,
    /// 1: the command succeeded and found something (findings, rotation failures reported, ...).
    Found = 1,
    /// 2: usage or input error; nothing useful was produced.
    Error = 2,
    /// 3: partial failure: some inputs failed, the rest were processed.
    Partial = 3,
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Combines a "found something" flag with a count of failed inputs.
    ///
    /// Failures dominate: a run with failed inputs exits 3 even when it found
    /// something, because its result is incomplete.
    pub fn from_outcome(found: bool, failed_inputs: usize) -> Exit {
        if failed_inputs > 0 {
            Exit::Partial
        } else if found {
            Exit::Found
        } else {
            Exit::Clean
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_dominate() {
        assert_eq!(Exit::from_outcome(true, 1), Exit::Partial);
        assert_eq!(Exit::from_outcome(true, 0), Exit::Found);
        assert_eq!(Exit::from_outcome(false, 0), Exit::Clean);
        assert_eq!(Exit::Partial.code(), 3);
    }
}
