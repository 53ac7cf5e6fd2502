//! CI provider connectors (CircleCI, GitHub, GitLab), shared HTTP layer, and the stateful provider simulator.

#![warn(missing_docs)]
