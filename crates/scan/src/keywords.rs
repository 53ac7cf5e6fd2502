//! The keyword search behind the rule prefilter: every occurrence of every
//! keyword, ASCII case-insensitively, overlapping ones included.
//!
//! A rule's regex runs only around hits of its keywords, so this search reads
//! every byte of the input and is most of a scan's cost. It walks an
//! Aho-Corasick DFA (standard match semantics: every state knows all the
//! keywords ending there). Walking a DFA is one table lookup per byte that
//! depends on the previous one, so a single
//! walk is bound by memory latency, not by the CPU's width: a few hundred MB/s
//! whatever the number of keywords. [`KeywordSearcher`] therefore cuts an input
//! into [`LANES`] stretches and walks them in one loop, interleaved, so that the
//! CPU overlaps the lookups of the independent walks. Each stretch starts
//! `longest keyword - 1` bytes early, to see keywords that cross its start,
//! and reports only hits that end inside it, so every hit is reported exactly
//! once. Hits are buffered during the walk and reported in input order, so a
//! caller can process them line by line.
//!
//! The DFA is built here, straight into a layout made for this loop (see
//! `Table`; the tests check it against the `aho-corasick` crate's DFA, state
//! for state, and its searches against the crate's): byte classes derived from
//! the keywords, state ids that are row offsets, match states numbered first
//! (one comparison says
//! "match"), and transitions read without bounds checks, which the layout makes
//! safe. That is about six instructions per byte and lane, against eight with
//! the crate's checked lookups.

#[cfg(test)]
use aho_corasick::{dfa::DFA, MatchKind, StartKind};

/// Walks interleaved in one loop.
pub const LANES: usize = 4;

/// Inputs shorter than this many bytes per lane are walked in one piece (each
/// stretch re-walks up to a keyword's length before its start). A walk in one
/// piece waits on every lookup: on the benchmark tree, whose small files (stubs,
/// `__init__.py`, metadata) were walked so below 2 KiB, 512 → 128 took the
/// one-thread scan from 1.123 to 1.077 s (median of 10 rounds).
const MIN_LANE: usize = 128;

/// Finds every occurrence of a fixed set of keywords (ASCII case-insensitive).
#[derive(Debug)]
pub struct KeywordSearcher {
    /// `None` when there are no keywords.
    table: Option<Table>,
}

/// The keyword automaton as a compact transition table.
///
/// Laid out for the walk: a state's id is its row's offset in `trans` (its
/// index times `stride`), the bytes are
/// mapped to equivalence classes, and the match states come first, so that
/// "is this a match state" is one comparison with `match_limit`. Every entry
/// of `trans` is a valid id and every class is below `stride`, so
/// `id + class` is always inside `trans`: the walk indexes it unchecked.
#[derive(Debug)]
struct Table {
    /// Byte → equivalence class (bytes no state tells apart share one).
    classes: [u8; 256],
    /// Number of classes: the length of a row.
    stride: u32,
    /// `trans[id + class]` is the next state's id.
    trans: Box<[u32]>,
    /// Ids below this are match states.
    match_limit: u32,
    /// The start state's id.
    start: u32,
    /// Match state `i` (id `i * stride`) ends keywords
    /// `matches[match_at[i]..match_at[i + 1]]`, as (keyword, length) in the
    /// automaton's order.
    match_at: Box<[u32]>,
    matches: Box<[(u32, u32)]>,
    /// The longest keyword's length.
    longest: usize,
}

