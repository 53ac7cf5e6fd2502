//! The states of a secret's rotation and of each of its sinks, and the one table of the
//! moves between them ([`State::can_go_to`]), which the journal checks before it records a
//! step (see [`crate::journal::Journal::record`]).
//!
//! ```text
//! pending ─prepare─▶ issuing ─issue─▶ issued ─write sinks─▶ written ─verify─▶ verified ─revoke old─▶ revoking ─▶ done
//!    │                  │                │                     │                                      │
//!    └──────────────────┴────────────────┴─────── failure ─────┴──────────────────────────────────────┘
//!                  rolling_back ─▶ rolled_back     (old value obtainable: sinks restored, new revoked)
//!                  stopped                          (otherwise: old credential still valid, never revoked)
//! manual: a source firebreak cannot drive (instructions shown by `status`).
//! ```
//!
//! The stored strings (`pending`, `issuing`, …) are the serde names and [`State::as_str`];
//! they are what the journal and `rotate status --format json` hold.

use serde::{Deserialize, Serialize};

/// The state of one secret in a rotation run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started.
    Pending,
    /// Issue intent recorded.
    Issuing,
    /// New credential issued and recorded (encrypted).
    Issued,
    /// Every sink written.
    Written,
    /// Every sink verified.
    Verified,
    /// Revocation of the old credential in progress.
    Revoking,
    /// Done: new everywhere, old revoked, material erased.
    Done,
    /// Failed before revoke (or revocation failed); the old credential is still valid.
    Stopped,
    /// Sinks being restored to the old value.
    RollingBack,
    /// Sinks restored to the old value, new credential revoked.
    RolledBack,
    /// A person must do it.
    Manual,
}

impl State {
    /// Every state, in the order of the diagram.
    pub const ALL: [State; 11] = [
        State::Pending,
        State::Issuing,
        State::Issued,
        State::Written,
        State::Verified,
        State::Revoking,
        State::Done,
        State::Stopped,
        State::RollingBack,
        State::RolledBack,
        State::Manual,
    ];

