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
    if DOCUMENTED_EXAMPLES.iter().any(|e| v.contains(e)) {
        return true;
    }
    // Spelled with separators (`not-a-real-token`, `your_api_key_here`, `put your unique phrase`).
    let squeezed: String = lower.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if SQUEEZED_WORDS.iter().any(|w| squeezed.contains(w)) {
        return true;
    }
    // Words joined by separators, two of them of five letters or more
    // (`generate-with-openssl-rand-base64-32`): an instruction, not a random value (Apple's
    // app-specific passwords are four random groups of four letters).
    let parts: Vec<&str> = v
        .split(['-', '_', '.', '/', ':'])
        .filter(|p| !p.is_empty())
        .collect();
    let long_words = parts
        .iter()
        .filter(|p| p.bytes().take_while(u8::is_ascii_alphabetic).count() >= 5)
        .count();
    if parts.len() >= 3 && long_words >= 2 && is_word_identifier(v) {
        return true;
    }
    // Ciphertext, not the secret: a Windows DPAPI blob (`AQAAANCMnd8BFdERjHoAwE/Cl+sB…`).
    if v.starts_with("AQAAANCMnd8BFdERjHoAwE") {
        return true;
    }
    // A mask marker: `[FILTERED]`, `(sensitive value)`, `{hidden}`.
    if is_bracketed_word(v) || is_delimited_reference(v) {
        return true;
    }
    // Made by hand rather than drawn at random: counting runs (`0123456789abcdef`,
    // `456789`), values of a few repeated characters (`AAAABBBB1111`) or of one step
    // repeated (`abc123def456`, `1a2b3c4d5e6f`).
    if has_counting_run(bytes, 6) || is_patterned(bytes) || is_counting_runs(bytes) {
        return true;
    }
    // A real prefix with a made-up body (`GR1348941` + `123123…`, `ghp_` + `abcabc…`): the
    // last 16 characters patterned. (Drawn at random, 16 characters are not: the most
    // common step between neighbours would have to recur 9 times in 15.)
    if bytes.len() >= 24 && is_patterned(&bytes[bytes.len() - 16..]) {
        return true;
    }
    // The digits alone counting (`a123b45c6d78e9f0…`, `12cs345-67cd-890b…`).
    let digits: Vec<u8> = bytes.iter().copied().filter(u8::is_ascii_digit).collect();
    if has_counting_run(&digits, 8) {
        return true;
    }
    // Documentation's JSON Web Tokens: an example payload, or a signature that is text.
    if is_example_jwt(v) {
        return true;
    }
    // Base64 that decodes to text saying what it is (`dXNlcm5hbWU6cGFzc3dvcmQ=` is
    // `username:password`, a Laravel `base64:` key of `testingkey…`): a real key or
    // password decodes to random bytes or to a value without such words.
    decoded_text(v).is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        PLACEHOLDER_WORDS.iter().any(|w| t.contains(w))
            || GENERIC_PLACEHOLDER_WORDS.iter().any(|w| t.contains(w))
            || SQUEEZED_WORDS.iter().any(|w| t.contains(w))
    })
}

/// Placeholder phrases looked for in a value with its separators removed.
const SQUEEZED_WORDS: &[&str] = &[
    "notareal",
    "notreal",
    "notasecret",
    "notvalid",
    "invalidtoken",
    "yourtoken",
    "yourkey",
    "yoursecret",
    "yourpassword",
    "yourapikey",
    "yourown",
    "putyour",
    "uniquephrase",
    "enteryour",
    "pasteyour",
    "replacewith",
    "goeshere",
    "keyhere",
    "tokenhere",
    "secrethere",
    "passwordhere",
];

/// `[FILTERED]`, `(sensitive value)`, `{hidden}`, `[REDACTED]`: a bracketed word or
/// two, what tools print in place of a value.
fn is_bracketed_word(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 4 {
        return false;
    }
    let close = match b[0] {
        b'[' => b']',
        b'(' => b')',
        b'{' => b'}',
        _ => return false,
    };
    b[b.len() - 1] == close
        && b[1..b.len() - 1]
            .iter()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, b' ' | b'_' | b'-'))
}

/// A name between the delimiters of a substitution syntax: `@db.pw@` (Maven and Ant
/// filtering), `%DB_PW%` (Windows), `$smtp_pw$`, `__SqlPw__`, `@@ClientSecret@@`,
/// `[[storage_pw]]` (release tools' token replacement).
fn is_delimited_reference(v: &str) -> bool {
    const DELIMITERS: &[(&str, &str)] = &[
        ("@@", "@@"),
        ("__", "__"),
        ("[[", "]]"),
        ("@", "@"),
        ("%", "%"),
        ("$", "$"),
        ("#", "#"),
    ];
    DELIMITERS.iter().any(|(open, close)| {
        v.len() > open.len() + close.len() && v.starts_with(open) && v.ends_with(close) && {
            let inner = &v.as_bytes()[open.len()..v.len() - close.len()];
            inner[0].is_ascii_alphabetic()
                && inner
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b':'))
        }
    })
}

