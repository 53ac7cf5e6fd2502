#![no_main]
//! libFuzzer wrapper; the body is `firebreak_adversarial::targets` (providers_github).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firebreak_adversarial::targets::run("providers_github", data));
