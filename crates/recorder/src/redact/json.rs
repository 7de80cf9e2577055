//! The JSON payload scrub, over the text as written. One pass over the
//! bytes finds the spans to mask (a secret key's whole value, a string the
//! free-text rules change, a key written with escapes that hides a
//! pattern) and copies the rest as it is: the stored payload keeps its
//! whitespace, key order, escapes and numbers, and one without secrets
//! comes back borrowed.
//!
//! What counts as JSON is what serde_json accepts, so that anything else
//! still gets the free-text scrub; the one exception is a number beyond
//! f64's range, kept as written where serde_json refused the payload.
//! Duplicate keys are all kept, each scrubbed (a parsed `Value` kept the
//! last).

use std::borrow::Cow;

use super::{REDACTED, is_secret_key, patterns, scrub_text};

/// The deepest nesting scanned: serde_json refuses the 128th level, and a
/// payload it refused got the free-text scrub.
const MAX_DEPTH: usize = 127;

/// `text` with the secrets in it masked, if it is one JSON value; `None`
/// if it is not.
pub(super) fn scrub(text: &str) -> Option<Cow<'_, str>> {
    let mut scan = Scan {
        text,
        at: 0,
        out: None,
        copied: 0,
    };
    scan.whitespace();
    scan.value(0, true)?;
    scan.whitespace();
    (scan.at == text.len()).then(|| scan.finish())
}

/// A pass over `text`: where it is, and what it has written so far.
struct Scan<'a> {
    text: &'a str,
    at: usize,
    /// The output up to `copied`, made at the first change.
    out: Option<String>,
    /// How much of `text` `out` stands for.
    copied: usize,
}

