#![no_main]
//! libFuzzer wrapper; the body is `firebreak_adversarial::targets` (archive_zstd).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firebreak_adversarial::targets::run("archive_zstd", data));