/// A run of `n` or more characters counting up or down by one (`123456`, `abcdef`,
/// `456789ab`, `ABCDEF`, `987654`), separators skipped. In a random value of base62
/// characters a given run of six occurs with odds of about one in a billion a position.
fn has_counting_run(v: &[u8], n: usize) -> bool {
    let (mut up, mut down) = (1, 1);
    let mut prev: Option<u8> = None;
    for c in v
        .iter()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
    {
        if let Some(p) = prev {
            let succ = c == p.wrapping_add(1) || (p == b'9' && c == b'a');
            up = if succ { up + 1 } else { 1 };
            down = if c.is_ascii_digit() && c == p.wrapping_sub(1) {
                down + 1
            } else {
                1
            };
            if up >= n || down >= n {
                return true;
            }
        }
        prev = Some(c);
    }
    false
}

/// A value of six characters or more made of counting runs of three or more
/// (`ABC12345`, `abc123`, `abcd1234xyz`).
fn is_counting_runs(v: &[u8]) -> bool {
    if v.len() < 6 || !v.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let l: Vec<u8> = v.iter().map(u8::to_ascii_lowercase).collect();
    let mut i = 0;
    while i < l.len() {
        let mut j = i + 1;
        while j < l.len() && l[j] == l[j - 1].wrapping_add(1) {
            j += 1;
        }
        if j - i < 3 {
            return false;
        }
        i = j;
    }
    true
}

/// A value of twelve characters or more whose steps from one character to the next are
/// mostly the same (`abc123def456`: +1 eight times in eleven; `1a2b3c4d5e6f`: two
/// steps alternating; `AAAABBBBCCCC`: mostly 0). A random value's steps are spread over
/// a hundred or so values.
fn is_patterned(v: &[u8]) -> bool {
    if v.len() < 12 {
        return false;
    }
    let mut counts: std::collections::HashMap<i16, usize> = std::collections::HashMap::new();
    for w in v.windows(2) {
        *counts.entry(i16::from(w[1]) - i16::from(w[0])).or_default() += 1;
    }
    let mut top: Vec<usize> = counts.into_values().collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    let steps = v.len() - 1;
    let first = top[0];
    let second = top.get(1).copied().unwrap_or(0);
    first * 10 >= steps * 6 || (first + second) * 100 >= steps * 85
}

