//! A streaming reader of HAR files with WebSocket messages, as Chrome and
//! Edge DevTools, Firefox, mitmproxy, Proxyman and HTTP Toolkit write them:
//! an entry's `_webSocketMessages` holds `{type: send|receive, time (epoch
//! seconds), opcode, data}`, binary data as base64; the upgrade is the
//! entry's `request` and `response`.
//!
//! Entries are read one at a time and handed over, so a file costs about
//! its largest entry in memory, not its size. An error names the entry.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Messages one entry may hold before the file is refused as oversized.
pub const MAX_MESSAGES_PER_ENTRY: usize = 1_000_000;
/// Bytes of one message's data before the file is refused as oversized.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// A WebSocket entry, as the importer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct WsEntry {
    /// Its index in `log.entries` (0-based), for errors.
    pub index: usize,
    /// The upgrade request's start, wall ns since the Unix epoch.
    pub started_ns: i64,
    /// The entry's `time`: how long it lasted, in ms (0 if unknown).
    pub time_ms: f64,
    /// The request URL, as written (it may hold a token).
    pub url: String,
    /// The response status: 101 for an upgrade, 0 for none recorded.
    pub status: u16,
    /// ms from the start to the response (`timings` up to `wait`), if known.
    pub answered_ms: Option<f64>,
    /// The `Sec-WebSocket-Protocol` the server chose, if recorded.
    pub subprotocol: Option<String>,
    /// The upgrade request's headers as (name, value), as written (the
    /// recorder redacts them); at most [`MAX_HEADERS`].
    pub request_headers: Vec<(String, String)>,
    /// The response's headers, likewise.
    pub response_headers: Vec<(String, String)>,
    /// The frames, in the file's order.
    pub messages: Vec<WsMessage>,
}

/// One message of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct WsMessage {
    /// Sent by the observed client (`send`), or received (`receive`).
    pub sent: bool,
    /// When, wall ns since the Unix epoch.
    pub at_ns: i64,
    /// The WebSocket opcode: 1 text, 2 binary.
    pub opcode: u8,
    /// The data as the file has it: text, or base64 for binary (emptied
    /// once decoded into `binary`).
    pub data: String,
    /// A binary message's bytes (opcode 2), decoded from `data`.
    pub binary: Option<Vec<u8>>,
}

/// HAR writers differ on base64 padding; either way reads.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Why a HAR file could not be read. Each is fatal for the import and
/// names the entry when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarError {
    /// The entry's index, when the problem is in one.
    pub entry: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for HarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for HarError {}

/// What reading the file saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HarStats {
    /// Entries in the file.
    pub entries: usize,
    /// Of those, WebSocket entries.
    pub websocket: usize,
}

#[derive(Deserialize)]
struct RawHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct RawRequest {
    url: String,
    #[serde(default)]
    headers: Vec<RawHeader>,
}

/// Headers kept per side of an entry; the rest are left out.
pub const MAX_HEADERS: usize = 128;

fn header_pairs(headers: Vec<RawHeader>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .take(MAX_HEADERS)
        .map(|h| (h.name, h.value))
        .collect()
}

#[derive(Deserialize)]
struct RawResponse {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    headers: Vec<RawHeader>,
}

#[derive(Deserialize, Default)]
struct RawTimings {
    blocked: Option<f64>,
    dns: Option<f64>,
    connect: Option<f64>,
    send: Option<f64>,
    wait: Option<f64>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "type")]
    kind: String,
    time: f64,
    #[serde(default = "text_opcode")]
    opcode: u8,
    #[serde(default)]
    data: String,
}

fn text_opcode() -> u8 {
    1
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(rename = "startedDateTime")]
    started: String,
    #[serde(default)]
    time: f64,
    request: RawRequest,
    #[serde(default)]
    response: Option<RawResponse>,
    #[serde(default)]
    timings: Option<RawTimings>,
    #[serde(rename = "_resourceType", default)]
    resource_type: Option<String>,
    #[serde(rename = "_webSocketMessages", default)]
    messages: Option<Vec<RawMessage>>,
}

/// Reads `input`, handing each WebSocket entry to `each` in file order.
pub fn read(
    input: impl Read,
    each: impl FnMut(WsEntry) -> Result<(), HarError>,
) -> Result<HarStats, HarError> {
    let state = RefCell::new(State {
        each,
        stats: HarStats::default(),
        failed: None,
        saw_log: false,
        saw_entries: false,
    });
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = serde::Deserializer::deserialize_map(&mut de, Top(&state)).and_then(|()| de.end());
    let mut st = state.into_inner();
    if let Some(e) = st.failed.take() {
        return Err(e);
    }
    if let Err(e) = result {
        return Err(HarError {
            entry: None,
            message: format!("not a HAR file: {e}"),
        });
    }
    if !st.saw_log {
        return Err(HarError {
            entry: None,
            message: "not a HAR file: no `log` object".into(),
        });
    }
    if !st.saw_entries {
        return Err(HarError {
            entry: None,
            message: "not a HAR file: `log` has no `entries`".into(),
        });
    }
    Ok(st.stats)
}

struct State<F> {
    each: F,
    stats: HarStats,
    /// The first error of `each` or of an entry's content, kept whole
    /// while serde unwinds with a generic one.
    failed: Option<HarError>,
    saw_log: bool,
    saw_entries: bool,
}

struct Top<'s, F>(&'s RefCell<State<F>>);
struct Log<'s, F>(&'s RefCell<State<F>>);
struct Entries<'s, F>(&'s RefCell<State<F>>);

