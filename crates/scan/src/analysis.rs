//! What a rule's pattern says about its matches, read from its syntax tree
//! once, when the rule set is compiled: whether a match can span lines, its
//! shortest length, the group holding the secret, a needle (rare bytes every
//! match holds), whether every match starts at a keyword, and its literal
//! prefixes.
//!
//! The build script runs this module too (it depends only on `regex-syntax`
//! and `std`): it analyses the built-in pack's patterns when the crate is
//! built, so that a scan's start-up does not parse 1,200 patterns again (the
//! parse was half of it). User rules are analysed at load time; a test checks
//! that the embedded analyses are what this module answers at run time.

/// What [`analyze`] reads from a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// The pattern can match a line feed (its search window spans lines).
    pub(crate) multiline: bool,
    /// The fewest bytes a match spans.
    pub(crate) min_len: usize,
    /// The group holding the secret (see [`secret_group`]).
    pub(crate) secret_group: Option<usize>,
    /// See [`needle_of`].
    pub(crate) needle: Option<Needle>,
    /// Single-line patterns only: every match begins at one of the keywords
    /// or one byte before (see [`starts_at_keyword`]).
    pub(crate) starts_at_keyword: bool,
    /// A case-sensitive pattern's literal prefixes, when finite (`None` for a
    /// pattern that may ignore case: it needs none).
    pub(crate) prefixes: Option<Vec<Vec<u8>>>,
}

/// Parses `pattern` as the rule set does (the syntax `regex` accepts for
/// `regex::bytes`: Unicode on, UTF-8 not required) and reads its [`Analysis`];
/// the error is the parser's message.
pub(crate) fn analyze(pattern: &str, keywords: &[String]) -> Result<Analysis, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let extract = |hir: &regex_syntax::hir::Hir| -> Option<Vec<Vec<u8>>> {
        regex_syntax::hir::literal::Extractor::new()
            .extract(hir)
            .literals()
            .map(|l| l.iter().map(|l| l.as_bytes().to_vec()).collect())
    };
    let multiline = can_match_newline(&hir);
    // The literal prefixes, extracted once: the keyword spellings of a
    // case-sensitive rule use them (a rule that ignores case has the most of
    // them, every spelling of its keywords, and needs none). Whether matches
    // start at a keyword is read from the prefixes with case folded: keywords
    // are found in any case, and a pattern that ignores case has so many
    // spellings of its prefixes that the extractor gives up on them.
    let prefixes = if pattern_may_ignore_case(pattern) {
        None
    } else {
        extract(&hir)
    };
    let starts_at_keyword =
        !multiline && extract(&fold_ascii_case(&hir)).is_some_and(|l| starts_at_keyword(&l, keywords));
    Ok(Analysis {
        multiline,
        min_len: hir.properties().minimum_len().unwrap_or(0),
        secret_group: secret_group(&hir),
        needle: needle_of(&hir, keywords),
        starts_at_keyword,
        prefixes,
    })
}

/// An [`Analysis`] as the build script embeds it (a `static`).
#[derive(Debug)]
pub(crate) struct Embedded {
    /// [`Analysis::multiline`].
    pub(crate) multiline: bool,
    /// [`Analysis::min_len`].
    pub(crate) min_len: usize,
    /// [`Analysis::secret_group`].
    pub(crate) secret_group: Option<usize>,
    /// [`Analysis::needle`].
    pub(crate) needle: Option<Needle>,
    /// [`Analysis::starts_at_keyword`].
    pub(crate) starts_at_keyword: bool,
    /// [`Analysis::prefixes`].
    pub(crate) prefixes: Option<&'static [&'static [u8]]>,
}

impl Embedded {
    /// The analysis.
    pub(crate) fn analysis(&self) -> Analysis {
        Analysis {
            multiline: self.multiline,
            min_len: self.min_len,
            secret_group: self.secret_group,
            needle: self.needle,
            starts_at_keyword: self.starts_at_keyword,
            prefixes: self.prefixes.map(|p| p.iter().map(|l| l.to_vec()).collect()),
        }
    }
}

impl Analysis {
    /// The analysis as Rust source of an [`Embedded`] (for the build script).
    #[allow(dead_code)] // used by the build script only
    pub(crate) fn to_rust(&self) -> String {
        let bytes = |b: &[u8]| format!("&{b:?}");
        format!(
            "Embedded {{ multiline: {}, min_len: {}, secret_group: {:?}, needle: {}, starts_at_keyword: {}, prefixes: {} }}",
            self.multiline,
            self.min_len,
            self.secret_group,
            match &self.needle {
                Some(n) => format!("Some(Needle {{ bytes: {:?}, len: {} }})", n.bytes, n.len),
                None => "None".into(),
            },
            self.starts_at_keyword,
            match &self.prefixes {
                Some(p) => format!("Some(&[{}])", p.iter().map(|l| bytes(l)).collect::<Vec<_>>().join(", ")),
                None => "None".into(),
            }
        )
    }
}

