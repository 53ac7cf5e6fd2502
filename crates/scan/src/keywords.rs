//! The keyword search behind the rule prefilter: every occurrence of every
//! keyword, ASCII case-insensitively, overlapping ones included.
//!
//! A rule's regex runs only around hits of its keywords, so this search reads
//! every byte of the input and is most of a scan's cost. It walks an
//! Aho-Corasick DFA (the `aho-corasick` crate's, with standard match
//! semantics: every state knows all the keywords ending there). Walking a DFA
//! is one table lookup per byte that depends on the previous one, so a single
//! walk is bound by memory latency, not by the CPU's width: a few hundred MB/s
//! whatever the number of keywords. [`KeywordSearcher`] therefore cuts an input
//! into [`LANES`] stretches and walks them in one loop, interleaved, so that the
//! CPU overlaps the lookups of the independent walks. Each stretch starts
//! `longest keyword - 1` bytes early, to see keywords that cross its start,
//! and reports only hits that end inside it, so every hit is reported exactly
//! once. Hits are buffered during the walk and reported in input order, so a
//! caller can process them line by line.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

/// Walks interleaved in one loop.
pub const LANES: usize = 4;

/// Inputs shorter than this many bytes per lane are walked in one piece (each
/// stretch re-walks up to a keyword's length before its start).
const MIN_LANE: usize = 512;

/// Finds every occurrence of a fixed set of keywords (ASCII case-insensitive).
#[derive(Debug)]
pub struct KeywordSearcher {
    /// `None` when there are no keywords.
    dfa: Option<DFA>,
}

impl KeywordSearcher {
    /// A searcher for `keywords` (matched ASCII case-insensitively; keyword `i`
    /// is reported as `i`).
    pub fn new<K: AsRef<[u8]>>(keywords: &[K]) -> KeywordSearcher {
        if keywords.is_empty() {
            return KeywordSearcher { dfa: None };
        }
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            // No prefilter: with one, start states become "special" and every
            // return to the start state would leave the fast path.
            .prefilter(false)
            .build(keywords)
            .expect("keyword automaton");
        KeywordSearcher { dfa: Some(dfa) }
    }

    /// Calls `f(keyword, start, end)` for every occurrence of every keyword
    /// in `hay`, overlapping occurrences included, each once, in order of
    /// their end (keywords ending at the same byte in automaton order).
    ///
    /// The input is walked in segments of at most [`SEGMENT`] bytes; within a
    /// segment the stretches' hits are buffered during the interleaved walk and
    /// reported stretch by stretch afterwards, which keeps `f` (and whatever
    /// it costs) out of the walk's loop and the hits in order.
    pub fn for_each(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let Some(dfa) = &self.dfa else { return };
        let start = dfa.start_state(Anchored::No).expect("unanchored start state");
        if hay.len() < LANES * MIN_LANE {
            let mut sid = start;
            for (p, &b) in hay.iter().enumerate() {
                sid = dfa.next_state(Anchored::No, sid, b);
                if dfa.is_special(sid) {
                    report(dfa, sid, p + 1, &mut f);
                }
            }
            return;
        }
        let back = dfa.max_pattern_len().saturating_sub(1);
        let mut hits: [Vec<(StateID, usize)>; LANES] = Default::default();
        let mut seg = 0;
        while seg < hay.len() {
            // A short tail joins the segment before it.
            let seg_end = if hay.len() - seg < SEGMENT + LANES * MIN_LANE {
                hay.len()
            } else {
                seg + SEGMENT
            };
            walk_segment(dfa, start, hay, seg, seg_end, back, &mut hits);
            for lane in hits.iter_mut() {
                for &(sid, end) in lane.iter() {
                    report(dfa, sid, end, &mut f);
                }
                lane.clear();
            }
            seg = seg_end;
        }
    }
}

/// Most bytes walked between two reporting rounds of [`KeywordSearcher::for_each`].
pub const SEGMENT: usize = 1 << 20;