impl<'de, F: FnMut(WsEntry) -> Result<(), HarError>> Visitor<'de> for Top<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a HAR object with a `log`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                self.0.borrow_mut().saw_log = true;
                map.next_value_seed(Log(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de, F: FnMut(WsEntry) -> Result<(), HarError>> DeserializeSeed<'de> for Log<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(WsEntry) -> Result<(), HarError>> Visitor<'de> for Log<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a `log` object with `entries`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                self.0.borrow_mut().saw_entries = true;
                map.next_value_seed(Entries(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de, F: FnMut(WsEntry) -> Result<(), HarError>> DeserializeSeed<'de> for Entries<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(WsEntry) -> Result<(), HarError>> Visitor<'de> for Entries<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let index = self.0.borrow().stats.entries;
            let raw = match seq.next_element::<RawEntry>() {
                Ok(Some(raw)) => raw,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.0.borrow_mut().failed = Some(HarError {
                        entry: Some(index),
                        message: e.to_string(),
                    });
                    return Err(e);
                }
            };
            let mut st = self.0.borrow_mut();
            st.stats.entries += 1;
            let entry = match convert(index, raw) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(e) => {
                    st.failed = Some(e);
                    return Err(de::Error::custom("stopped"));
                }
            };
            st.stats.websocket += 1;
            if let Err(e) = (st.each)(entry) {
                st.failed = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
    }
}

fn is_websocket(raw: &RawEntry) -> bool {
    raw.messages.is_some()
        || raw.resource_type.as_deref() == Some("websocket")
        || raw.request.url.starts_with("ws://")
        || raw.request.url.starts_with("wss://")
}

/// A raw entry checked and converted; `None` if it is not a WebSocket.
fn convert(index: usize, raw: RawEntry) -> Result<Option<WsEntry>, HarError> {
    if !is_websocket(&raw) {
        return Ok(None);
    }
    let bad = |message: String| HarError {
        entry: Some(index),
        message,
    };
    let started_ns = parse_rfc3339(&raw.started).ok_or_else(|| {
        bad(format!(
            "`startedDateTime` `{}` is not an RFC 3339 time",
            raw.started
        ))
    })?;
    let messages = raw.messages.unwrap_or_default();
    if messages.len() > MAX_MESSAGES_PER_ENTRY {
        return Err(bad(format!(
            "{} messages, over the limit of {MAX_MESSAGES_PER_ENTRY}",
            messages.len()
        )));
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        let sent = match m.kind.as_str() {
            "send" => true,
            "receive" => false,
            other => {
                return Err(bad(format!(
                    "message {i}: `type` is `{other}`, not send or receive"
                )));
            }
        };
        if !m.time.is_finite() || m.time < 0.0 {
            return Err(bad(format!("message {i}: `time` {} is not a time", m.time)));
        }
        if m.data.len() > MAX_MESSAGE_BYTES {
            return Err(bad(format!(
                "message {i}: {} bytes of data, over the limit of {MAX_MESSAGE_BYTES}",
                m.data.len()
            )));
        }
        let (data, binary) = if m.opcode == 2 {
            use base64::Engine as _;
            let bytes = BASE64.decode(m.data.trim()).map_err(|e| {
                bad(format!(
                    "message {i}: binary data (opcode 2) is not base64: {e}"
                ))
            })?;
            (String::new(), Some(bytes))
        } else {
            (m.data, None)
        };
        out.push(WsMessage {
            sent,
            at_ns: message_time_ns(m.time, started_ns),
            opcode: m.opcode,
            data,
            binary,
        });
    }
    let response = raw.response;
    let status = response
        .as_ref()
        .map_or(0, |r| u16::try_from(r.status).unwrap_or(0));
    let response_headers = response
        .map(|r| header_pairs(r.headers))
        .unwrap_or_default();
    let subprotocol = response_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .map(|(_, v)| v.clone());
    let answered_ms = raw.timings.map(|t| {
        [t.blocked, t.dns, t.connect, t.send, t.wait]
            .into_iter()
            .flatten()
            .filter(|v| *v > 0.0)
            .sum()
    });
    Ok(Some(WsEntry {
        index,
        started_ns,
        time_ms: if raw.time.is_finite() {
            raw.time.max(0.0)
        } else {
            0.0
        },
        url: raw.request.url,
        status,
        answered_ms,
        subprotocol,
        request_headers: header_pairs(raw.request.headers),
        response_headers,
        messages: out,
    }))
}

/// A message's `time` in ns since the Unix epoch. DevTools, Firefox and
/// the proxies write epoch seconds; playwright's `recordHar` writes epoch
/// milliseconds. The unit that puts the message nearer its entry's start
/// is the file's.
fn message_time_ns(time: f64, started_ns: i64) -> i64 {
    let from_secs = time * 1e9;
    let from_ms = time * 1e6;
    let start = started_ns as f64;
    let ns = if (from_ms - start).abs() < (from_secs - start).abs() {
        from_ms
    } else {
        from_secs
    };
    ns as i64
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to ns since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let nine: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        frac_ns = nine.parse().ok()?;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_times_read_in_seconds_or_milliseconds() {
        let start = 1_800_000_000_000_000_000;
        assert_eq!(
            message_time_ns(1_800_000_000.5, start),
            1_800_000_000_500_000_000
        );
        // playwright's recordHar: epoch ms.
        assert_eq!(
            message_time_ns(1_800_000_000_500.0, start),
            1_800_000_000_500_000_000
        );
    }

    #[test]
    fn rfc3339_times_parse_to_the_ns() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2027-01-15T08:00:00.123Z"),
            Some(1_800_000_000_123_000_000)
        );
        assert_eq!(
            parse_rfc3339("2027-01-15T09:00:00.123456789+01:00"),
            Some(1_800_000_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.000Z"),
            Some(951_782_400_000_000_000)
        );
        for bad in [
            "",
            "yesterday",
            "2027-13-01T00:00:00Z",
            "2027-01-15T08:00:00",
            "2027-01-15T08:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