/// A fingerprint of a rule's pattern and keywords (FNV-1a, 64 bits): an
/// embedded analysis is used only for the pattern and keywords it was made
/// from.
pub(crate) fn fingerprint(pattern: &str, keywords: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(pattern.as_bytes());
    for k in keywords {
        eat(&[0xff]);
        eat(k.as_bytes());
    }
    h
}

/// One to three bytes of which every match of a rule holds at least one (see
/// [`needle_of`]); found with `memchr`, a window without them is skipped before
/// the rule's regex runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needle {
    pub(crate) bytes: [u8; 3],
    pub(crate) len: u8,
}

/// How common a byte is in text (lower is rarer), for choosing a needle: most
/// punctuation is rarer than letters, digits and white space, `@`, `|`, `~`
/// and their like the rarest. Only sets of bytes ranked below
/// [`NEEDLE_MAX_RANK`] become needles: a window (a line around a keyword)
/// nearly always holds a letter, a space or a quote.
pub(crate) fn byte_rank(b: u8) -> u32 {
    match b {
        b'@' | b'|' | b'~' | b'^' | b'`' | b'\\' | b'$' | b'!' | b'%' | b'&' | b'?' | b'+' | b'<' | b'>' => 1,
        b'#' | b';' | b'[' | b']' | b'{' | b'}' | b'*' => 2,
        b'=' | b':' => 3,
        b'(' | b')' | b',' | b'/' | b'-' => 4,
        b'"' | b'\'' | b'.' | b'_' => 5,
        b' ' | b'\t' | b'\n' | b'\r' => 9,
        b if b.is_ascii_alphanumeric() => 9,
        _ => 2, // other control bytes and non-ASCII
    }
}

/// Sets whose every byte ranks at most this are needles.
pub(crate) const NEEDLE_MAX_RANK: u32 = 4;

/// Sets of bytes (each of at most three) such that every match of `hir` holds
/// a byte of each set. Sound, not complete: a literal contributes each of its
/// bytes, a small class itself, a concatenation its parts' sets, a repetition
/// at least once its body's, an alternation one set made of one set of each
/// branch (when each has one and the union stays small).
fn required_sets(hir: &regex_syntax::hir::Hir) -> Vec<Vec<u8>> {
    use regex_syntax::hir::{Class, HirKind};
    let small = |mut v: Vec<u8>| -> Vec<Vec<u8>> {
        v.sort_unstable();
        v.dedup();
        if v.is_empty() || v.len() > 3 {
            Vec::new()
        } else {
            vec![v]
        }
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        HirKind::Literal(l) => l.0.iter().map(|&b| vec![b]).collect(),
        HirKind::Class(Class::Bytes(c)) => {
            if c.ranges().iter().map(|r| r.len()).sum::<usize>() > 3 {
                return Vec::new();
            }
            small(c.iter().flat_map(|r| r.start()..=r.end()).collect())
        }
        HirKind::Class(Class::Unicode(c)) => {
            // Only ASCII classes: a wider character is several bytes.
            if c.ranges().iter().any(|r| !r.end().is_ascii())
                || c.ranges().iter().map(|r| r.len()).sum::<usize>() > 3
            {
                return Vec::new();
            }
            small(
                c.iter()
                    .flat_map(|r| r.start()..=r.end())
                    .map(|ch| ch as u8)
                    .collect(),
            )
        }
        HirKind::Repetition(r) if r.min >= 1 => required_sets(&r.sub),
        HirKind::Repetition(_) => Vec::new(),
        HirKind::Capture(c) => required_sets(&c.sub),
        HirKind::Concat(v) => v.iter().flat_map(required_sets).collect(),
        HirKind::Alternation(v) => {
            let mut union = Vec::new();
            for branch in v {
                match best_set(required_sets(branch), &[]) {
                    Some(s) => union.extend(s),
                    None => return Vec::new(),
                }
            }
            small(union)
        }
    }
}

/// The rarest of `sets` (by the sum of its bytes' ranks) that holds no byte of `avoid`.
fn best_set(sets: Vec<Vec<u8>>, avoid: &[u8]) -> Option<Vec<u8>> {
    sets.into_iter()
        .filter(|s| !s.iter().any(|b| avoid.contains(b)))
        .min_by_key(|s| s.iter().map(|&b| byte_rank(b)).sum::<u32>())
}

/// The needle of a rule: a set of rare bytes (see [`byte_rank`]) of which every
/// match holds one and which no keyword holds (in either ASCII case: a window
/// holds its keyword, so such a needle would never skip it).
pub(crate) fn needle_of(hir: &regex_syntax::hir::Hir, keywords: &[String]) -> Option<Needle> {
    let avoid: Vec<u8> = keywords
        .iter()
        .flat_map(|k| k.bytes())
        .flat_map(|b| [b.to_ascii_lowercase(), b.to_ascii_uppercase()])
        .collect();
    let sets: Vec<Vec<u8>> = required_sets(hir)
        .into_iter()
        .filter(|s| s.iter().all(|&b| byte_rank(b) <= NEEDLE_MAX_RANK))
        .collect();
    let set = best_set(sets, &avoid)?;
    let mut bytes = [0u8; 3];
    bytes[..set.len()].copy_from_slice(&set);
    Some(Needle {
        bytes,
        len: set.len() as u8,
    })
}