/// Walks `hay[from..to]` in [`LANES`] interleaved stretches, recording in
/// `hits[k]` (in order) the match states and end offsets of stretch `k`.
/// Stretch `k` records the hits ending in its own range `(bounds[k],
/// bounds[k + 1]]` and starts walking `back` bytes before it (the input's
/// previous bytes, even when they belong to the previous segment), so it sees
/// every keyword that ends in its range.
fn walk_segment(
    dfa: &DFA,
    start: StateID,
    hay: &[u8],
    from: usize,
    to: usize,
    back: usize,
    hits: &mut [Vec<(StateID, usize)>; LANES],
) {
    let n = to - from;
    let mut bounds = [0usize; LANES + 1];
    for (k, b) in bounds.iter_mut().enumerate() {
        *b = from + n * k / LANES;
    }
    let mut pos = [0usize; LANES];
    let mut sid = [start; LANES];
    // Every stretch, the first of a segment included, starts `back` bytes early
    // (clamped to the input's start): hits that end in its own range but start
    // before it are seen; hits ending before its range are not recorded.
    for k in 0..LANES {
        pos[k] = bounds[k].saturating_sub(back);
        while pos[k] < bounds[k] {
            sid[k] = dfa.next_state(Anchored::No, sid[k], hay[pos[k]]);
            pos[k] += 1;
        }
    }
    // The interleaved walk, as long as every stretch has bytes left.
    let common = (0..LANES).map(|k| bounds[k + 1] - pos[k]).min().unwrap_or(0);
    let lanes: [&[u8]; LANES] = std::array::from_fn(|k| &hay[pos[k]..pos[k] + common]);
    // One index into every lane: the point is to step all the walks together.
    #[allow(clippy::needless_range_loop)]
    for j in 0..common {
        for k in 0..LANES {
            sid[k] = dfa.next_state(Anchored::No, sid[k], lanes[k][j]);
            if dfa.is_special(sid[k]) {
                hits[k].push((sid[k], pos[k] + j + 1));
            }
        }
    }
    // What each stretch has left.
    for k in 0..LANES {
        let mut s = sid[k];
        let from = pos[k] + common;
        for (i, &b) in hay[from..bounds[k + 1]].iter().enumerate() {
            s = dfa.next_state(Anchored::No, s, b);
            if dfa.is_special(s) {
                hits[k].push((s, from + i + 1));
            }
        }
    }
}

