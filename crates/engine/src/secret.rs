//! The secret values this process has read, so that text leaving it can be
//! scrubbed of them exactly, whatever surrounds them (a peer that quotes
//! the client's token in a `job_failed` message, say).
//!
//! The driver remembers each token it reads, and a token taken out of a URL
//! is remembered at once. The recorder's scrubber
//! (`sockscope_recorder::redact`) replaces every remembered value, so the
//! database, the exports, OTLP, the CLI's output, the logs and the app's
//! notifications all drop them.
//!
//! Bounded: the newest [`CAPACITY`] values are kept. Values shorter than
//! [`MIN_LEN`] bytes are not remembered: replacing them everywhere would
//! mangle ordinary text.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};

/// What a scrubbed value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Values remembered at most: 256, the oldest forgotten first.
pub const CAPACITY: usize = 256;

/// Shortest value remembered: 6 bytes.
pub const MIN_LEN: usize = 6;

static LIVE: RwLock<Vec<String>> = RwLock::new(Vec::new());
static ORDER: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Remembers `value` as a secret in use.
pub fn remember(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let mut order = ORDER.lock().unwrap_or_else(|p| p.into_inner());
    if order.iter().any(|v| v == value) {
        return;
    }
    order.push_back(value.to_owned());
    while order.len() > CAPACITY {
        order.pop_front();
    }
    // Longest first, so a value that contains another is replaced whole.
    let mut live: Vec<String> = order.iter().cloned().collect();
    live.sort_by_key(|v| std::cmp::Reverse(v.len()));
    *LIVE.write().unwrap_or_else(|p| p.into_inner()) = live;
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let live = LIVE.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for v in live.iter() {
        if out.contains(v.as_str()) {
            out = Cow::Owned(out.replace(v.as_str(), REDACTED));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the registry is process-wide, and parallel tests would
    // evict each other's values.
    #[test]
    fn remembered_values_are_replaced_wherever_they_sit_and_the_registry_is_bounded() {
        remember("unit-secret-0123");
        assert_eq!(
            scrub("peer said:unit-secret-0123!"),
            format!("peer said:{REDACTED}!")
        );
        remember("abc");
        assert_eq!(scrub("abc"), "abc", "too short to remember");
        for i in 0..CAPACITY + 10 {
            remember(&format!("bounded-secret-{i:05}"));
        }
        assert!(ORDER.lock().unwrap().len() <= CAPACITY);
        assert_eq!(scrub("unit-secret-0123"), "unit-secret-0123", "evicted");
        let newest = format!("bounded-secret-{:05}", CAPACITY + 9);
        assert_eq!(scrub(&newest), REDACTED);
    }
}
