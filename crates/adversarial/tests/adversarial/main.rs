//! firebreak's adversarial suite, no-secret-leak check and fuzz-target replay, in one test
//! binary (one link instead of eight). See docs/fuzzing.md.
//!
//!     cargo test -p firebreak-adversarial --test adversarial            # everything
//!     cargo test -p firebreak-adversarial --test adversarial replay::   # the fuzz replay
//!     cargo test -p firebreak-adversarial --test adversarial -- --ignored big_line_2gb

mod common;

mod archives;
mod big_line;
mod http;
mod jwt;
mod logs;
mod no_leak;
mod redos;
mod replay;