impl Table {
    /// The Aho-Corasick automaton of `keywords` (ASCII case-insensitive,
    /// standard semantics: every state knows every keyword ending there), built
    /// straight into the walk's layout.
    ///
    /// The construction is the textbook one, on dense rows: a trie of the
    /// case-folded keywords over the byte classes, then, breadth first, each
    /// state's missing transitions copied from its failure state's row and its
    /// keywords followed by its failure state's. Building the `aho-corasick`
    /// crate's DFA and copying it was a third of a scan's start-up with the
    /// built-in pack (about 11,000 states); this is a few milliseconds. The tests
    /// check it against that DFA, state for state.
    fn new<K: AsRef<[u8]>>(keywords: &[K]) -> Table {
        // Byte classes. In an Aho-Corasick automaton a byte that occurs in no
        // keyword leads every state where the root leads it: back to the root.
        // So all such bytes form one class (0), and every byte that occurs in a
        // keyword gets a class of its own, shared with its other ASCII case.
        let mut classes = [0u8; 256];
        let mut nclasses = 1usize;
        for k in keywords {
            for &b in k.as_ref() {
                let b = b.to_ascii_lowercase();
                if classes[b as usize] == 0 {
                    let c = u8::try_from(nclasses).expect("at most 255 distinct keyword bytes");
                    nclasses += 1;
                    classes[b as usize] = c;
                    classes[b.to_ascii_uppercase() as usize] = c;
                }
            }
        }
        // (Case-folded, keywords hold at most 230 distinct bytes, so the classes fit
        // in a `u8`; when they hold all 230, class 0 is empty and its column unused.)
        let stride = nclasses;
        // The trie, on dense rows indexed by node number (node 0 the root);
        // `NONE` marks a missing transition until the rows are completed.
        const NONE: u32 = u32::MAX;
        let mut rows: Vec<u32> = vec![NONE; stride];
        // Each node's own keywords (index, length), as a chain through `own_next`.
        let mut own_first: Vec<u32> = vec![NONE];
        let mut own: Vec<(u32, u32, u32)> = Vec::new(); // (keyword, length, next)
        let mut own_last: Vec<u32> = vec![NONE];
        let mut longest = 0;
        for (ki, k) in keywords.iter().enumerate() {
            let k = k.as_ref();
            longest = longest.max(k.len());
            let mut node = 0usize;
            for &b in k {
                let at = node * stride + classes[b as usize] as usize;
                if rows[at] == NONE {
                    let new = own_first.len();
                    rows[at] = new as u32;
                    rows.resize(rows.len() + stride, NONE);
                    own_first.push(NONE);
                    own_last.push(NONE);
                }
                node = rows[at] as usize;
            }
            let entry = own.len() as u32;
            own.push((ki as u32, k.len() as u32, NONE));
            match own_last[node] {
                NONE => own_first[node] = entry,
                last => own[last as usize].2 = entry,
            }
            own_last[node] = entry;
        }
        let n = own_first.len();
        // Breadth first (children in class order, the order a walk over the
        // finished automaton discovers states in): failure links, completed rows,
        // and each state's keywords, its own then its failure state's.
        let mut fail: Vec<u32> = vec![0; n];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut outs: Vec<(u32, u32)> = Vec::new();
        let mut out_at: Vec<(u32, u32)> = vec![(0, 0); n]; // node -> range in `outs`
        let push_own = |node: usize, outs: &mut Vec<(u32, u32)>| {
            let mut e = own_first[node];
            while e != NONE {
                let (k, len, next) = own[e as usize];
                outs.push((k, len));
                e = next;
            }
        };
        push_own(0, &mut outs);
        out_at[0] = (0, outs.len() as u32);
        order.push(0);
        let mut head = 0;
        while head < order.len() {
            let u = order[head] as usize;
            head += 1;
            let f = fail[u] as usize;
            for c in 0..stride {
                let v = rows[u * stride + c];
                if v == NONE {
                    // Missing: where the failure state goes (the root stays put).
                    rows[u * stride + c] = if u == 0 { 0 } else { rows[f * stride + c] };
                    continue;
                }
                let v = v as usize;
                // The failure state's row is complete: it is shallower than `v`.
                let fv = if u == 0 { 0 } else { rows[f * stride + c] as usize };
                fail[v] = fv as u32;
                let from = outs.len() as u32;
                push_own(v, &mut outs);
                let (a, b) = out_at[fv];
                outs.extend_from_within(a as usize..b as usize);
                out_at[v] = (from, outs.len() as u32);
                order.push(v as u32);
            }
        }
        // Match states first, then the others, each in breadth-first order; a
        // state's id is its row's offset.
        let is_match = |node: usize| out_at[node].0 < out_at[node].1;
        let mut states: Vec<u32> = order.iter().copied().filter(|&v| is_match(v as usize)).collect();
        let nmatch = states.len();
        states.extend(order.iter().copied().filter(|&v| !is_match(v as usize)));
        let mut ours = vec![0u32; n]; // node -> our id
        for (i, &v) in states.iter().enumerate() {
            ours[v as usize] = (i * stride) as u32;
        }
        let mut trans: Vec<u32> = Vec::with_capacity(n * stride);
        for &v in &states {
            let v = v as usize;
            trans.extend(
                rows[v * stride..(v + 1) * stride]
                    .iter()
                    .map(|&j| ours[j as usize]),
            );
        }
        let mut match_at = Vec::with_capacity(nmatch + 1);
        match_at.push(0u32);
        let mut matches = Vec::new();
        for &v in &states[..nmatch] {
            let (a, b) = out_at[v as usize];
            matches.extend_from_slice(&outs[a as usize..b as usize]);
            match_at.push(matches.len() as u32);
        }
        Table {
            classes,
            stride: stride as u32,
            trans: trans.into_boxed_slice(),
            match_limit: (nmatch * stride) as u32,
            start: ours[0],
            match_at: match_at.into_boxed_slice(),
            matches: matches.into_boxed_slice(),
            longest,
        }
    }

