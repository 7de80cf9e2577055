//! Secret scrubbing for every text that leaves the engine: what the
//! recorder stores or exports, what the CLI prints, the logs and the app's
//! notifications.
//!
//! The engine puts no secret in its events on purpose, but a peer's frames,
//! error texts and token-source descriptions are free text. Each goes
//! through here before it reaches SQLite, a trace, an export or a screen.
//! Four rules, in order: the exact token values this process has read
//! ([`sockscope_engine::secret`]), bare JWTs (`eyJ…` with three base64url
//! segments), URL userinfo (`scheme://user:pass@`), and the value after a
//! secret key name, an auth scheme, or in a serde error that quotes it
//! (`invalid type: string "…"`).

use std::borrow::Cow;

pub use sockscope_engine::secret::REDACTED;

mod json;

/// Key names (lower case, matched as substrings) whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "authoriz",
    "cookie",
    "credential",
    "api_key",
    "apikey",
    "api-key",
    "private_key",
    "signature",
    "access_key",
    "session_key",
    "sessionid",
    "jwt",
    "passphrase",
    "pwd",
    "auth_key",
    "authkey",
    "x-auth",
    "client_key",
    "bearer",
];

/// serde error phrases followed by the offending value in quotes.
const SERDE_QUOTES: &[&str] = &[
    "invalid type: string ",
    "invalid value: string ",
    "unknown variant ",
    "unknown field ",
    "invalid length ",
];

/// Auth schemes whose next word is a credential.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest"];

/// Whether a JSON key or form field name names a secret.
pub fn is_secret_key(key: &str) -> bool {
    // Every key of every JSON payload comes here: no lower-cased copy, and
    // only bytes that begin a key name are tried.
    let k = key.as_bytes();
    (0..k.len()).any(|i| {
        let c = k[i].to_ascii_lowercase();
        SECRET_STARTS[usize::from(c)]
            && SECRET_KEYS
                .iter()
                .any(|s| s.as_bytes()[0] == c && starts_with_ignore_case(&k[i..], s))
    })
}