impl<'a> Scan<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let here = self.peek() == Some(b);
        self.at += usize::from(here);
        here
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// Moves past the value at `at`, inside `depth` containers. With
    /// `scrub`, masks what is secret in it; without, only checks it.
    fn value(&mut self, depth: usize, scrub: bool) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, scrub),
            b'[' => self.array(depth + 1, scrub),
            b'"' => {
                let (text, start) = (self.text, self.at);
                let escaped = self.string()?;
                if scrub {
                    let content = decoded(&text[start..self.at], escaped);
                    if let Cow::Owned(clean) = scrub_text(&content) {
                        self.replace(start, self.at, |out| quote_into(out, &clean));
                    }
                }
                Some(())
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize, scrub: bool) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return None;
            }
            let key_start = self.at;
            let escaped = self.string()?;
            let key_end = self.at;
            self.whitespace();
            if !self.eat(b':') {
                return None;
            }
            self.whitespace();
            let mut secret = false;
            if scrub {
                let text = self.text;
                let key = decoded(&text[key_start..key_end], escaped);
                secret = is_secret_key(&key);
                // Keys are left to the patterns run over the whole payload,
                // which cannot read one written with escapes.
                if escaped && let Cow::Owned(clean) = patterns(&key) {
                    self.replace(key_start, key_end, |out| quote_into(out, &clean));
                }
            }
            let value_start = self.at;
            self.value(depth, scrub && !secret)?;
            if secret {
                self.replace(value_start, self.at, |out| quote_into(out, REDACTED));
            }
            self.whitespace();
            if self.eat(b',') {
                self.whitespace();
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    fn array(&mut self, depth: usize, scrub: bool) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.value(depth, scrub)?;
            self.whitespace();
            if self.eat(b',') {
                self.whitespace();
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }

    /// Moves past the string at `at` (its opening quote); whether it holds
    /// escapes.
    fn string(&mut self) -> Option<bool> {
        let bytes = self.bytes();
        self.at += 1;
        let mut escaped = false;
        loop {
            match *bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.at += escape_len(&bytes[self.at..])?;
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let here = self.bytes()[self.at..].starts_with(word.as_bytes());
        self.at += word.len();
        here.then_some(())
    }

    /// Moves past a number: `-`, an integer without leading zeros, then
    /// optional fraction and exponent. Its value is not read.
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && !self.digits() {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !self.digits() {
                return None;
            }
        }
        Some(())
    }

    /// Moves past a run of digits; whether there was one.
    fn digits(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at > start
    }

    /// Puts what `write` writes where `text[start..end]` was.
    fn replace(&mut self, start: usize, end: usize, write: impl FnOnce(&mut String)) {
        let text = self.text;
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(text.len() + REDACTED.len()));
        out.push_str(&text[self.copied..start]);
        write(out);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(&self.text[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

/// How long the escape that `s` begins with (at its backslash) is, if it
/// is one serde_json takes: a `\u` surrogate must be a high one followed
/// by a low one.
fn escape_len(s: &[u8]) -> Option<usize> {
    match *s.get(1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => match hex4(&s[2..])? {
            0xDC00..=0xDFFF => None,
            0xD800..=0xDBFF => {
                let low = s
                    .get(6..8)
                    .filter(|u| *u == b"\\u")
                    .and_then(|_| hex4(&s[8..]))?;
                (0xDC00..=0xDFFF).contains(&low).then_some(12)
            }
            _ => Some(6),
        },
        _ => None,
    }
}

/// The four hex digits `s` begins with, as a number.
fn hex4(s: &[u8]) -> Option<u32> {
    s.get(..4)?
        .iter()
        .try_fold(0, |n, &b| Some(n * 16 + char::from(b).to_digit(16)?))
}

/// The content of the string token `token` (quotes included, checked by
/// [`Scan::string`]), its escapes decoded.
fn decoded(token: &str, escaped: bool) -> Cow<'_, str> {
    let inner = &token[1..token.len() - 1];
    if !escaped {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let s = &rest.as_bytes()[at..];
        let len = escape_len(s).unwrap_or(s.len());
        let c = match s.get(1) {
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = hex4(&s[2..]).unwrap_or(0xFFFD);
                let code = match hex4(s.get(8..).unwrap_or_default()) {
                    // A surrogate pair, checked by `escape_len`.
                    Some(low) if len == 12 => 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00),
                    _ => unit,
                };
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            // `"`, `\` and `/` stand for themselves.
            Some(&b) => char::from(b),
            None => char::REPLACEMENT_CHARACTER,
        };
        out.push(c);
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it.
fn quote_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut copied = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[copied..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;
    use serde_json::Value;

    use crate::redact::{REDACTED, cut_to, free_text, is_secret_key, patterns, payload};

    /// The scrub this one replaced, kept as the oracle: the payload parsed
    /// into a `Value`, walked, and re-serialized compactly (keys sorted).
    fn rebuilt_payload(text: &str, cap: usize) -> (String, bool) {
        let scrubbed = match serde_json::from_str::<Value>(text) {
            Ok(mut v) => {
                scrub_value_in_place(&mut v);
                v.to_string()
            }
            Err(_) => free_text(text),
        };
        let mut scrubbed = patterns(&scrubbed).into_owned();
        let cut = cut_to(&mut scrubbed, cap);
        (scrubbed, cut)
    }

    /// Secret keys lose their values, strings get the free-text scrub.
    fn scrub_value_in_place(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if is_secret_key(k) {
                        *val = Value::String(REDACTED.into());
                    } else {
                        scrub_value_in_place(val);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(scrub_value_in_place),
            Value::String(s) => *s = free_text(s),
            _ => {}
        }
    }

    fn scrubbed(text: &str) -> String {
        payload(text, usize::MAX).0
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2IifQ.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn only_the_masked_spans_change() {
        let text = "{\n  \"type\" : \"ready\",\n  \"password\": {\"a\": [1, 2.50]},\n  \"n\": 1e2,\n  \"list\": [ \"Bearer s3cr3t\", true, null ]\n}\n";
        assert_eq!(
            scrubbed(text),
            "{\n  \"type\" : \"ready\",\n  \"password\": \"[REDACTED]\",\n  \"n\": 1e2,\n  \"list\": [ \"Bearer [REDACTED]\", true, null ]\n}\n"
        );
        // Every kind of value under a secret key goes whole.
        for value in [
            "1",
            "-2.5e-3",
            "true",
            "null",
            "[1,{\"a\":2}]",
            "{}",
            "\"x\"",
        ] {
            assert_eq!(
                scrubbed(&format!(r#"{{"api_key": {value}, "v":1}}"#)),
                r#"{"api_key": "[REDACTED]", "v":1}"#
            );
        }
    }

    #[test]
    fn a_payload_without_secrets_is_borrowed() {
        for text in [
            r#"{"v":1,"type":"progress","jobId":"a","seq":12,"payload":{"processed":3,"total":40}}"#,
            " [1, \"two\", {\"three\": 3.0}] ",
            r#""plain""#,
            r#"{"escaped":"a\"b\\c\u00e9","n":12345678901234567890123}"#,
        ] {
            assert!(
                matches!(super::scrub(text), Some(Cow::Borrowed(_))),
                "{text}"
            );
            assert_eq!(scrubbed(text), text);
        }
    }

    #[test]
    fn escapes_are_read_before_the_rules() {
        // A secret key spelled with escapes.
        assert_eq!(
            scrubbed(r#"{"tok\u0065n":"s3cr3t","\u0050assword":7}"#),
            r#"{"tok\u0065n":"[REDACTED]","\u0050assword":"[REDACTED]"}"#
        );
        // A string whose escapes hide a credential: scrubbed decoded, then
        // written back as serde_json writes strings.
        assert_eq!(
            scrubbed(r#"{"note":"Bearer\u0020s3cr3t\n\"done\""}"#),
            r#"{"note":"Bearer [REDACTED]\n\"done\""}"#
        );
        assert_eq!(
            scrubbed(r#"["\u0074oken=s3cr3t", "\/ws?\u0001"]"#),
            r#"["token=[REDACTED]", "\/ws?\u0001"]"#
        );
        // A JWT as a key, written with escapes: the whole-text patterns
        // cannot read it, so the key is read here.
        let key = format!(r#"{{"\u0065{}":1}}"#, &JWT[1..]);
        assert_eq!(scrubbed(&key), r#"{"[REDACTED]":1}"#);
        // As a value, with a surrogate pair beside it.
        let out = scrubbed(&format!(r#"{{"seq":"\ud83d\ude00 \u0065{}"}}"#, &JWT[1..]));
        assert_eq!(out, "{\"seq\":\"\u{1f600} [REDACTED]\"}");
    }

    #[test]
    fn non_ascii_duplicates_and_big_numbers() {
        assert_eq!(
            scrubbed(r#"{"ключ":"значение Bearer секрет","ключ":"😀"}"#),
            r#"{"ключ":"значение Bearer [REDACTED]","ключ":"😀"}"#
        );
        assert_eq!(
            scrubbed(r#"{"token":"a-s3cr3t","token":{"b":"s3cr3t"},"n":1}"#),
            r#"{"token":"[REDACTED]","token":"[REDACTED]","n":1}"#
        );
        // Kept as written: serde_json would have made the first a float and
        // refused the second (out of f64's range), scrubbing it as text.
        let big = r#"{"n":123456789012345678901234567890,"m":-1e400,"secret":0.1}"#;
        assert_eq!(
            scrubbed(big),
            r#"{"n":123456789012345678901234567890,"m":-1e400,"secret":"[REDACTED]"}"#
        );
    }

    #[test]
    fn what_serde_json_refuses_is_scrubbed_as_free_text() {
        for text in [
            "",
            "   ",
            r#"{"access_token": "s3cr3t", trunc"#,
            r#"{"a":1,}"#,
            "[1,]",
            "{'token': 's3cr3t'}",
            r#"{"token":"s3cr3t"} trailing"#,
            r#"{"a":01}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":NaN}"#,
            r#"{"a" 1}"#,
            r#"{1:2}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\x41"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"token":"s3cr3t""#,
            "\u{feff}{}",
            "Authorization: Bearer s3cr3t",
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(super::scrub(text).is_none(), "{text}");
            let out = scrubbed(text);
            assert_eq!(out, free_text(text), "{text}");
            assert!(!out.contains("s3cr3t"), "{text} -> {out}");
        }
    }

    #[test]
    fn nesting_is_json_as_deep_as_serde_json_takes_it() {
        for (depth, json) in [(127, true), (128, false), (5000, false)] {
            let text = format!(
                "{}\"Bearer s3cr3t\"{}",
                r#"{"a":["#.repeat(depth / 2) + &"[".repeat(depth % 2),
                "]".repeat(depth % 2) + &"]}".repeat(depth / 2)
            );
            assert_eq!(
                serde_json::from_str::<Value>(&text).is_ok(),
                json,
                "{depth}"
            );
            assert_eq!(super::scrub(&text).is_some(), json, "{depth}");
            assert!(!scrubbed(&text).contains("s3cr3t"), "{depth}");
        }
    }

    /// Keys from a set with secret names and innocent ones.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("token"),
            Just("password"),
            Just("authorization"),
            Just("api_key"),
            Just("secret"),
            Just("accessToken"),
            Just("type"),
            Just("seq"),
            Just("payload"),
            Just("note"),
            Just("tok"),
            Just("a b"),
        ]
        .prop_map(String::from)
    }

    /// Strings, some holding a credential after a scheme or a key, or a JWT.
    fn text() -> impl Strategy<Value = String> {
        let secret = prop_oneof![
            Just("Bearer s3cr3t-xyz".to_owned()),
            Just(JWT.to_owned()),
            Just("token=s3cr3t-abc".to_owned()),
            Just("wss://u:s3cr3t@host/x".to_owned()),
        ];
        prop_oneof![
            "[a-z ]{0,12}",
            "[\"\\\\/\n\t\u{1}\u{7f}a-zé😀 ]{0,8}",
            secret.clone(),
            ("[a-z]{0,6}[ :=]", secret, "[ ,;]?[a-z]{0,6}").prop_map(|(a, s, b)| a + &s + &b),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter_map("finite", serde_json::Number::from_f64)
                .prop_map(Value::Number),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// `v` as JSON with every character of every string (keys too) as a
    /// `\u` escape: the same value, spelled as no serializer spells it.
    fn all_escaped(v: &Value, out: &mut String) {
        let string = |s: &str, out: &mut String| {
            out.push('"');
            for unit in s.encode_utf16() {
                out.push_str(&format!("\\u{unit:04X}"));
            }
            out.push('"');
        };
        match v {
            Value::String(s) => string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    all_escaped(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    all_escaped(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// `text` damaged at `at`: a character taken out, doubled, or one of
    /// JSON's own put in. Mostly not JSON any more, sometimes still.
    fn spoiled(mut text: String, at: usize, how: usize) -> String {
        const PUT_IN: &[char] = &[
            '{', '}', '[', ']', '"', '\\', ',', ':', '-', '.', 'e', '0', ' ', 'u',
        ];
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        match (how % 3, text[at..].chars().next()) {
            (0, Some(_)) => {
                text.remove(at);
            }
            (1, Some(c)) => text.insert(at, c),
            _ => text.insert(at, PUT_IN[how / 3 % PUT_IN.len()]),
        }
        text
    }

    proptest! {
        /// Compact, pretty or fully escaped, a JSON payload scrubs to the
        /// same value as the rebuild did, and no planted secret is left.
        #[test]
        fn the_span_scrub_keeps_the_rebuild_s_values(v in json()) {
            let mut escaped = String::new();
            all_escaped(&v, &mut escaped);
            for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap(), escaped] {
                let out = scrubbed(&text);
                let (oracle, _) = rebuilt_payload(&text, usize::MAX);
                let got: Value = serde_json::from_str(&out).unwrap();
                let want: Value = serde_json::from_str(&oracle).unwrap();
                prop_assert_eq!(&got, &want, "{} -> {}", text, out);
                prop_assert!(!out.contains("s3cr3t") && !out.contains(JWT), "{} -> {}", text, out);
            }
        }

        /// A payload is scanned as JSON exactly when serde_json takes it
        /// (but for numbers beyond f64's range, kept as written), and one
        /// that is not gets the free-text scrub.
        #[test]
        fn json_is_what_serde_json_takes(
            v in json(),
            all_escapes in any::<bool>(),
            at in any::<usize>(),
            how in any::<usize>(),
        ) {
            let mut text = String::new();
            if all_escapes {
                all_escaped(&v, &mut text);
            } else {
                text = v.to_string();
            }
            let text = spoiled(text, at, how);
            let ours = super::scrub(&text);
            match serde_json::from_str::<Value>(&text) {
                Err(e) if e.to_string().contains("out of range") => {}
                theirs => prop_assert_eq!(ours.is_some(), theirs.is_ok(), "{}", text),
            }
            if ours.is_none() {
                prop_assert_eq!(scrubbed(&text), free_text(&text));
            }
        }
    }
}