    /// The stored name (`"pending"`, `"rolling_back"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Issuing => "issuing",
            State::Issued => "issued",
            State::Written => "written",
            State::Verified => "verified",
            State::Revoking => "revoking",
            State::Done => "done",
            State::Stopped => "stopped",
            State::RollingBack => "rolling_back",
            State::RolledBack => "rolled_back",
            State::Manual => "manual",
        }
    }

    /// True for states a run does not continue from by itself.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Done | State::Stopped | State::RolledBack | State::Manual
        )
    }

    /// The allowed moves, all of them: true when a secret in `self` may be recorded in `to`.
    ///
    /// Forward: pending → issuing → issued → written → verified → revoking → done.
    /// A failure before the old credential is revoked stops (old credential valid) or
    /// rolls back; a failed revocation stops. `rotate rollback` moves any state whose old
    /// credential is still valid to rolling_back (a pending secret straight to
    /// rolled_back). A stopped secret resumes at the step it stopped at (any state a run
    /// continues from). done, rolled_back and manual are final.
    pub fn can_go_to(self, to: State) -> bool {
        use State::*;
        match self {
            Pending => matches!(to, Issuing | Stopped | RolledBack),
            Issuing => matches!(to, Issued | Stopped | RollingBack),
            Issued => matches!(to, Written | Stopped | RollingBack),
            Written => matches!(to, Verified | Stopped | RollingBack),
            Verified => matches!(to, Revoking | RollingBack),
            Revoking => matches!(to, Done | Stopped),
            RollingBack => matches!(to, RollingBack | RolledBack | Stopped),
            Stopped => !to.is_terminal(),
            Done | RolledBack | Manual => false,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A stored state name that is not a [`State`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rotation state {0:?}")]
pub struct UnknownState(pub String);

impl std::str::FromStr for State {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<State, UnknownState> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// The state of one sink of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkState {
    /// Not written yet.
    Pending,
    /// Write intent recorded: the sink may hold the new value.
    Writing,
    /// Holds the new value.
    Written,
    /// Read back: holds the new value.
    Verified,
    /// A write or a verification failed (it may hold the new value).
    Failed,
    /// Restored to the old value.
    RolledBack,
}

impl SinkState {
    /// Every sink state.
    pub const ALL: [SinkState; 6] = [
        SinkState::Pending,
        SinkState::Writing,
        SinkState::Written,
        SinkState::Verified,
        SinkState::Failed,
        SinkState::RolledBack,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkState::Pending => "pending",
            SinkState::Writing => "writing",
            SinkState::Written => "written",
            SinkState::Verified => "verified",
            SinkState::Failed => "failed",
            SinkState::RolledBack => "rolled_back",
        }
    }

    /// True when the sink holds, or may hold, the new value (a write was started and not
    /// undone, and did not fail).
    pub fn may_hold_new(self) -> bool {
        matches!(
            self,
            SinkState::Writing | SinkState::Written | SinkState::Verified
        )
    }
}

impl std::fmt::Display for SinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for SinkState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<SinkState, UnknownState> {
        SinkState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_serde() {
        let names = [
            "pending",
            "issuing",
            "issued",
            "written",
            "verified",
            "revoking",
            "done",
            "stopped",
            "rolling_back",
            "rolled_back",
            "manual",
        ];
        for (st, name) in State::ALL.into_iter().zip(names) {
            assert_eq!(st.as_str(), name);
            assert_eq!(name.parse::<State>().unwrap(), st);
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<State>(&format!("\"{name}\"")).unwrap(), st);
            assert_eq!(format!("{st:<14}|"), format!("{name:<14}|"));
        }
        assert_eq!("finished".parse::<State>(), Err(UnknownState("finished".into())));
        for st in SinkState::ALL {
            assert_eq!(st.as_str().parse::<SinkState>().unwrap(), st);
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{st}\""));
        }
    }

    #[test]
    fn the_forward_path_and_its_failures_are_allowed() {
        use State::*;
        let forward = [Pending, Issuing, Issued, Written, Verified, Revoking, Done];
        for w in forward.windows(2) {
            assert!(w[0].can_go_to(w[1]), "{} -> {}", w[0], w[1]);
        }
        for from in [Pending, Issuing, Issued, Written, Revoking, RollingBack] {
            assert!(from.can_go_to(Stopped), "{from} -> stopped");
        }
        for from in [Issuing, Issued, Written, Verified, Stopped, RollingBack] {
            assert!(from.can_go_to(RollingBack), "{from} -> rolling_back");
        }
        assert!(RollingBack.can_go_to(RolledBack));
        assert!(Pending.can_go_to(RolledBack), "rollback of a secret never issued");
        for to in [Pending, Issuing, Issued, Written, Revoking, RollingBack] {
            assert!(Stopped.can_go_to(to), "retry resumes at {to}");
        }
    }

    #[test]
    fn the_old_credential_is_never_revoked_out_of_order_and_final_states_stay() {
        use State::*;
        // revocation only after every sink was verified
        for from in State::ALL {
            if from.can_go_to(Revoking) {
                assert!(matches!(from, Verified | Stopped), "{from} -> revoking");
            }
            if from.can_go_to(Done) {
                assert_eq!(from, Revoking, "{from} -> done");
            }
        }
        // once revoking, no rollback: the old credential may be gone
        assert!(!Revoking.can_go_to(RollingBack));
        assert!(!Pending.can_go_to(Done));
        assert!(!Issued.can_go_to(Verified));
        for from in [Done, RolledBack, Manual] {
            for to in State::ALL {
                assert!(!from.can_go_to(to), "{from} -> {to}");
            }
        }
        for to in [Done, Stopped, RolledBack, Manual] {
            assert!(!Stopped.can_go_to(to), "stopped -> {to}");
        }
    }
}