/// The first bytes of `words` (lower case), as a lookup table.
const fn starts_of(words: &[&str]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < words.len() {
        table[words[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    table
}

const SECRET_STARTS: [bool; 256] = starts_of(SECRET_KEYS);
const SCHEME_STARTS: [bool; 256] = starts_of(AUTH_SCHEMES);

/// A frame payload, scrubbed then capped at `cap` bytes (on a char
/// boundary). Returns the text and whether it was cut.
///
/// JSON is scrubbed as written: a secret key's whole value becomes
/// `"[REDACTED]"` and a string the free-text rules change is written anew;
/// everything else (whitespace, key order, escapes, numbers) is kept byte
/// for byte. Anything else is scrubbed as free text.
pub fn payload(text: &str, cap: usize) -> (String, bool) {
    let scrubbed = json::scrub(text).unwrap_or_else(|| scrub_text(text));
    // Keys and numbers, which the JSON scrub leaves to the whole text.
    let mut scrubbed = and_then(scrubbed, patterns).into_owned();
    let cut = cut_to(&mut scrubbed, cap);
    (scrubbed, cut)
}

/// Cuts `s` to at most `cap` bytes, on a char boundary; whether it was cut.
pub(crate) fn cut_to(s: &mut String, cap: usize) -> bool {
    if s.len() <= cap {
        return false;
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

/// Header names whose whole value is a secret, beyond [`is_secret_key`]'s.
const SECRET_HEADERS: &[&str] = &["set-cookie", "proxy-authorization", "sec-websocket-key"];

/// An HTTP header's value as kept: a secret header's (`Authorization`,
/// `Cookie`, `X-Api-Key`, …) whole value is [`REDACTED`]; each offered
/// subprotocol that names a credential (`…bearer…`, `access_token`) is
/// too, since some apps carry their token there; anything else gets the
/// free-text scrub.
pub fn header_value(name: &str, value: &str) -> String {
    if is_secret_key(name) || SECRET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return REDACTED.to_owned();
    }
    if name.eq_ignore_ascii_case("sec-websocket-protocol") {
        return value
            .split(',')
            .map(|p| {
                let p = p.trim();
                if is_secret_key(p) {
                    REDACTED.to_owned()
                } else {
                    free_text(p)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    free_text(value)
}

/// What each byte of a secret in a binary payload becomes.
pub const MASK: u8 = b'*';

/// A binary payload, scrubbed then capped at `cap` bytes, as standard
/// base64 (padded). Returns the text and whether it was cut.
pub fn binary_payload(bytes: &[u8], cap: usize) -> (String, bool) {
    use base64::Engine as _;
    let scrubbed = binary(bytes);
    let cut = scrubbed.len() > cap;
    let kept = &scrubbed[..scrubbed.len().min(cap)];
    (base64::engine::general_purpose::STANDARD.encode(kept), cut)
}

/// A binary payload with its secrets masked byte for byte ([`MASK`]), so it
/// keeps its length and a length-prefixed format still parses:
/// - the exact token values in use, wherever they sit;
/// - in each run of printable ASCII, what the text rules find: bare JWTs,
///   URL userinfo, and the value after an auth scheme or a secret key name
///   (`token=x`, JSON inside a binary frame);
/// - a MessagePack or CBOR string or byte string right after a string that
///   names a secret key (a map's `"token": "…"`).
///
/// A secret under an innocent key in a format with no key names
/// (Protocol Buffers, say) is caught only by the first two rules.
pub fn binary(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let keyed = keyed_values(bytes);
    sockscope_engine::secret::mask_in(&mut out, MASK);
    for (a, b) in keyed {
        out[a..b].fill(MASK);
    }
    let mut i = 0;
    while i < out.len() {
        if !is_printable(out[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < out.len() && is_printable(out[i]) {
            i += 1;
        }
        if i - start < 3 {
            continue;
        }
        // Printable ASCII: always a str.
        let Ok(run) = std::str::from_utf8(&out[start..i]) else {
            continue;
        };
        let mut ranges = jwt_ranges(run);
        ranges.extend(userinfo_ranges(run));
        ranges.extend(after_ranges(run, AUTH_SCHEMES, &SCHEME_STARTS, false));
        ranges.extend(after_ranges(run, SECRET_KEYS, &SECRET_STARTS, true));
        for (a, b) in ranges {
            out[start + a..start + b].fill(MASK);
        }
    }
    out
}

fn is_printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\r' | b'\n')
}

/// Which binary encoding a string header is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    MessagePack,
    Cbor,
}

/// A string (or byte string) header at `at`, in either encoding: its
/// encoding and where its content is.
fn string_at(bytes: &[u8], at: usize) -> Option<(Encoding, usize, usize)> {
    let b = *bytes.get(at)?;
    let be = |from: usize, n: usize| -> Option<usize> {
        let field = bytes.get(from..from + n)?;
        Some(
            field
                .iter()
                .fold(0usize, |acc, &x| (acc << 8) | usize::from(x)),
        )
    };
    let (encoding, start, len) = match b {
        // MessagePack: fixstr, str 8/16/32, bin 8/16/32.
        0xa0..=0xbf => (Encoding::MessagePack, at + 1, usize::from(b & 0x1f)),
        0xd9 | 0xc4 => (Encoding::MessagePack, at + 2, be(at + 1, 1)?),
        0xda | 0xc5 => (Encoding::MessagePack, at + 3, be(at + 1, 2)?),
        0xdb | 0xc6 => (Encoding::MessagePack, at + 5, be(at + 1, 4)?),
        // CBOR: text and byte strings, with a length in the byte or after it.
        0x40..=0x57 | 0x60..=0x77 => (Encoding::Cbor, at + 1, usize::from(b & 0x1f)),
        0x58 | 0x78 => (Encoding::Cbor, at + 2, be(at + 1, 1)?),
        0x59 | 0x79 => (Encoding::Cbor, at + 3, be(at + 1, 2)?),
        0x5a | 0x7a => (Encoding::Cbor, at + 5, be(at + 1, 4)?),
        _ => return None,
    };
    let end = start.checked_add(len)?;
    (end <= bytes.len()).then_some((encoding, start, end))
}

/// Where the values of secret keys are, in MessagePack and CBOR maps: a
/// short string naming a secret, then a string in the same encoding.
fn keyed_values(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for at in 0..bytes.len() {
        let Some((encoding, start, end)) = string_at(bytes, at) else {
            continue;
        };
        if !(2..=64).contains(&(end - start)) {
            continue;
        }
        let Ok(key) = std::str::from_utf8(&bytes[start..end]) else {
            continue;
        };
        if !is_secret_key(key) {
            continue;
        }
        if let Some((e, vs, ve)) = string_at(bytes, end)
            && e == encoding
            && ve > vs
        {
            ranges.push((vs, ve));
        }
    }
    ranges
}

/// Cheap pre-check: text without `=`, `:` or a space holds no key-value
/// pair and no auth header.
fn needs_scan(s: &str) -> bool {
    s.bytes().any(|b| b == b'=' || b == b':' || b == b' ')
}

/// Scrubs free text: the word after an auth scheme (`Bearer x`), and the
/// value after a secret key followed by `=` or `:` (`token=x`,
/// `"token": "x"`, `Authorization: x`).
pub fn free_text(s: &str) -> String {
    scrub_text(s).into_owned()
}

/// [`free_text`], borrowing `s` when it holds nothing to replace.
fn scrub_text(s: &str) -> Cow<'_, str> {
    let s = patterns(s);
    if !needs_scan(&s) {
        return s;
    }
    let s = and_then(s, |t| scrub_after(t, AUTH_SCHEMES, &SCHEME_STARTS, false));
    let s = and_then(s, |t| scrub_after(t, SECRET_KEYS, &SECRET_STARTS, true));
    and_then(s, serde_quotes)
}

/// The rules that need no key name: known token values, bare JWTs and URL
/// userinfo.
fn patterns(s: &str) -> Cow<'_, str> {
    let known = sockscope_engine::secret::scrub(s);
    and_then(and_then(known, jwts), userinfo)
}

/// `rule` applied to `s`, which stays borrowed if neither made a copy.
fn and_then<'s>(s: Cow<'s, str>, rule: impl for<'x> Fn(&'x str) -> Cow<'x, str>) -> Cow<'s, str> {
    match s {
        Cow::Borrowed(b) => rule(b),
        Cow::Owned(o) => {
            let changed = match rule(&o) {
                Cow::Owned(changed) => Some(changed),
                Cow::Borrowed(_) => None,
            };
            Cow::Owned(changed.unwrap_or(o))
        }
    }
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `s` with each range (in order, not overlapping) replaced by
/// [`REDACTED`].
fn splice(s: &str, ranges: Vec<(usize, usize)>) -> Cow<'_, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for (start, end) in ranges {
        out.push_str(&s[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// Replaces bare JWTs (see [`jwt_ranges`]).
fn jwts(s: &str) -> Cow<'_, str> {
    splice(s, jwt_ranges(s))
}

/// Where the bare JWTs are: `eyJ` + base64url, `.`, base64url, `.`,
/// optional base64url (an unsigned token has an empty third segment).
fn jwt_ranges(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let seg = |from: usize| {
        let mut e = from;
        while e < bytes.len() && is_b64url(bytes[e]) {
            e += 1;
        }
        e
    };
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("eyJ") {
        let start = i + off;
        i = start + 3;
        // Inside a longer base64url run it is not a token's start.
        if start > 0 && is_b64url(bytes[start - 1]) {
            continue;
        }
        let h = seg(start);
        let ok1 = h < bytes.len() && bytes[h] == b'.';
        let p = if ok1 { seg(h + 1) } else { h };
        let ok2 = ok1 && p > h + 1 && p < bytes.len() && bytes[p] == b'.';
        if ok2 && h - start >= 10 {
            i = seg(p + 1);
            ranges.push((start, i));
        }
    }
    ranges
}

/// Replaces the userinfo of URLs: `wss://user:pass@host` becomes
/// `wss://[REDACTED]@host`.
fn userinfo(s: &str) -> Cow<'_, str> {
    splice(s, userinfo_ranges(s))
}

/// Where the userinfo of URLs is.
fn userinfo_ranges(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("://") {
        let auth_start = i + off + 3;
        let mut end = auth_start;
        let mut at = None;
        while end < bytes.len()
            && !matches!(
                bytes[end],
                b'/' | b'?' | b'#' | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>'
            )
        {
            if bytes[end] == b'@' {
                at = Some(end);
            }
            end += 1;
        }
        if let Some(at) = at.filter(|&a| a > auth_start) {
            ranges.push((auth_start, at));
        }
        i = end.max(auth_start);
    }
    ranges
}

/// Replaces the quoted value after a serde error phrase:
/// `invalid type: string "x", expected u64` keeps everything but `x`.
fn serde_quotes(s: &str) -> Cow<'_, str> {
    // Every phrase begins with one of these; most texts hold neither.
    if !contains_ignore_case(s, "invalid ") && !contains_ignore_case(s, "unknown ") {
        return Cow::Borrowed(s);
    }
    let lower = s.to_ascii_lowercase();
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some((pos, phrase)) = SERDE_QUOTES
        .iter()
        .filter_map(|p| lower[i..].find(p).map(|o| (i + o, *p)))
        .min_by_key(|(o, _)| *o)
    {
        let q = pos + phrase.len();
        i = q;
        let close = match s.as_bytes().get(q).copied() {
            Some(c @ (b'"' | b'`')) => s[q + 1..].find(c as char).map(|e| q + 1 + e),
            _ => None,
        };
        if let Some(c) = close.filter(|&c| c > q + 1) {
            ranges.push((q + 1, c));
            i = c + 1;
        }
    }
    splice(s, ranges)
}

/// Replaces the value after each occurrence of a keyword (see
/// [`after_ranges`]).
fn scrub_after<'s>(
    s: &'s str,
    words: &[&str],
    starts: &[bool; 256],
    key_value: bool,
) -> Cow<'s, str> {
    splice(s, after_ranges(s, words, starts, key_value))
}

/// Where the value after each occurrence of a keyword is. With
/// `key_value`, the keyword must be followed (after quotes and spaces) by
/// `=` or `:`; otherwise by whitespace.
fn after_ranges(
    s: &str,
    words: &[&str],
    starts: &[bool; 256],
    key_value: bool,
) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !starts[usize::from(bytes[i].to_ascii_lowercase())] {
            i += 1;
            continue;
        }
        let Some(word) = words
            .iter()
            .find(|w| starts_with_ignore_case(&bytes[i..], w))
        else {
            i += 1;
            continue;
        };
        // Skip the rest of the key name (e.g. `token` in `access_token_v2`).
        let mut j = i + word.len();
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'-')
        {
            j += 1;
        }
        let sep_start = j;
        let mut saw_sep = false;
        while j < bytes.len()
            && j - sep_start < 6
            && matches!(bytes[j], b'"' | b'\'' | b' ' | b'\t' | b'=' | b':')
        {
            saw_sep |= matches!(bytes[j], b'=' | b':');
            j += 1;
        }
        let ok = if key_value { saw_sep } else { j > sep_start };
        if !ok || j >= bytes.len() {
            i = j.max(i + 1);
            continue;
        }
        let mut end = j;
        // `Authorization: Bearer x` takes the scheme and the credential.
        if key_value {
            let rest = &bytes[j..];
            if let Some(scheme) = AUTH_SCHEMES
                .iter()
                .find(|w| starts_with_ignore_case(rest, w))
            {
                let k = j + scheme.len();
                if k < bytes.len() && bytes[k] == b' ' {
                    end = k + 1;
                }
            }
        }
        let value_start = end;
        while end < bytes.len() && !is_value_end(bytes[end]) {
            end += 1;
        }
        if end == value_start {
            i = end.max(i + 1);
            continue;
        }
        ranges.push((j, end));
        i = end;
    }
    ranges
}