/// `hir` with every class that holds one ASCII letter in both cases (and
/// maybe its non-ASCII case variants, such as the Kelvin sign for `k`) read as
/// that letter in lower case: the pattern's spellings folded to one, as the
/// keyword search folds them.
pub(crate) fn fold_ascii_case(hir: &regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Capture, Class, Hir, HirKind, Repetition};
    let letter = |c: &Class| -> Option<u8> {
        let ascii: Vec<(u32, u32)> = match c {
            Class::Bytes(b) => b
                .ranges()
                .iter()
                .map(|r| (r.start() as u32, r.end() as u32))
                .collect(),
            Class::Unicode(u) => u
                .ranges()
                .iter()
                .filter(|r| (r.start() as u32) < 0x80)
                .map(|r| (r.start() as u32, (r.end() as u32).min(0x7f)))
                .collect(),
        };
        match ascii.as_slice() {
            [(a, a2), (b, b2)] if a == a2 && b == b2 => {
                let (a, b) = (*a as u8, *b as u8);
                (a.is_ascii_uppercase() && b == a.to_ascii_lowercase()).then_some(b)
            }
            _ => None,
        }
    };
    match hir.kind() {
        HirKind::Class(c) => match letter(c) {
            Some(l) => Hir::literal([l]),
            None => hir.clone(),
        },
        HirKind::Concat(v) => Hir::concat(v.iter().map(fold_ascii_case).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(fold_ascii_case).collect()),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold_ascii_case(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(fold_ascii_case(&c.sub)),
            ..c.clone()
        }),
        _ => hir.clone(),
    }
}

/// True when every match of a pattern begins with one of the rule's keywords, or with one byte
/// and then a keyword (`\bpat…`, `[#%]define…`, `(?i:\bdd_…)`), as the
/// pattern's literal prefixes show (ASCII case ignored, as the keyword search
/// ignores it). Every match then starts where one of its keyword hits starts or
/// one byte before, which is the promise of the anchor `keyword`, implied; a hit where the
/// pattern cannot start (`pat` in `path(`) is dropped after a few bytes of an
/// anchored search instead of its line being searched. `literals` are the
/// pattern's literal prefixes (finite; the pattern has none when they are
/// infinite); false when one is cut short of a keyword.
pub(crate) fn starts_at_keyword(literals: &[Vec<u8>], keywords: &[String]) -> bool {
    if keywords.iter().any(String::is_empty) {
        return false;
    }
    let starts_with_keyword = |bytes: &[u8]| {
        keywords
            .iter()
            .any(|k| bytes.len() >= k.len() && bytes[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
    };
    let every = !literals.is_empty()
        && literals
            .iter()
            .all(|b| starts_with_keyword(b) || (!b.is_empty() && starts_with_keyword(&b[1..])));
    every
}

/// The group holding the secret: the one named `secret`, else group 1 when
/// there is one, else none (the whole match). Numbered as `regex` numbers them.
pub(crate) fn secret_group(hir: &regex_syntax::hir::Hir) -> Option<usize> {
    use regex_syntax::hir::{Hir, HirKind};
    fn named(h: &Hir) -> Option<usize> {
        match h.kind() {
            HirKind::Capture(c) if c.name.as_deref() == Some("secret") => Some(c.index as usize),
            HirKind::Capture(c) => named(&c.sub),
            HirKind::Repetition(r) => named(&r.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().find_map(named),
            _ => None,
        }
    }
    named(hir).or_else(|| (hir.properties().explicit_captures_len() > 0).then_some(1))
}

/// True when a pattern can match `\n` (any class or literal containing it).
pub(crate) fn can_match_newline(hir: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn walk(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => false,
            HirKind::Literal(l) => l.0.contains(&b'\n'),
            HirKind::Class(Class::Unicode(c)) => {
                c.ranges().iter().any(|r| r.start() <= '\n' && '\n' <= r.end())
            }
            HirKind::Class(Class::Bytes(c)) => {
                c.ranges().iter().any(|r| r.start() <= b'\n' && b'\n' <= r.end())
            }
            HirKind::Repetition(r) => walk(&r.sub),
            HirKind::Capture(c) => walk(&c.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(walk),
        }
    }
    walk(hir)
}

/// True when a pattern may match case-insensitively somewhere: it sets the `i`
/// flag in a flag group (`(?i)`, `(?i:`, `(?mi)`, `(?m-ui)`…). Errs on the
/// side of "yes" (an escaped `\(?i` also counts).
pub(crate) fn pattern_may_ignore_case(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let mut i = 0;
    while let Some(p) = b[i..].windows(2).position(|w| w == b"(?") {
        let mut j = i + p + 2;
        while j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'-' || b[j] == b' ') {
            if b[j] == b'i' {
                return true;
            }
            j += 1;
        }
        i = i + p + 2;
    }
    false
}
