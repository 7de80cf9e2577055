//! Secret scrubbing for everything the recorder stores or exports.
//!
//! The engine puts no secret in its events on purpose, but a peer's frames,
//! error texts and token-source descriptions are free text. Each goes
//! through here before it reaches SQLite, a trace or an export.

/// What a scrubbed value becomes.
pub const REDACTED: &str = "[REDACTED]";

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
];

/// Auth schemes whose next word is a credential.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest"];

/// Whether a JSON key or form field name names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

/// A frame payload, scrubbed then capped at `cap` bytes (on a char
/// boundary). JSON is scrubbed by key; anything else as free text. Returns
/// the text and whether it was cut.
pub fn payload(text: &str, cap: usize) -> (String, bool) {
    let scrubbed = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            json_value(&mut v);
            v.to_string()
        }
        Err(_) => free_text(text),
    };
    if scrubbed.len() <= cap {
        return (scrubbed, false);
    }
    let mut end = cap;
    while !scrubbed.is_char_boundary(end) {
        end -= 1;
    }
    (scrubbed[..end].to_owned(), true)
}

/// Scrubs a JSON value in place: secret keys lose their values, strings are
/// scrubbed as free text.
pub fn json_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) {
                    *val = serde_json::Value::String(REDACTED.into());
                } else {
                    json_value(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json_value),
        serde_json::Value::String(s) if needs_scan(s) => *s = free_text(s),
        _ => {}
    }
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
    if !needs_scan(s) {
        return s.to_owned();
    }
    let after_schemes = scrub_after(s, AUTH_SCHEMES, false);
    scrub_after(&after_schemes, SECRET_KEYS, true)
}

/// Replaces the value after each occurrence of a keyword. With
/// `key_value`, the keyword must be followed (after quotes and spaces) by
/// `=` or `:`; otherwise by whitespace.
fn scrub_after(s: &str, words: &[&str], key_value: bool) -> String {
    let lower = s.to_ascii_lowercase();
    let lower = lower.as_bytes();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(word) = words.iter().find(|w| lower[i..].starts_with(w.as_bytes())) else {
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
            let rest = &lower[j..];
            if let Some(scheme) = AUTH_SCHEMES.iter().find(|w| rest.starts_with(w.as_bytes())) {
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
        out.push_str(&s[copied..j]);
        out.push_str(REDACTED);
        copied = end;
        i = end;
    }
    out.push_str(&s[copied..]);
    out
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
    fn scrubs_free_text() {
        for s in [
            "GET /ws?jobId=1&token=s3cr3t HTTP/1.1",
            "Authorization: Bearer s3cr3t",
            "authorization=Basic s3cr3t",
            "bearer s3cr3t",
            r#"{"access_token": "s3cr3t", trunc"#,
            "x-api-key:s3cr3t",
        ] {
            let out = free_text(s);
            assert!(!out.contains("s3cr3t"), "{s} -> {out}");
        }
        assert_eq!(free_text("tokenizer ran fine"), "tokenizer ran fine");
        assert_eq!(free_text("plain words"), "plain words");
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
}
