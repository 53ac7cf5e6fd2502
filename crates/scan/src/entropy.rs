//! Randomness checks used to gate generic rules.

/// Shannon entropy in bits per byte of `s`.
pub fn shannon(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// True for values that are obviously not real secrets: empty, templated
/// (`${{ secrets.X }}`, `${VAR}`, `{{ x }}`, `<your-token>`, `%s`, `#{x}`),
/// repeated characters (`xxxxxxxx`, `********`, a run of six), well-known
/// placeholder words (`your_`, `changeme`, `example`, `dummy`, `fake`, ...),
/// keyboard and counting sequences (`12345678`, `qwerty`), and values that
/// vendors' own documentation publishes as examples.
pub fn is_placeholder(value: &[u8]) -> bool {
    let v = match std::str::from_utf8(value) {
        Ok(v) => v.trim(),
        Err(_) => return false,
    };
    if v.len() < 4 {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if lower.starts_with('$') && lower[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return true;
    }
    // A template or reference anywhere in the value (`prefix-${VAR}`, `"{{ x }}"`, `%s`, `#{x}#`).
    const TEMPLATES: &[&str] = &[
        "${", "$(", "{{", "}}", "%(", "#{", "<%", "%>", "%s", "%d", "%v", "&lt;", "$env:", "$env.",
    ];
    if TEMPLATES.iter().any(|t| lower.contains(t)) || lower.starts_with('<') || lower.ends_with('>') {
        return true;
    }
    let bytes = v.as_bytes();
    let first = bytes[0];
    if bytes.iter().all(|&b| b == first) {
        return true;
    }
    let distinct = {
        let mut seen = [false; 256];
        bytes
            .iter()
            .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
            .count()
    };
    if distinct <= 2 {
        return true;
    }
    // A run of six or more of a masking character (`xxxxxx`, `000000`, `******`):
    // documentation masks values that way. (Not of any character: some vendor
    // formats hold long runs by design, such as the `AAAA…` of Dropbox and X tokens.)
    let mut run = 1;
    for w in bytes.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        if run >= 6 && matches!(w[0], b'x' | b'X' | b'*' | b'#' | b'0' | b'.' | b'-' | b'_' | b'?') {
            return true;
        }
    }
    // `xxxx` / `XXXX` in one case (`xXxX` occurs in random tokens).
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
        || lower.starts_with("your")
        || v.contains("xxxx")
        || v.contains("XXXX")
    {
        return true;
    }
    DOCUMENTED_EXAMPLES.iter().any(|e| v.contains(e))
}

/// Words that mark a value as a placeholder wherever they occur in it.
const PLACEHOLDER_WORDS: &[&str] = &[
    "your_",
    "your-",
    "_your",
    "-your",
    "yourtoken",
    "yourpassword",
    "yourkey",
    "yourapi",
    "yoursecret",
    "placeholder",
    "changeme",
    "changeit",
    "change_me",
    "change-me",
    "changethis",
    "change_this",
    "example",
    "redacted",
    "****",
    "dummy",
    "replace_me",
    "replaceme",
    "replace-me",
    "replace_with",
    "insert_",
    "insert-",
    "todo",
    "fixme",
    "<token>",
    "<secret>",
    "password123",
    "notasecret",
    "not_a_secret",
    "not-a-secret",
    "notreal",
    "not_real",
    "not-real",
    "sample",
    "fake",
    "12345678",
    "123456789",
    "abcdefgh",
    "abcd1234",
    "1234abcd",
    "qwerty",
    "asdfgh",
    "lorem",
    "ipsum",
    "...",
    "…",
];

/// Secret-shaped values that vendors' documentation publishes as examples
/// (those not already marked by a word such as `EXAMPLE`).
const DOCUMENTED_EXAMPLES: &[&str] = &[
    // Stripe API reference test keys.
    "4eC39HqLyjWDarjtT1zdp7dc",
    "TYooMQauvdEDq54NiTphI7jx",
    "BQokikJOvBiI2HlWgH4olfQ2",
    // GitHub documentation's sample personal access token.
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    // Slack documentation's sample tokens.
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "xoxp-23984754863-2348975623103",
    // jwt.io's sample token (HS256, "John Doe").
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
];

/// Words that, in a value found by a generic rule (one that needs no vendor
/// format), mark it as a test or demo value rather than a credential.
const GENERIC_PLACEHOLDER_WORDS: &[&str] = &[
    "test", "mock", "demo", "foobar", "secret", "password", "passwd", "token", "apikey", "api_key",
    "api-key", "default", "admin123", "letmein", "hunter2",
];

/// Prefixes of password hashes as the hashing libraries write them.
const HASH_SCHEMES: &[&str] = &[
    "pbkdf2_",
    "pbkdf2:",
    "$pbkdf2",
    "$argon2",
    "argon2$",
    "argon2:",
    "bcrypt$",
    "bcrypt_",
    "$2a$",
    "$2b$",
    "$2y$",
    "sha1$",
    "sha256$",
    "md5$",
    "scrypt:",
    "scrypt$",
    "{ssha}",
    "{ssha256}",
    "{ssha512}",
    "{sha}",
    "{bcrypt}",
];

/// True when a match of a generic rule (tag `generic`) is not a credential
/// even though its value passed [`is_placeholder`]: `name` is the text of the
/// match before the secret (the variable, key or flag), `line` the whole line
/// the secret starts on (`whole_line`: from its first byte; false when it is
/// only the part of a long line near the secret, which then never counts as a
/// comment).
///
/// - the value holds a test or demo word (`test`, `mock`, `demo`, `secret`,
///   `password`, `token`...): `test-password-1`, `my-secret-token2`;
/// - the value is made of words and numbers (`windows-1255`, `iso-8859-8`,
///   `gid-1000`, `prod-db-2`, `v1.2.3`): an identifier, an encoding or a
///   version, not a random string;
/// - the value is a UUID or a run of hex digits and the name says it is an
///   identifier (`id`, `uuid`, `hash`, `digest`, `checksum`, `sha`, `etag`,
///   `nonce`, `next`/`page`/`request`/`continuation` tokens, `csrf`);
/// - the line is an English sentence in a comment (five lowercase words or
///   more besides the value), or, for a match without `=` or `:` (`identified
///   by X`, `--password X`, `password "X"`), in a document line (eight): prose
///   that mentions a password, not an assignment.
pub fn generic_not_secret(name: &[u8], secret: &[u8], line: &[u8], whole_line: bool) -> bool {
    let Ok(v) = std::str::from_utf8(secret) else {
        return false;
    };
    let lower = v.to_ascii_lowercase();
    if GENERIC_PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    // A YAML tag (`password: !vault |`) or a password hash in a hash scheme's
    // own format (Django, Werkzeug, bcrypt, argon2): not the password itself.
    if (v.len() > 1 && v.starts_with('!') && v[1..].bytes().all(|b| b.is_ascii_alphabetic()))
        || HASH_SCHEMES.iter().any(|h| lower.starts_with(h))
    {
        return true;
    }
    if is_word_identifier(v) {
        return true;
    }
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if (is_uuid(v) || is_hex_run(v)) && names_an_identifier(&name) {
        return true;
    }
    // An assignment (`=`, `:`) outside a comment is code or configuration, however
    // many words its line holds (a CI log line); prose is checked for the rest.
    let assignment = name.contains('=') || name.contains(':');
    is_prose_line(line, secret, assignment, whole_line)
}

/// `windows-1255`, `iso-8859-8`, `prod-db-2`, `v1.2.3`, `gid-1000`,
/// `Release_2024`: lowercase or capitalised words of letters and runs of
/// digits, joined by `-`, `_`, `.`, `/` or `:`, with at least one word of three
/// letters or more and no more than two runs of digits.
fn is_word_identifier(v: &str) -> bool {
    let parts: Vec<&str> = v
        .split(['-', '_', '.', '/', ':'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() < 2 {
        return false;
    }
    let mut word = false;
    let mut numbers = 0;
    for p in &parts {
        let b = p.as_bytes();
        if b.iter().all(u8::is_ascii_digit) {
            numbers += 1;
            continue;
        }
        // `v2`, `x86`, `utf8`: a word and a version number.
        let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let rest = &b[letters..];
        if letters == 0 || !rest.iter().all(u8::is_ascii_digit) || rest.len() > 4 {
            return false;
        }
        let w = &b[..letters];
        let lower_word = w.iter().all(u8::is_ascii_lowercase)
            || (w[0].is_ascii_uppercase() && w[1..].iter().all(u8::is_ascii_lowercase))
            || (w.len() <= 4 && w.iter().all(u8::is_ascii_uppercase));
        if !lower_word {
            return false;
        }
        if !rest.is_empty() {
            numbers += 1;
        }
        if letters >= 3 {
            word = true;
        }
    }
    word && numbers <= 2
}

fn is_uuid(v: &str) -> bool {
    let v = v.trim_matches(|c| c == '{' || c == '}');
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_hex_run(v: &str) -> bool {
    v.len() >= 7 && v.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A name that calls its value an identifier, a digest or a paging token.
fn names_an_identifier(name: &str) -> bool {
    const ID: &[&str] = &[
        "uuid",
        "guid",
        "hash",
        "digest",
        "checksum",
        "sha",
        "md5",
        "etag",
        "nonce",
        "next",
        "page",
        "request",
        "continuation",
        "cursor",
        "idempotency",
        "csrf",
        "xsrf",
        "correlation",
        "trace",
        "commit",
        "revision",
        "version",
        "build",
        "client_token",
        "clienttoken",
        "sync",
        "cancel",
    ];
    if ID.iter().any(|w| name.contains(w)) {
        return true;
    }
    // `id`, `_id`, `-id`, `Id` at the end of the name (before quotes or an operator).
    let n = name.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    n == "id" || n.ends_with("_id") || n.ends_with("-id") || n.ends_with(".id") || n.ends_with("ids")
}

/// A line that is an English sentence around the match: a comment or a
/// document line with five or more words (lowercase or capitalised letters,
/// two or more long, not SQL keywords) outside the secret.
fn is_prose_line(line: &[u8], secret: &[u8], assignment: bool, whole_line: bool) -> bool {
    const SQL: &[&str] = &[
        "create",
        "alter",
        "user",
        "role",
        "login",
        "identified",
        "by",
        "with",
        "password",
        "grant",
        "set",
        "if",
        "not",
        "exists",
        "as",
        "to",
        "on",
        "all",
        "privileges",
        "encrypted",
        "unencrypted",
        "valid",
        "until",
    ];
    let text = String::from_utf8_lossy(line);
    let t = text.trim_start();
    let comment = whole_line
        && ["#", "//", "/*", "*", "--", ";", "<!--", "REM ", "%"]
            .iter()
            .any(|m| t.starts_with(m));
    if assignment && !comment {
        return false;
    }
    let secret = String::from_utf8_lossy(secret);
    let words = t
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|w| {
            let w = w.trim_matches(|c: char| ",.;:!?()\"'`".contains(c));
            let b = w.as_bytes();
            b.len() >= 2
                && b.iter().all(u8::is_ascii_alphabetic)
                && b[1..].iter().all(u8::is_ascii_lowercase)
                && !SQL.contains(&w.to_ascii_lowercase().as_str())
                && !secret.contains(w)
        })
        .count();
    // Outside a comment a sentence needs more words (code lines hold a few).
    words >= if comment { 5 } else { 8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_orders_randomness() {
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!(shannon(b"abcd") > 1.9);
        assert!(shannon(b"q8Zr2LmX9vTa") > shannon(b"passwordpass"));
    }

    #[test]
    fn placeholders() {
        for p in [
            "",
            "${{ secrets.TOKEN }}",
            "<your-token-here>",
            "xxxxxxxx",
            "${API_KEY}",
            "$API_KEY",
            "changeme",
            "********",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for s in ["q8Zr2LmX9vTa7Kp", "AKIAZ7Q3VOWRL4JD5NQK"] {
            assert!(!is_placeholder(s.as_bytes()), "{s}");
        }
    }
}