/// Whether `bytes` begins with `word` (lower case), in any case.
fn starts_with_ignore_case(bytes: &[u8], word: &str) -> bool {
    bytes
        .get(..word.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(word.as_bytes()))
}

/// Whether `s` holds `word` (lower case), in any case.
fn contains_ignore_case(s: &str, word: &str) -> bool {
    let bytes = s.as_bytes();
    (0..bytes.len()).any(|i| starts_with_ignore_case(&bytes[i..], word))
}

fn is_value_end(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'"'
            | b'\''
            | b'&'
            | b','
            | b';'
            | b'}'
            | b']'
            | b')'
            | b'<'
            | b'>'
    )
}

/// A token-source description made safe: `env:NAME` and `file:PATH` are
/// kept (names, not secrets), a bare kind like `static` is kept, anything
/// else keeps only its kind.
pub fn token_source(desc: &str) -> String {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match desc.split_once(':') {
        None if is_name(desc) => desc.to_owned(),
        None => REDACTED.to_owned(),
        Some((kind, rest)) if is_name(kind) => {
            let kind_l = kind.to_ascii_lowercase();
            let keep = (kind_l == "env" && is_name(rest))
                || (kind_l == "file" && !rest.is_empty() && free_text(rest) == rest);
            if keep {
                desc.to_owned()
            } else {
                format!("{kind}:{REDACTED}")
            }
        }
        Some(_) => REDACTED.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_json_keys_and_strings() {
        let (p, cut) = payload(
            r#"{"type":"x","payload":{"token":"s3cr3t","note":"Authorization: Bearer s3cr3t","n":1}}"#,
            4096,
        );
        assert!(!cut);
        assert!(!p.contains("s3cr3t"), "{p}");
        assert!(p.contains(r#""n":1"#));
    }

    #[test]
    fn secret_key_names_match_anywhere_in_any_case() {
        for key in [
            "token",
            "X-Auth-Token",
            "ACCESS_TOKEN_V2",
            "myApiKey",
            "Cookie",
            "db_Passwd",
            "jwt",
            "x-auth",
            "clientSecret",
            "BEARER",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "type",
            "seq",
            "payload",
            "processedCount",
            "tok",
            "",
            "pw",
            "jw",
            "auth",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn scrubs_free_text() {
        for s in [
            "GET /ws?jobId=1&token=s3cr3t HTTP/1.1",
            "Authorization: Bearer s3cr3t",
            "authorization=Basic s3cr3t",
            "bearer s3cr3t",
            r#"{"access_token": "s3cr3t", trunc"#,
            "x-api-key:s3cr3t",
            "AUTHORIZATION: BEARER s3cr3t",
            "X-Api-Key=s3cr3t",
            "Invalid Type: string \"s3cr3t\", expected u64",
        ] {
            let out = free_text(s);
            assert!(!out.contains("s3cr3t"), "{s} -> {out}");
        }
        assert_eq!(free_text("tokenizer ran fine"), "tokenizer ran fine");
        assert_eq!(free_text("plain words"), "plain words");
        assert_eq!(
            free_text("at 2026-11-22T00:00:00.000Z: invalid input"),
            "at 2026-11-22T00:00:00.000Z: invalid input"
        );
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2IifQ.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn scrubs_bare_jwts_userinfo_and_serde_quotes() {
        for (s, keep) in [
            (format!("job failed: {JWT} was refused"), "was refused"),
            (
                "unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJqIn0. done".to_owned(),
                "done",
            ),
            (format!("({JWT})"), "("),
            (
                "redirect to wss://admin:s3cr3t@internal.example/ws".to_owned(),
                "@internal.example/ws",
            ),
            ("see https://s3cr3t@logs.example?x=1".to_owned(), "https://"),
            (
                "invalid type: string \"s3cr3t\", expected u64 at line 1 column 9".to_owned(),
                "expected u64",
            ),
            (
                "unknown variant `s3cr3t`, expected `a` or `b`".to_owned(),
                "expected",
            ),
            ("jwt=s3cr3t".to_owned(), "jwt="),
            ("passphrase: s3cr3t".to_owned(), "passphrase"),
        ] {
            let out = free_text(&s);
            assert!(
                !out.contains("s3cr3t") && !out.contains("eyJ"),
                "{s} -> {out}"
            );
            assert!(out.contains(keep), "{s} -> {out}");
        }
        // A JWT under an innocent key, in a JSON frame.
        let (p, _) = payload(&format!(r#"{{"v":1,"seq":"{JWT}"}}"#), 4096);
        assert!(!p.contains("eyJ"), "{p}");
        for plain in [
            "eyJ alone",
            "keyJar.x.y",
            "ws://host:1/path?jobId=j",
            "mail me at a@b.example",
        ] {
            assert_eq!(free_text(plain), plain);
        }
    }

    #[test]
    fn scrubs_the_exact_values_of_tokens_in_use() {
        sockscope_engine::secret::remember("plainlookingvalue42");
        let out = free_text("the server quoted plainlookingvalue42 back");
        assert_eq!(out, "the server quoted [REDACTED] back");
        let (p, _) = payload(r#"{"note":"plainlookingvalue42"}"#, 4096);
        assert!(!p.contains("plainlookingvalue42"), "{p}");
    }

    #[test]
    fn caps_on_char_boundary() {
        let (p, cut) = payload("ééééé", 3);
        assert!(cut);
        assert_eq!(p, "é");
    }

    #[test]
    fn token_source_descriptions() {
        assert_eq!(token_source("env:JOB_TOKEN"), "env:JOB_TOKEN");
        assert_eq!(token_source("static"), "static");
        assert_eq!(token_source("static:s3cr3t-value"), "static:[REDACTED]");
        assert_eq!(token_source("Bearer s3cr3t"), "[REDACTED]");
        assert_eq!(
            token_source("file:/run/secrets/job"),
            "file:/run/secrets/job"
        );
    }

    /// A binary payload keeps its length and every byte but the secrets'.
    fn masked(input: &[u8]) -> Vec<u8> {
        let out = binary(input);
        assert_eq!(out.len(), input.len(), "the length is kept");
        out
    }

    fn stars(n: usize) -> Vec<u8> {
        vec![MASK; n]
    }

    #[test]
    fn binary_payloads_lose_keyed_values_in_messagepack_and_cbor() {
        // MessagePack {"type": "hi", "token": "s3cr3t-mp", "n": 7}.
        let mut mp = vec![0x83, 0xa4];
        mp.extend(b"type");
        mp.push(0xa2);
        mp.extend(b"hi");
        mp.push(0xa5);
        mp.extend(b"token");
        mp.push(0xa9);
        mp.extend(b"s3cr3t-mp");
        mp.extend([0xa1, b'n', 0x07]);
        let out = masked(&mp);
        let at = mp.windows(9).position(|w| w == b"s3cr3t-mp").unwrap();
        assert_eq!(out[at..at + 9], stars(9)[..]);
        assert_eq!(out[..at], mp[..at], "the rest is kept");
        assert_eq!(out[at + 9..], mp[at + 9..]);

        // CBOR {"password": h'0102030405'} and a str 8 value under "apiKey".
        let mut cbor = vec![0xa2, 0x68];
        cbor.extend(b"password");
        cbor.extend([0x45, 1, 2, 3, 4, 5]);
        cbor.push(0x66);
        cbor.extend(b"apiKey");
        cbor.extend([0x78, 30]);
        cbor.extend([b'k'; 30]);
        let out = masked(&cbor);
        assert_eq!(out[11..16], stars(5)[..], "{out:?}");
        assert_eq!(out[cbor.len() - 30..], stars(30)[..]);
        assert_eq!(out[..11], cbor[..11]);

        // A key without a string after it is left alone.
        let lone = [0xa5, b't', b'o', b'k', b'e', b'n', 0x07];
        assert_eq!(masked(&lone), lone);
    }

    #[test]
    fn binary_payloads_lose_what_the_text_rules_find_in_printable_runs() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        let mut bin = vec![0x00, 0x10];
        bin.extend(b"Authorization: Bearer abc123xyz\n{\"token\":\"v4lue\"}");
        bin.extend([0xff, 0xfe]);
        bin.extend(jwt.bytes());
        bin.push(0x01);
        bin.extend(b"wss://user:pw@host/x");
        let out = String::from_utf8_lossy(&masked(&bin)).into_owned();
        for secret in ["abc123xyz", "v4lue", jwt, "user:pw"] {
            assert!(!out.contains(secret), "{secret} in {out:?}");
        }
        // The scheme goes with its credential, as in text.
        assert!(out.contains("Authorization: ****************\n"), "{out:?}");
        assert!(out.contains("@host/x"), "{out:?}");

        // A token in use is masked wherever it sits, even split from any key.
        sockscope_engine::secret::remember("binary-known-value");
        let mut raw = vec![0x92, 0x03];
        raw.extend(b"binary-known-value");
        raw.push(0x00);
        assert_eq!(masked(&raw)[2..20], stars(18)[..]);
    }

    #[test]
    fn a_binary_payload_is_stored_as_base64_and_cut_after_the_scrub() {
        use base64::Engine as _;
        let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let (p, cut) = binary_payload(&[0, 1, 2, 255], 4096);
        assert!(!cut);
        assert_eq!(decode(&p), [0, 1, 2, 255]);
        let mut mp = vec![0xa5];
        mp.extend(b"token");
        mp.push(0xa6);
        mp.extend(b"s3cr3t");
        let (p, cut) = binary_payload(&mp, 10);
        assert!(cut);
        let kept = decode(&p);
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[8..], stars(2)[..], "scrubbed before the cut");
    }

    proptest::proptest! {
        /// Any bytes: no panic, the same length, and each byte either kept
        /// or masked.
        #[test]
        fn any_binary_payload_keeps_its_length_and_only_masks(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let out = binary(&bytes);
            proptest::prop_assert_eq!(out.len(), bytes.len());
            proptest::prop_assert!(out.iter().zip(&bytes).all(|(o, b)| o == b || *o == MASK));
        }
    }

    #[test]
    fn header_values_lose_credentials_and_keep_the_rest() {
        assert_eq!(header_value("Authorization", "Bearer abc.def"), REDACTED);
        assert_eq!(header_value("cookie", "sid=1; theme=dark"), REDACTED);
        assert_eq!(header_value("Set-Cookie", "sid=1"), REDACTED);
        assert_eq!(header_value("X-Api-Key", "k-123"), REDACTED);
        assert_eq!(
            header_value("Sec-WebSocket-Key", "dGhlIHNhbXBsZQ=="),
            REDACTED
        );
        assert_eq!(
            header_value(
                "Sec-WebSocket-Protocol",
                "base64url.bearer.authorization.k8s.io.c2VjcmV0, v4.channel.k8s.io"
            ),
            format!("{REDACTED}, v4.channel.k8s.io")
        );
        assert_eq!(header_value("Upgrade", "websocket"), "websocket");
        assert_eq!(
            header_value("Host", "api.example.com:443"),
            "api.example.com:443"
        );
        assert_eq!(
            header_value("Referer", "https://u:pw@app.example/x?token=s3cr3t"),
            format!("https://{REDACTED}@app.example/x?token={REDACTED}")
        );
    }
}