/// Decodes base64 or base64url (padding optional); `None` on a byte outside both alphabets.
fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The text a base64 value (`base64:` prefix allowed) of 12 characters or more decodes
/// to, when every decoded byte is printable ASCII.
fn decoded_text(v: &str) -> Option<String> {
    let body = v.strip_prefix("base64:").unwrap_or(v);
    if body.len() < 12 || body.len() > 4096 {
        return None;
    }
    let d = b64_decode(body.as_bytes())?;
    (d.len() >= 8 && d.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .then(|| String::from_utf8_lossy(&d).into_owned())
}

/// A JSON Web Token (or a value holding one) that documentation made up: its payload
/// names an example (`John Doe`, `example.com`, a `test` subject, `1234567890`), or its
/// signature decodes to text (a real signature is random bytes).
fn is_example_jwt(v: &str) -> bool {
    let Some(at) = v.find("eyJ") else {
        return false;
    };
    let mut parts = v[at..].split('.');
    let (Some(_), Some(payload), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if let Some(p) = b64_decode(payload.as_bytes()) {
        let p = String::from_utf8_lossy(&p).to_ascii_lowercase();
        const MARKERS: &[&str] = &[
            "john doe",
            "jane doe",
            "example",
            "\"test",
            "test user",
            "1234567890",
            "sample",
            "dummy",
            "fake",
            "lorem",
        ];
        if MARKERS.iter().any(|m| p.contains(m)) {
            return true;
        }
    }
    let sig: String = sig
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    sig.len() >= 16 && decoded_text(&sig).is_some()
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
    "filtered",
    "masked",
    "omitted",
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
    // Google Authenticator's key URI documentation (base32 of `Hello!` and 0xDEADBEEF).
    "JBSWY3DPEHPK3PXP",
    // RFC 7617's Basic credentials (`Aladdin:open sesame`, `aladdin:opensesame`).
    "QWxhZGRpbjpvcGVuIHNlc2FtZQ",
    "YWxhZGRpbjpvcGVuc2VzYW1l",
    // Slack's documentation signing secret.
    "8f742231b10e8888abcd99yyyzzz85a5",
    // Socket.dev's free public API token (`sktsec_t_--…_api`, the demo organisation's,
    // published in Socket's CLI, libraries and agent skills as `SOCKET_PUBLIC_API_KEY`):
    // anyone may use it, so it is not a leak. Its random part, which no other token holds.
    "RAN5U4ivauy4w37-6aoKyYPDt5ZbaT5JBVMqiwKo",
    // Google API keys that Firebase's own SDKs publish as test values: the JavaScript SDK's
    // API key format test (`isValidApiKeyFormat`, Apache-2.0, Google LLC) and the storage
    // tests' `FirebaseOptions(apiKey: …)`. Copied into countless apps' test suites; public
    // rule sets ignore them too.
    "AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ",
    "AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
    "AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY",
    "AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
    "AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c",
    "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
    "AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM",
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
/// comment), `before` the part of that line before the match.
///
/// - the value holds a test or demo word (`test`, `mock`, `demo`, `secret`,
///   `password`, `token`...): `test-password-1`, `my-secret-token2`;
/// - the value's letters alone count six up or down (`px-dep-d4c3b2a1-…-p5o0n5m3l2k1`,
///   `copyproduct-abc5defg…`): typed by hand around a sequence;
/// - the value is made of words and numbers (`windows-1255`, `iso-8859-8`,
///   `gid-1000`, `prod-db-2`, `v1.2.3`): an identifier, an encoding or a
///   version, not a random string;
/// - the value is a UUID or a run of hex digits and the name says it is an
///   identifier (`id`, `uuid`, `hash`, `digest`, `checksum`, `sha`, `etag`,
///   `nonce`, `next`/`page`/`request`/`continuation` tokens, `csrf`), or does not
///   name a caller's credential (`ChangeToken`, `device_token`; a product's
///   `dailyco_secret` or `beSnappyToken` does);
/// - the line is an English sentence in a comment (five lowercase words or
///   more besides the value), or, for a match without `=` or `:` (`identified
///   by X`, `--password X`, `password "X"`), in a document line (eight): prose
///   that mentions a password, not an assignment.
pub fn generic_not_secret(name: &[u8], secret: &[u8], line: &[u8], whole_line: bool, before: &[u8]) -> bool {
    let Ok(v) = std::str::from_utf8(secret) else {
        return false;
    };
    let lower = v.to_ascii_lowercase();
    if GENERIC_PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    // Letters alone counting for six (`px-dep-d4c3b2a1-…-p5o0n5m3l2k1`: the
    // letters `ponmlk`): a value typed by hand around a sequence.
    // `has_counting_run` counts letters up only: the letters are also read backwards.
    let mut letters: Vec<u8> = secret.iter().copied().filter(u8::is_ascii_alphabetic).collect();
    if has_counting_run(&letters, 6) || {
        letters.reverse();
        has_counting_run(&letters, 6)
    } {
        return true;
    }
    // A YAML tag (`password: !vault |`) or a password hash in a hash scheme's
    // own format (Django, Werkzeug, bcrypt, argon2): not the password itself.
    if (v.len() > 1 && v.starts_with('!') && v[1..].bytes().all(|b| b.is_ascii_alphabetic()))
        || HASH_SCHEMES.iter().any(|h| lower.starts_with(h))
    {
        return true;
    }
    if is_word_identifier(v) || is_reference_path(v) || is_one_word(v) {
        return true;
    }
    // A test result, not a password's name: `PASS: addr2line -f option` at the start of a
    // line (Automake's and DejaGnu's test logs, with `XPASS:` and `KPASS:`), `--- PASS:
    // TestParse2` (`go test`). Not `ID:master/PASS:dipPr141Gg!`.
    let trimmed = name.trim_ascii_end();
    let lead = before.trim_ascii();
    if [&b"PASS:"[..], b"XPASS:", b"KPASS:"].contains(&trimmed)
        && trimmed.len() < name.len()
        && (lead.is_empty() || lead == b"---")
    {
        return true;
    }
    // An index expression (`row[x + xpos - pw] = char2`): a name closed by `]` that
    // opened no `[` of its own and does not follow one (`creds[password]=…` and
    // `$cfg['pass'] = …` are keys of a map).
    if let Some(close) = memchr::memchr(b']', name) {
        if !name[..close].contains(&b'[') {
            let b = before
                .strip_suffix(b"\"")
                .or(before.strip_suffix(b"'"))
                .unwrap_or(before);
            if !b.ends_with(b"[") {
                return true;
            }
        }
    }
    // `EXAMPLE` on the line: the convention of vendors' documentation
    // (`AKIAIOSFODNN7EXAMPLE`, `--access-key ABCDE12345670EXAMPLE`).
    if memchr::memmem::find(line, b"EXAMPLE").is_some() {
        return true;
    }
    let original_name = String::from_utf8_lossy(name);
    let name = original_name.to_ascii_lowercase();
    if (is_uuid(v) || is_hex_run(v)) && names_an_identifier(&name) {
        return true;
    }
    if names_a_non_secret(&name) {
        return true;
    }
    // A type or class name (`private_key: PKCS7PrivateKeyTypes,`), where the name is not
    // a password's (a password may well be `CorrectHorse7`).
    let password_name = ["pass", "pwd", "pw"].iter().any(|p| name.contains(p));
    if is_camel_identifier(v) && !password_name {
        return true;
    }
    // A dotted value under a secret's name (not a password's): a host name, a file name or
    // a version (`auth: node1.cluster.local`, `secret=config2.yaml`, `token = v2.3.1`), or
    // one without both a letter and a digit. What is left is a token with parts
    // (`key.secret`, a JWT-like `header.payload.signature`).
    if v.contains('.') && !password_name && is_dotted_name(v) {
        return true;
    }
    // `arn:aws:secretsmanager:…:secret:prod/api-Ab3Cd9`, `urn:x:token:…`: a name inside a
    // colon-separated identifier, not a key of a mapping (`"Section:ClientSecret": "…"`
    // is quoted).
    if name.starts_with(':') && (!name.contains(['"', '\'']) || before.ends_with(b":")) {
        return true;
    }
    // Identifiers and counters: a long value of digits with a letter or two
    // (`f/3196120912244748858305…`, `1700000000000abc`).
    if v.len() >= 16 && v.bytes().filter(u8::is_ascii_alphabetic).count() <= 2 {
        return true;
    }
    // A name whose word before `token`, `secret` or `key` is not one that credentials
    // carry (`ChangeToken`, `LockToken`, `LifecycleActionToken`): a UUID or a run of hex
    // there is an identifier.
    // Not so under a product's secret or token (`dailyco_secret`), for a value long
    // enough to be one (`harness_token = '1a2b3c4d'` is a stand-in).
    if (is_uuid(v) || is_hex_run(v))
        && !qualified_by_a_credential_word(&name)
        && !(v.len() >= 20 && (names_a_product_secret(&name) || names_a_product_secret_camel(&original_name)))
    {
        return true;
    }
    // A quoted value that is a URI, an ARN or a path (`"arn:aws:…"`, `"https://…"`,
    // `"s3://bucket/key"`): a reference to where a secret lives.
    let scheme = v.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if (2..=10).contains(&scheme) && v[scheme..].starts_with(':') && v.as_bytes()[0].is_ascii_lowercase() {
        return true;
    }
    // An assignment (`=`, `:`) outside a comment is code or configuration, however
    // many words its line holds (a CI log line); prose is checked for the rest.
    let assignment = name.contains('=') || name.contains(':');
    is_prose_line(line, secret, assignment, whole_line)
}

/// A dotted value that is not a token with parts: one with no letter or no digit, one
/// with `=` inside (`host=key` pairs), one whose parts after the first are short — a
/// file name (`config2.yaml`), a version (`v2.0.1-rc3`), most host names
/// (`node1.cluster.local`), a prefix and a stub (`pat.a1B2c3`,
/// `eyJhbGciOiJIUzI1NiJ9.eyJnVxk`: a token cut short) — or a host name with long labels
/// (lowercase letters, digits and `-`, the last one letters: `ip-10-0-1-23.ec2.internal`,
/// `creds2.properties`).
fn is_dotted_name(v: &str) -> bool {
    let b = v.as_bytes();
    if !b.iter().any(u8::is_ascii_alphabetic) || !b.iter().any(u8::is_ascii_digit) {
        return true;
    }
    if v.trim_end_matches('=').contains('=') {
        return true;
    }
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() < 2 {
        return false;
    }
    if parts[1..].iter().any(|p| p.trim_end_matches('=').len() < 8) {
        return true;
    }
    // `module.ClassName` (`ed25519.Ed25519PrivateKey` in `private_key: ed25519.…`): a
    // type in code: a lowercase module name, then a capitalised name holding a word (a
    // capital and three lowercase letters or more).
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    let module = first.starts_with(|c: char| c.is_ascii_lowercase())
        && first
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    let class = last.starts_with(|c: char| c.is_ascii_uppercase())
        && last.bytes().all(|c| c.is_ascii_alphanumeric())
        && last
            .as_bytes()
            .windows(4)
            .any(|w| w[0].is_ascii_uppercase() && w[1..].iter().all(u8::is_ascii_lowercase));
    if module && class {
        return true;
    }
    let label = |p: &&str| {
        p.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    parts.iter().all(label) && last.len() <= 24 && last.bytes().all(|c| c.is_ascii_lowercase())
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

/// `StreamDescription.Shards[-1].ShardId`, `settings.SECRET_KEY2`, `cfg.auth.token_v2`:
/// identifiers joined by `.`, with optional subscripts, two or more of them.
fn is_reference_path(v: &str) -> bool {
    let mut parts = 0;
    for p in v.split('.') {
        let p = match p.find('[') {
            Some(i) if p.ends_with(']') => &p[..i],
            Some(_) => return false,
            None => p,
        };
        let b = p.as_bytes();
        if b.is_empty()
            || b.len() > 40
            || !(b[0].is_ascii_alphabetic() || b[0] == b'_')
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            return false;
        }
        // Each part a word as code spells it: `settings`, `token_v2`, `SECRET_KEY2`,
        // `ShardId` (not `bat47Fy4` or a JWT's `eyJhbGciOi…`).
        let lower = b.iter().all(|c| !c.is_ascii_uppercase());
        let upper = b.iter().all(|c| !c.is_ascii_lowercase());
        let capitalised = b[0].is_ascii_uppercase() && b[1..].iter().all(|c| !c.is_ascii_uppercase());
        let camel = is_camel_identifier(&format!("{}{}", &p[..1].to_ascii_uppercase(), &p[1..]));
        let no_digit = b.len() <= 32 && !b.iter().any(u8::is_ascii_digit);
        if !(lower || upper || capitalised || camel || no_digit) {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// `Incomplete`, `*EXPORT`: one capitalised or upper-case word of 3 to 16 letters, with
/// at most one symbol before it. A type name in a stub (`password: Incomplete`), a
/// keyword in a lexer's list (`"EXPASS", "*EXPORT"`); a random value practically never
/// is one. A lower-case word is kept: `psexec … -p braksha` is a (weak) password.
fn is_one_word(v: &str) -> bool {
    let b = v.as_bytes();
    let w = match b.first() {
        Some(c) if !c.is_ascii_alphanumeric() => &b[1..],
        _ => b,
    };
    (3..=16).contains(&w.len())
        && w.iter().all(u8::is_ascii_alphabetic)
        && (w.iter().all(u8::is_ascii_uppercase)
            || (w[0].is_ascii_uppercase() && w[1..].iter().all(u8::is_ascii_lowercase)))
}

/// `PKCS7PrivateKeyTypes`, `HttpClient2`, `SHA256Digest`: capitalised words (a capital
/// and two or more lowercase letters) and acronyms, with at most one run of digits, two
/// words or more. A random value practically never splits that way.
fn is_camel_identifier(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 6 || !b[0].is_ascii_uppercase() || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (mut i, mut words, mut digit_runs) = (0, 0, 0);
    while i < b.len() {
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            digit_runs += 1;
            continue;
        }
        if !b[i].is_ascii_uppercase() {
            return false;
        }
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_uppercase() {
            j += 1;
        }
        let caps = j - i;
        let mut k = j;
        while k < b.len() && b[k].is_ascii_lowercase() {
            k += 1;
        }
        let lower = k - j;
        if lower == 0 {
            // an acronym (`PKCS`, `SHA`), at most five capitals
            if caps > 5 {
                return false;
            }
            i = j;
        } else {
            // `Private`: one capital then lowercase; `HTTPClient`: an acronym, then a word
            if lower < 2 {
                return false;
            }
            i = k;
        }
        words += 1;
    }
    words >= 2 && digit_runs <= 1
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

/// True when the word before the name's last `secret`, `token`, `key`, `credential` or
/// `auth` is empty or one that credentials carry (`api`, `access`, `client`, `deploy`…):
/// `API_TOKEN`, `client_secret`, `AwsSecretKey`, but not `ChangeToken` or `LockToken`.
fn qualified_by_a_credential_word(name: &str) -> bool {
    const QUALIFIERS: &[&str] = &[
        "access",
        "auth",
        "api",
        "bot",
        "bearer",
        "refresh",
        "session",
        "oauth",
        "personal",
        "deploy",
        "upload",
        "registry",
        "secret",
        "app",
        "private",
        "service",
        "admin",
        "master",
        "id",
        "user",
        "write",
        "read",
        "signing",
        "encryption",
        "integration",
        "webhook",
        "license",
        "account",
        "storage",
        "shared",
        "consumer",
        "crypt",
        "crypto",
        "aes",
        "hmac",
        "enc",
        "server",
        "client",
        "hub",
        "lab",
        "ci",
        "cloud",
        "npm",
        "pypi",
        "git",
        "github",
        "gitlab",
        "circle",
        "slack",
        "aws",
        "azure",
        "gcp",
        "google",
        "docker",
        "vault",
        "sentry",
        "stripe",
        "twilio",
        "jwt",
    ];
    let ident: String = name_identifier(name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let at = ["secret", "token", "key", "credential", "auth"]
        .iter()
        .filter_map(|k| ident.rfind(k))
        .max();
    match at {
        None => true,
        Some(at) => {
            let stem = &ident[..at];
            stem.is_empty() || QUALIFIERS.iter().any(|q| stem.ends_with(q))
        }
    }
}

/// The identifier of a match's name text: its last run of letters, digits, `_`, `-`
/// and `.` (`dailyco_secret` in `  dailyco_secret: "`).
fn name_identifier(name: &str) -> &str {
    let b = name.as_bytes();
    let end = b.iter().rposition(u8::is_ascii_alphanumeric).map_or(0, |i| i + 1);
    let start = b[..end]
        .iter()
        .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
        .map_or(0, |i| i + 1);
    &name[start..end]
}

/// The words before `token` or `secret` of a device's, a lock's or a position's token
/// rather than a caller's (`device_token`, `push_token`, `lock_token`, `resume_token`).
const NOT_A_CALLER: &[&str] = &[
    "device",
    "push",
    "lock",
    "change",
    "resume",
    "state",
    "registration",
    "notification",
    "fcm",
    "apns",
    "gcm",
];

/// A `<word>_secret` or `<word>_token` name, the word set off by `_`, `-` or `.`
/// (`dailyco_secret`, `CODECLIMATE_TOKEN`, `sentry.token`): the way configuration
/// and environment variables name a product's credential, whatever the product.
/// Names run together (`ChangeToken`, `LockToken`, `LifecycleActionToken`: fields of
/// API documents, whose UUIDs and hex values are identifiers) are not, and neither
/// are the tokens that name a device, a lock or a position rather than a caller
/// (`device_token`, `push_token`, `lock_token`, `resume_token`, `state_token`).
/// `<word>_key` is not either: `cache_key`, `sort_key`, `object_key` hold hashes.
/// `name` is lowercase, as [`generic_not_secret`] passes it.
fn names_a_product_secret(name: &str) -> bool {
    let Some((stem, word)) = name_identifier(name).rsplit_once(['_', '-', '.']) else {
        return false;
    };
    if !matches!(word, "secret" | "token" | "secrets" | "tokens") {
        return false;
    }
    let last = stem.rsplit(['_', '-', '.']).next().unwrap_or(stem);
    last.len() >= 3 && last.bytes().all(|b| b.is_ascii_alphanumeric()) && !NOT_A_CALLER.contains(&last)
}

/// A variable in code named for a product's secret or token in lower camel case
/// (`beSnappyToken`, `acmeSecret`): the product's word, three letters or more, then
/// `Token` or `Secret`. Fields of API documents are upper camel case (`ChangeToken`,
/// `LockToken`) and stay identifiers; so do the tokens of a device, a lock or a position
/// (`deviceToken`, `resumeToken`), as in [`names_a_product_secret`]. `name` keeps its case.
fn names_a_product_secret_camel(name: &str) -> bool {
    let ident = name_identifier(name);
    if !ident.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        || !ident.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let Some(stem) = ident
        .strip_suffix("Token")
        .or_else(|| ident.strip_suffix("Secret"))
    else {
        return false;
    };
    // The stem's last camel-case word.
    let start = stem.rfind(|c: char| c.is_ascii_uppercase()).unwrap_or(0);
    let last = stem[start..].to_ascii_lowercase();
    last.len() >= 3 && !NOT_A_CALLER.contains(&last.as_str())
}

/// True when the text right after a match masks the rest of the value: three or more
/// `*` or `#` (`xoxp-5723…-####################`, `sk_live_51H…********`), or an
/// ellipsis or bullet (`…`, `•`, `●`). Tools and documentation show a token's first
/// characters and mask the rest; what is shown is not the secret.
pub fn masked_after(after: &[u8]) -> bool {
    let masks = after
        .iter()
        .take(3)
        .take_while(|&&b| b == b'*' || b == b'#')
        .count();
    masks == 3
        || after.starts_with("\u{2026}".as_bytes())
        || after.starts_with("\u{2022}".as_bytes())
        || after.starts_with("\u{25cf}".as_bytes())
}

/// True when the text of a match before its secret (the variable or key name) calls the
/// value public by design: a publishable key, a public key or token, a reCAPTCHA site
/// key, a search-only key. Read for every rule, vendor rules included.
pub fn names_a_public_value(name: &[u8]) -> bool {
    const PUBLIC: &[&[u8]] = &[
        b"publishable",
        b"public_key",
        b"publickey",
        b"public-key",
        b"public_token",
        b"publictoken",
        b"public-token",
        b"sitekey",
        b"site_key",
        b"site-key",
        b"searchonly",
        b"search_only",
        b"search-only",
    ];
    if name.len() < 7 {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    PUBLIC.iter().any(|w| memchr::memmem::find(&lower, w).is_some())
}

/// A name whose value is never a credential, whatever it looks like: paging and
/// request bookkeeping (`next_page_token`, `continuation`, `cursor`, `idempotency`,
/// `correlation`), anti-forgery tokens (`csrf`, `authenticity_token`), values public by
/// design (`publishable_key`, `site_key`, `public`), and English words that merely end
/// in `pass` (`compass`, `bypass`, `trespass`, `surpass`, `overpass`).
fn names_a_non_secret(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "next_page",
        "nextpage",
        "next-page",
        "next_token",
        "nexttoken",
        "next-token",
        "page_token",
        "pagetoken",
        "page-token",
        "pagination",
        "continuation",
        "cursor",
        "idempotency",
        "correlation",
        "csrf",
        "xsrf",
        "authenticity",
        "clienttoken",
        "client_token",
        // Keys that name data, not credentials: storage object keys, database and
        // cache keys, message routing keys (`"S3Key": "1234-Job-ab98…/"`, `sortKey`).
        "s3key",
        "s3_key",
        "objectkey",
        "object_key",
        "bucketkey",
        "bucket_key",
        "sortkey",
        "sort_key",
        "partitionkey",
        "partition_key",
        "rangekey",
        "range_key",
        "rowkey",
        "row_key",
        "cachekey",
        "cache_key",
        "foreignkey",
        "foreign_key",
        "routingkey",
        "routing_key",
        "lookupkey",
        "lookup_key",
    ];
    if NAMES.iter().any(|w| name.contains(w)) || names_a_public_value(name.as_bytes()) {
        return true;
    }
    // The letters just before `pass`, within the name's last word.
    const PASS_WORDS: &[&[u8]] = &[b"com", b"by", b"tres", b"sur", b"over", b"under", b"im", b"encom"];
    let b = name.as_bytes();
    let end = b.iter().rposition(u8::is_ascii_alphanumeric).map_or(0, |i| i + 1);
    let start = b[..end]
        .iter()
        .rposition(|c| !c.is_ascii_alphanumeric())
        .map_or(0, |i| i + 1);
    let word = &b[start..end];
    memchr::memmem::find(word, b"pass").is_some_and(|i| PASS_WORDS.contains(&&word[..i]))
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
    fn dotted_values_that_are_names_are_not_secrets() {
        for v in [
            "config2.yaml",
            "v2.3.1",
            "1.4.2-beta3",
            "node1.cluster.local",
            "ip-10-0-1-23.ec2.internal",
            "creds2.properties",
            "pat.a1B2c3",
            "eyJhbGciOiJIUzI1NiJ9.eyJnVxk",
            "ge.acme-corp.io=7w5kbqq",
            "AbCdEfGh.IjKlMnOp",
            "ed25519.Ed25519PrivateKey",
        ] {
            assert!(is_dotted_name(v), "part {} should read as a name", v.len());
        }
        for v in [
            "Yk3mP9qZ.vT4nR8sW2xL6hJ",
            "tk1.Qm8xT2vLr9Zp4Ks.Wn6Hd3Jf_Vb7",
            "hD9sK2.Wq4xLm7Rt1Zp6Vn3.Bc8Fg5Jk0Ty2",
        ] {
            assert!(
                !is_dotted_name(v),
                "a token with parts of length {} read as a name",
                v.len()
            );
        }
    }

    #[test]
    fn entropy_orders_randomness() {
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!(shannon(b"abcd") > 1.9);
        assert!(shannon(b"q8Zr2LmX9vTa") > shannon(b"passwordpass"));
    }

    #[test]
    fn a_mask_after_a_value_says_it_is_shown_in_part() {
        for a in [
            "####################\"",
            "****",
            "\u{2026}",
            "\u{2022}\u{2022}",
            "\u{25cf}",
        ] {
            assert!(masked_after(a.as_bytes()), "{a}");
        }
        for a in ["", "\"", " # comment", "##", "*/", "#!", "\n****"] {
            assert!(!masked_after(a.as_bytes()), "{a}");
        }
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
            "@db.pw@",
            "%SQL_PW%",
            "__SqlPw__",
            "[FILTERED]",
            "0123456789abcdef",
            "ABC12345",
            "abc123def456",
            "1a2b3c4d5e6f",
            "AAAABBBBCCCCDDDD1111",
            "xoxb-not-a-real-token-this-will-not-work",
            "GR134894112312312312312312312",
            "ghp_Zq8r2LmX9vTaabcabcabcabcabcabcab",
            "dXNlcm5hbWU6cGFzc3dvcmQ=",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.c2lnbmF0dXJlLWZvci1kb2N1bWVudGF0aW9uLW9ubHk",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for s in [
            "q8Zr2LmX9vTa7Kp",
            "AKIAZ7Q3VOWRL4JD5NQK",
            "Zq8!mWr2x",
            "SqLpa5sW0rD",
            "J38YmIgn7dH6cw4W+yqoRgjsFsWvysFjfVcpCh7O9Yyv9/qNvNI",
            "x9#k2!m@p4^v7&q1*z8(w3)r6_t0+y5=u2-j",
        ] {
            assert!(!is_placeholder(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn generic_filter() {
        let not = |name: &str, v: &str, line: &str, before: &str| {
            generic_not_secret(
                name.as_bytes(),
                v.as_bytes(),
                line.as_bytes(),
                true,
                before.as_bytes(),
            )
        };
        // identifiers, references and documentation
        assert!(not("\"next_page_token\": \"", "CiAKGjBpNDd2Nmp2", "", ""));
        // one word: a stub's type, a lexer's keyword; a word with a digit is kept
        assert!(not(
            "password: ",
            "Incomplete",
            "    password: Incomplete",
            "    "
        ));
        assert!(not("EXPASS\", \"", "*EXPORT", "\"EXPASS\", \"*EXPORT\",", "\""));
        assert!(!not(
            "password: ",
            "Incomplete7",
            "    password: Incomplete7",
            "    "
        ));
        assert!(!not(
            "password: ",
            "xKqzvTwmRpLd",
            "    password: xKqzvTwmRpLd",
            "    "
        ));
        assert!(!not(
            "-p ",
            "braksha",
            "psexec \\\\host -u Administrator -p braksha cmd",
            "psexec "
        ));
        // test results in a CI log
        assert!(not("PASS: ", "addr2line", "PASS: addr2line -f option", ""));
        assert!(not("XPASS: ", "t3-overflow", "XPASS: t3-overflow", ""));
        assert!(not(
            "PASS: ",
            "TestParse2",
            "--- PASS: TestParse2 (0.00s)",
            "--- "
        ));
        assert!(!not("pass: ", "Zq8mWr2xT4", "  pass: Zq8mWr2xT4", "  "));
        assert!(!not(
            "PASS:",
            "dipPr141Gg!",
            "ID:master/PASS:dipPr141Gg!",
            "ID:master/"
        ));
        assert!(!not(
            "PASS: ",
            "Qv7m2Kx9Lw",
            "login: admin PASS: Qv7m2Kx9Lw",
            "login: admin "
        ));
        // an index expression, not a key of a map
        let line = "row[x + xpos - pw] = char2";
        assert!(not("pw] = ", "char2", line, "row[x + xpos - "));
        assert!(!not(
            "password]=",
            "s3cr3tVal",
            "creds[password]=s3cr3tVal",
            "creds["
        ));
        assert!(!not(
            "pass'] = ",
            "Zq8mWr2xT4",
            "$cfg['pass'] = 'Zq8mWr2xT4';",
            "$cfg['"
        ));
        assert!(not(
            ":Secret\": \"",
            "c85175a4ebcce361",
            "",
            "\"AWS::SecretsManager:"
        ));
        assert!(not(
            ":secret:",
            "prod-api-Ab3Cd9x",
            "",
            "arn:aws:secretsmanager:eu-west-1:1:"
        ));
        assert!(not(
            "\"ChangeToken\": \"",
            "abcd12f2-46da-4fdb-b8d5-fbd4c466928f",
            "",
            ""
        ));
        assert!(not("private_key: ", "PKCS7PrivateKeyTypes", "", ""));
        // keys that name data: storage objects, sort and routing keys
        assert!(not(
            "\"S3Key\": \"",
            "867139942017-EntitiesDetection-ab9887877365fe70/",
            "",
            ""
        ));
        assert!(not("sortKey = \"", "createdAt2DescThenId7Xq", "", ""));
        assert!(!not("primaryKey: \"", "Zq8mWr2xT4pL0vN7bK3hJ9cF6dS1aG5e", "", ""));
        assert!(!not(
            "appopticsKey := \"",
            "Q7mZr2Tw9Lx4Vn8Hb3Kc6Jd1Pf5Ys0Ga",
            "",
            ""
        ));
        assert!(not(
            "output_token = \"",
            "StreamDescription.Shards[-1].ShardId",
            "",
            ""
        ));
        assert!(not("compass=", "N45E", "", ""));
        assert!(not(
            "key=",
            "Qm8xT2vLr9Zp4Ks",
            "x --access-key ABCDE12345670EXAMPLE key=Qm8xT2vLr9Zp4Ks",
            ""
        ));
        // credentials
        assert!(!not(
            "\"Authentication:Google:ClientSecret\": \"",
            "Wq7eR2tY9uI4oP1aS6dF3gH8",
            "",
            "\"Authentication:Google"
        ));
        assert!(!not(
            "\"AwsSecretKey\": \"",
            "J38YmIgn7dH6cw4W+yqoRgjsFsWvysFjfVcpCh7O9Yyv9/qNvNI",
            "",
            ""
        ));
        assert!(!not("API_TOKEN=", "9f4d9f69-275a-41fe-b58e-2b837bd9ba48", "", ""));
        assert!(!not("password: ", "CorrectHorse7", "", ""));
        // hex and UUIDs: a product's secret or token set off by a separator is kept,
        // API documents' run-together fields and device or lock tokens are not
        let hex64 = "40842f16899170ffaf4e8ea99c68e748fac5e9ee5d675dd06fbe0c300a8f291a";
        assert!(!not("dailyco_secret: \"", hex64, "", ""));
        assert!(!not("CODECLIMATE_TOKEN=", &hex64[..40], "", ""));
        assert!(!not(
            "sentry.token = \"",
            "9f4d9f69-275a-41fe-b58e-2b837bd9ba48",
            "",
            ""
        ));
        assert!(not(
            "\"LockToken\": \"",
            "9f4d9f69-275a-41fe-b58e-2b837bd9ba48",
            "",
            ""
        ));
        assert!(not("device_token: ", hex64, "", ""));
        assert!(not(
            "lock-token: ",
            "9f4d9f69-275a-41fe-b58e-2b837bd9ba48",
            "",
            ""
        ));
        assert!(not("cache_key = \"", hex64, "", ""));
        assert!(not("x_token = \"", hex64, "", ""));
        assert!(not("harness_token = '", "1a2b3c4d", "", ""));
        // a product's token in lower camel case, in code, is kept; API documents'
        // upper camel case fields and a device's token are not
        assert!(!not("beSnappyToken := ", hex64, "", ""));
        assert!(!not("acmeSecret = \"", hex64, "", ""));
        assert!(not("LifecycleActionToken = \"", hex64, "", ""));
        assert!(not("deviceToken = \"", hex64, "", ""));
        assert!(not("myToken = \"", hex64, "", ""));
        // letters counting down in a value typed by hand
        assert!(not(
            "deployKey=",
            "px-dep-d4c3b2a1-f6e5-h8g7-j1i8-p5o0n5m3l2k1",
            "",
            ""
        ));
        assert!(!not("password: ", "Zq8!mWr2x", "", ""));
    }
}