    /// The state after `id` on byte `b`. (Ids are stored as `u32` and walked as
    /// `usize`: the walk's loop then needs no widening per byte.)
    #[inline(always)]
    fn next(&self, id: usize, b: u8) -> usize {
        let at = id + self.classes[b as usize] as usize;
        debug_assert!(at < self.trans.len());
        // SAFETY: `id` is a state's id (the start state's or an entry of `trans`),
        // so `id + stride <= trans.len()`, and every class is below `stride`.
        unsafe { *self.trans.get_unchecked(at) as usize }
    }

    #[inline(always)]
    fn is_match(&self, id: usize) -> bool {
        id < self.match_limit as usize
    }

    /// Reports the keywords ending at `end` in the match state `id`.
    #[inline]
    fn report(&self, id: usize, end: usize, f: &mut impl FnMut(usize, usize, usize)) {
        let i = id / self.stride as usize;
        let (a, b) = (self.match_at[i] as usize, self.match_at[i + 1] as usize);
        for &(k, len) in &self.matches[a..b] {
            f(k as usize, end - len as usize, end);
        }
    }
}

/// The `aho-corasick` crate's DFA of the same automaton as [`Table`]: ASCII
/// case-insensitive, every keyword ending at a state reported there (standard
/// semantics). The tests check the table against it.
#[cfg(test)]
fn keyword_dfa<K: AsRef<[u8]>>(keywords: &[K]) -> DFA {
    DFA::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .start_kind(StartKind::Unanchored)
        .prefilter(false)
        .build(keywords)
        .expect("keyword automaton")
}

impl KeywordSearcher {
    /// A searcher for `keywords` (matched ASCII case-insensitively; keyword `i`
    /// is reported as `i`).
    pub fn new<K: AsRef<[u8]>>(keywords: &[K]) -> KeywordSearcher {
        if keywords.is_empty() {
            return KeywordSearcher { table: None };
        }
        let table = Table::new(keywords);
        KeywordSearcher { table: Some(table) }
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
        let Some(t) = &self.table else { return };
        if hay.len() < LANES * MIN_LANE {
            let mut id = t.start as usize;
            for (p, &b) in hay.iter().enumerate() {
                id = t.next(id, b);
                if t.is_match(id) {
                    t.report(id, p + 1, &mut f);
                }
            }
            return;
        }
        let back = t.longest.saturating_sub(1);
        // The lanes' hit buffers are this thread's, kept from call to call: fresh
        // ones grew from nothing on every file, a reallocation and its page faults
        // each time they doubled.
        thread_local! {
            static HITS: std::cell::RefCell<[Vec<(u32, usize)>; LANES]> = Default::default();
        }
        crate::with_scratch(&HITS, Default::default, |hits| {
            self.walk_all(t, hay, back, hits, &mut f)
        });
    }

