//! A deterministic byte mutator for replaying fuzz targets without libFuzzer.
//!
//! Not a coverage-guided fuzzer: it exists so that CI, on stable Rust, runs every
//! target over inputs a little off its seeds (flipped bits, cut or repeated chunks,
//! tokens that parsers care about spliced in). The same seed always gives the same
//! sequence of inputs, so a failure reproduces from its (target, seed, index).

/// xorshift64* — small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1) ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Tokens that parsers of JSON, YAML, CSV, paths, archives and HTTP care about.
pub const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff\xfe",
    b"\xc3\x28",
    b"../",
    b"/",
    b"..\\",
    b"C:\\",
    b"*",
    b"?",
    b"|",
    b"(",
    b")",
    b" and ",
    b" or ",
    b" not ",
    b"1 of ",
    b"all of them",
    b"| count() by a > 1",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"9223372036854775807",
    b"NaN",
    b"\"\"",
    b"'",
    b"&a",
    b"*a",
    b"!!binary",
    b"---\n",
    b"%",
    b"%00",
    b"PK\x03\x04",
    b"\x1f\x8b\x08",
    b"BZh9",
    b"\x28\xb5\x2f\xfd",
    b"ustar\x00",
    b"=",
    b"==",
    b"eyJ",
    b".",
];

/// Returns a mutation of `input`; `other` (another seed) may be spliced in.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(10) {
            0 | 1 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next_u64() as u8;
            }
            3 if len > 0 => {
                // delete a chunk
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 => {
                // insert a token
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                v.splice(i..i, t.iter().copied());
            }
            5 if len > 0 => {
                // duplicate a chunk in place
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk = v[i..i + n].to_vec();
                let times = 1 + rng.below(8);
                for _ in 0..times {
                    v.splice(i..i, chunk.iter().copied());
                }
            }
            6 if len > 0 => {
                // truncate
                let keep = rng.below(len);
                v.truncate(keep);
            }
            7 if !other.is_empty() => {
                // splice a chunk of another seed
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(512));
                let at = rng.below(len + 1);
                v.splice(at..at, other[i..i + n].iter().copied());
            }
            8 if len > 0 => {
                // interesting integers as text
                let nums: [&[u8]; 6] = [
                    b"0",
                    b"-1",
                    b"4294967296",
                    b"1e308",
                    b"-0",
                    b"99999999999999999999",
                ];
                let i = rng.below(len + 1);
                v.splice(i..i, nums[rng.below(nums.len())].iter().copied());
            }
            _ => {
                // overwrite a byte with a structural one
                if len > 0 {
                    let i = rng.below(len);
                    const STRUCTURAL: &[u8] = b"{}[]\",:\\\n\0/.";
                    v[i] = STRUCTURAL[rng.below(STRUCTURAL.len())];
                }
            }
        }
    }
    v.truncate(max_len);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let a: Vec<Vec<u8>> = {
            let mut r = Rng::new(7);
            (0..50)
                .map(|_| mutate(b"{\"a\":[1,2]}", b"xyz", &mut r, 64))
                .collect()
        };
        let b: Vec<Vec<u8>> = {
            let mut r = Rng::new(7);
            (0..50)
                .map(|_| mutate(b"{\"a\":[1,2]}", b"xyz", &mut r, 64))
                .collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|m| m.len() <= 64));
        assert!(a.iter().any(|m| m != b"{\"a\":[1,2]}"));
    }
}