/// Reports the keywords ending at `end` in the (special) state `sid`.
#[inline(never)]
fn report(dfa: &DFA, sid: StateID, end: usize, f: &mut impl FnMut(usize, usize, usize)) {
    if !dfa.is_match(sid) {
        return;
    }
    for i in 0..dfa.match_len(sid) {
        let pid = dfa.match_pattern(sid, i);
        f(pid.as_usize(), end - dfa.pattern_len(pid), end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickBuilder};

    /// The hits, sorted; checks on the way that they came in order of their end.
    fn hits(s: &KeywordSearcher, hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::new();
        s.for_each(hay, |k, a, b| v.push((k, a, b)));
        assert!(
            v.windows(2).all(|w| w[0].2 <= w[1].2),
            "hits out of order: {:?}",
            v.windows(2).find(|w| w[0].2 > w[1].2)
        );
        v.sort_unstable();
        v
    }

    /// The reference: the crate's own overlapping search.
    fn reference(kws: &[Vec<u8>], hay: &[u8]) -> Vec<(usize, usize, usize)> {
        if kws.is_empty() {
            return Vec::new();
        }
        let ac: AhoCorasick = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(kws)
            .expect("automaton");
        let mut v: Vec<_> = ac
            .find_overlapping_iter(hay)
            .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn finds_overlapping_any_case_and_at_the_edges() {
        let kws = ["secret", "client_secret", "ac", "AKIA", "key="];
        let s = KeywordSearcher::new(&kws);
        let hay = b"ac CLIENT_SECRET=x akia KEY=ac";
        assert_eq!(
            hits(&s, hay),
            vec![
                (0, 10, 16),
                (1, 3, 16),
                (2, 0, 2),
                (2, 28, 30),
                (3, 19, 23),
                (4, 24, 28)
            ]
        );
        assert!(hits(&s, b"a").is_empty());
        assert!(hits(&KeywordSearcher::new::<&str>(&[]), b"anything").is_empty());
    }

    #[test]
    fn hits_across_every_stretch_boundary_are_reported_once() {
        let kws: Vec<Vec<u8>> = vec![b"secret".to_vec(), b"ecr".to_vec(), b"s".to_vec()];
        let s = KeywordSearcher::new(&kws);
        let n = LANES * MIN_LANE * 2 + 7;
        // The longest keyword at every offset across every boundary: ending just
        // before it, on it, and just after it.
        for shift in 0..=7 {
            let mut hay = vec![b'.'; n];
            for k in 1..LANES {
                let at = n * k / LANES + shift - 7;
                hay[at..at + 6].copy_from_slice(b"SeCrEt");
            }
            hay[..6].copy_from_slice(b"secret");
            hay[n - 6..].copy_from_slice(b"secret");
            let got = hits(&s, &hay);
            assert_eq!(got.len(), 3 * (LANES + 1), "shift {shift}");
            assert_eq!(got, reference(&kws, &hay), "shift {shift}");
        }
    }

    #[test]
    fn hits_across_segment_boundaries_are_reported_once_and_in_order() {
        let kws: Vec<Vec<u8>> = vec![b"token".to_vec(), b"ok".to_vec()];
        let s = KeywordSearcher::new(&kws);
        // Three segments; the last one absorbs the short tail.
        let n = SEGMENT * 2 + SEGMENT / 2 + 11;
        for shift in 0..=5 {
            let mut hay = vec![b'-'; n];
            for seg in 1..=2 {
                let at = seg * SEGMENT + shift - 5;
                hay[at..at + 5].copy_from_slice(b"ToKeN");
                // And at a stretch boundary inside the segment.
                let mid = seg * SEGMENT + SEGMENT / LANES + shift - 5;
                hay[mid..mid + 5].copy_from_slice(b"token");
            }
            let got = hits(&s, &hay);
            assert_eq!(got.len(), 8, "shift {shift}");
            assert_eq!(got, reference(&kws, &hay), "shift {shift}");
        }
    }

    #[test]
    fn the_builtin_keywords_agree_with_the_reference_on_real_text() {
        let rules = crate::RuleSet::builtin().expect("builtin rules");
        let kws: Vec<Vec<u8>> = rules
            .rules()
            .iter()
            .flat_map(|r| r.def.keywords.iter().map(|k| k.to_ascii_lowercase().into_bytes()))
            .collect();
        let s = KeywordSearcher::new(&kws);
        // This crate's own sources and rule files, one after the other: code, YAML,
        // keywords galore, long enough to be cut into stretches.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut text = Vec::new();
        for sub in ["src", "rules"] {
            let mut files: Vec<_> = std::fs::read_dir(format!("{dir}{sub}"))
                .expect("read dir")
                .map(|e| e.expect("entry").path())
                .collect();
            files.sort();
            for p in files {
                text.extend(std::fs::read(p).expect("read"));
            }
        }
        assert!(text.len() > LANES * MIN_LANE);
        let got = hits(&s, &text);
        assert!(got.len() > 1000, "only {} keyword hits", got.len());
        assert_eq!(got, reference(&kws, &text));
    }

    /// A small deterministic generator (xorshift64*), so that a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// Mostly from a small alphabet (so keywords recur and overlap), some any byte.
        fn byte(&mut self) -> u8 {
            const ALPHABET: &[u8] = b"abcABC_=:~- ";
            if self.below(8) == 0 {
                self.next() as u8
            } else {
                ALPHABET[self.below(ALPHABET.len())]
            }
        }
    }

    #[test]
    fn same_hits_as_the_reference_on_random_inputs() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..300 {
            let kws: Vec<Vec<u8>> = (0..1 + rng.below(12))
                .map(|_| (0..1 + rng.below(6)).map(|_| rng.byte()).collect())
                .collect();
            // Some inputs long enough to be cut into stretches.
            let len = if case % 3 == 0 {
                LANES * MIN_LANE + rng.below(3000)
            } else {
                rng.below(300)
            };
            let hay: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            let got = hits(&KeywordSearcher::new(&kws), &hay);
            assert!(
                got == reference(&kws, &hay),
                "case {case}: keywords {kws:?}, {len} bytes"
            );
        }
    }
}