    /// The segment loop of [`KeywordSearcher::for_each`], with its hit buffers.
    fn walk_all(
        &self,
        t: &Table,
        hay: &[u8],
        back: usize,
        hits: &mut [Vec<(u32, usize)>; LANES],
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        let mut seg = 0;
        while seg < hay.len() {
            // A short tail joins the segment before it.
            let seg_end = if hay.len() - seg < SEGMENT + LANES * MIN_LANE {
                hay.len()
            } else {
                seg + SEGMENT
            };
            walk_segment(t, hay, seg, seg_end, back, hits);
            for lane in hits.iter_mut() {
                for &(id, end) in lane.iter() {
                    t.report(id as usize, end, f);
                }
                lane.clear();
            }
            seg = seg_end;
        }
        // A buffer that grew large (a dense run of hits) is not kept.
        for lane in hits.iter_mut() {
            if lane.capacity() > 1 << 16 {
                *lane = Vec::new();
            }
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
    t: &Table,
    hay: &[u8],
    from: usize,
    to: usize,
    back: usize,
    hits: &mut [Vec<(u32, usize)>; LANES],
) {
    // Stretches of `len` bytes each; the last one also takes the remainder.
    let len = (to - from) / LANES;
    let bound = |k: usize| if k == LANES { to } else { from + k * len };
    let mut id = [t.start as usize; LANES];
    // Every stretch, the first of a segment included, first walks the `back`
    // bytes before it (clamped to the input's start) without recording: hits
    // that end in its own range but start before it are seen, hits ending
    // before its range are not recorded.
    for (k, s) in id.iter_mut().enumerate() {
        for &b in &hay[bound(k).saturating_sub(back)..bound(k)] {
            *s = t.next(*s, b);
        }
    }
    // The interleaved walk over `len` bytes of each stretch.
    let lanes: [&[u8]; LANES] = std::array::from_fn(|k| &hay[from + k * len..from + (k + 1) * len]);
    for j in 0..len {
        for k in 0..LANES {
            // SAFETY: every lane is `len` bytes long.
            let b = unsafe { *lanes[k].get_unchecked(j) };
            id[k] = t.next(id[k], b);
            if t.is_match(id[k]) {
                record(&mut hits[k], id[k], from + k * len + j + 1);
            }
        }
    }
    // The last stretch's remainder. (In a local, not `id[k]`: walking the array
    // here made the compiler keep a lane's state on the stack in the loop above.)
    let k = LANES - 1;
    let mut s = id[k];
    let rest = from + LANES * len;
    for (i, &b) in hay[rest..to].iter().enumerate() {
        s = t.next(s, b);
        if t.is_match(s) {
            hits[k].push((s as u32, rest + i + 1));
        }
    }
}

/// Records a hit (out of the walk's loop: hits are rare next to bytes).
#[cold]
#[inline(never)]
fn record(hits: &mut Vec<(u32, usize)>, id: usize, end: usize) {
    hits.push((id as u32, end));
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::automaton::Automaton;
    use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored};

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

    /// The table agrees with the crate's DFA it was made from: same states,
    /// same transitions on every byte (so the byte classes derived from the
    /// keywords are right), same match states and keywords.
    fn assert_table_is_the_dfa<K: AsRef<[u8]>>(keywords: &[K]) {
        let dfa = keyword_dfa(keywords);
        let t = Table::new(keywords);
        // Walk both breadth first, pairing their states.
        let start = dfa.start_state(Anchored::No).expect("start");
        let mut pairs = vec![(start, t.start as usize)];
        let mut ours = std::collections::HashMap::from([(start, t.start as usize)]);
        let mut i = 0;
        while i < pairs.len() {
            let (s, id) = pairs[i];
            assert_eq!(dfa.is_match(s), t.is_match(id));
            if t.is_match(id) {
                let want: Vec<(u32, u32)> = (0..dfa.match_len(s))
                    .map(|m| {
                        let p = dfa.match_pattern(s, m);
                        (p.as_u32(), dfa.pattern_len(p) as u32)
                    })
                    .collect();
                let mut got = Vec::new();
                t.report(id, 100, &mut |k, a, _| got.push((k as u32, 100 - a as u32)));
                // In the same order too (a state's own keywords, then its failure
                // state's): hits ending at one byte are reported in this order.
                assert_eq!(got, want);
            }
            for b in 0..=255u8 {
                let (ns, nid) = (dfa.next_state(Anchored::No, s, b), t.next(id, b));
                match ours.get(&ns) {
                    Some(&known) => assert_eq!(known, nid, "byte {b}"),
                    None => {
                        ours.insert(ns, nid);
                        pairs.push((ns, nid));
                    }
                }
            }
            i += 1;
        }
        assert_eq!(ours.len() * t.stride as usize, t.trans.len(), "states");
    }

    #[test]
    fn the_table_is_the_automaton() {
        let rules = crate::RuleSet::builtin().expect("builtin rules");
        let kws: Vec<Vec<u8>> = rules
            .rules()
            .iter()
            .flat_map(|r| r.def.keywords.iter().map(|k| k.as_bytes().to_vec()))
            .collect();
        assert_table_is_the_dfa(&kws);
        // Non-ASCII, every case, bytes that fold onto each other only in part.
        assert_table_is_the_dfa(&["\u{e9}t\u{c9}", "@[`{", "Ab", "aB", "\x00\x7f", "x"]);
        // Every byte value in some keyword: no byte left for the shared class.
        let all: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b, b'q']).collect();
        assert_table_is_the_dfa(&all);
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

    /// A keyword longer than a stretch (a user's rule may have one): each
    /// stretch's walk back before its start then covers stretches before it,
    /// and every hit is still reported once.
    #[test]
    fn keywords_longer_than_a_stretch_are_reported_once() {
        let long: Vec<u8> = (0..MIN_LANE * 2 + 5).map(|i| b"abcdefghij"[i % 10]).collect();
        let kws: Vec<Vec<u8>> = vec![long.clone(), b"hij".to_vec()];
        let s = KeywordSearcher::new(&kws);
        for n in [LANES * MIN_LANE, LANES * MIN_LANE + 3, LANES * MIN_LANE * 3 + 1] {
            for at in [0, MIN_LANE - 1, MIN_LANE * 2 + 1, n - long.len()] {
                if at + long.len() > n {
                    continue;
                }
                let mut hay = vec![b'.'; n];
                hay[at..at + long.len()].copy_from_slice(&long);
                let got = hits(&s, &hay);
                assert!(got.iter().any(|h| h.0 == 0), "n {n} at {at}");
                assert_eq!(got, reference(&kws, &hay), "n {n} at {at}");
            }
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
