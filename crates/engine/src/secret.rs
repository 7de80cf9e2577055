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
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

/// What a scrubbed value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Values remembered at most: 256, the oldest forgotten first.
pub const CAPACITY: usize = 256;

/// Shortest value remembered: 6 bytes.
pub const MIN_LEN: usize = 6;

/// The values, longest first (older first among equals), as `scrub` reads
/// them. Kept in order on each change rather than rebuilt: a rebuild
/// copied and sorted all of them on every new token, once per connect.
static LIVE: RwLock<Vec<Live>> = RwLock::new(Vec::new());

/// A remembered value and the hash of its first four bytes, side by side
/// so the scrub's prefilter reads no value it does not search for.
struct Live {
    prefix: usize,
    value: Arc<str>,
}
/// The same values, oldest first, for eviction, and as a set, to tell a
/// known value without comparing it with each (every connect reads its
/// token).
static ORDER: Mutex<Order> = Mutex::new(Order {
    oldest_first: VecDeque::new(),
    known: None,
});

struct Order {
    oldest_first: VecDeque<Arc<str>>,
    known: Option<HashSet<Arc<str>>>,
}

/// Remembers `value` as a secret in use.
pub fn remember(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let mut order = ORDER.lock().unwrap_or_else(|p| p.into_inner());
    let order = &mut *order;
    let known = order.known.get_or_insert_with(HashSet::new);
    if known.contains(value) {
        return;
    }
    let new: Arc<str> = Arc::from(value);
    known.insert(new.clone());
    order.oldest_first.push_back(new.clone());
    let evicted = (order.oldest_first.len() > CAPACITY)
        .then(|| order.oldest_first.pop_front())
        .flatten();
    if let Some(old) = &evicted {
        known.remove(old);
    }
    let mut live = LIVE.write().unwrap_or_else(|p| p.into_inner());
    if let Some(old) = evicted
        && let Some(i) = live.iter().position(|v| Arc::ptr_eq(&v.value, &old))
    {
        live.remove(i);
    }
    // Longest first, so a value that contains another is replaced whole;
    // after the older ones of its length.
    let at = live.partition_point(|v| v.value.len() >= new.len());
    let prefix = Prefixes::hash(new.as_bytes());
    live.insert(at, Live { prefix, value: new });
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let live = LIVE.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    if live.is_empty() {
        return out;
    }
    // A value can only be in the text if its first four bytes are: one
    // pass over the text spares a substring search per remembered value.
    let mut prefixes = Prefixes::of(out.as_bytes());
    for v in live.iter() {
        if prefixes.has(v.prefix) && out.contains(&*v.value) {
            out = Cow::Owned(out.replace(&*v.value, REDACTED));
            prefixes = Prefixes::of(out.as_bytes());
        }
    }
    out
}

/// Overwrites every remembered secret in `bytes` with `mask`, byte for
/// byte (a binary payload keeps its length, so a length-prefixed format
/// still parses). Returns whether anything was masked.
pub fn mask_in(bytes: &mut [u8], mask: u8) -> bool {
    let live = LIVE.read().unwrap_or_else(|p| p.into_inner());
    if live.is_empty() {
        return false;
    }
    let prefixes = Prefixes::of(bytes);
    let mut masked = false;
    for v in live.iter().filter(|v| prefixes.has(v.prefix)) {
        let value = v.value.as_bytes();
        let mut i = 0;
        while let Some(off) = bytes[i..].windows(value.len()).position(|w| w == value) {
            let at = i + off;
            bytes[at..at + value.len()].fill(mask);
            masked = true;
            i = at + value.len();
        }
    }
    masked
}

/// The runs of four bytes a text holds, hashed into a 4,096-bit set (small
/// to clear: scrub runs on every free text, most of them short): a
/// value's first four are in it if the value is in the text (it is at
/// least [`MIN_LEN`] bytes long).
struct Prefixes([u64; 64]);

impl Prefixes {
    fn of(text: &[u8]) -> Prefixes {
        let mut set = [0u64; 64];
        for w in text.windows(4) {
            let h = Self::hash(w);
            set[h >> 6] |= 1 << (h & 63);
        }
        Prefixes(set)
    }

    /// The hash of the first four bytes (a remembered value has them).
    fn hash(four: &[u8]) -> usize {
        let word = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
        (word.wrapping_mul(0x9E37_79B1) >> 20) as usize
    }

    /// False when no value whose first four bytes hash to `h` can be in
    /// the text.
    fn has(&self, h: usize) -> bool {
        self.0[h >> 6] & (1 << (h & 63)) != 0
    }
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
        {
            let order = ORDER.lock().unwrap();
            assert!(order.oldest_first.len() <= CAPACITY);
            let known = order.known.as_ref().map_or(0, HashSet::len);
            assert_eq!(known, order.oldest_first.len(), "the set evicts too");
        }
        assert_eq!(
            LIVE.read().unwrap().len(),
            CAPACITY,
            "evicted from both lists"
        );
        // A value that holds an older, shorter one is replaced whole, and
        // values at either end of the text are found.
        remember("inner-secret");
        remember("outer-inner-secret-x");
        assert_eq!(
            scrub("outer-inner-secret-x said inner-secret"),
            format!("{REDACTED} said {REDACTED}")
        );
        let lens: Vec<usize> = LIVE.read().unwrap().iter().map(|v| v.value.len()).collect();
        assert!(lens.windows(2).all(|w| w[0] >= w[1]), "longest first");
        assert_eq!(scrub("unit-secret-0123"), "unit-secret-0123", "evicted");
        // Evicted from the set too: remembered again, it is scrubbed again.
        remember("unit-secret-0123");
        assert_eq!(scrub("unit-secret-0123"), REDACTED);
        let newest = format!("bounded-secret-{:05}", CAPACITY + 9);
        assert_eq!(scrub(&newest), REDACTED);

        // In bytes, each value is masked in place, at either end and twice.
        let mut bytes = b"inner-secret\x00\xa5inner-secret\xffinner-secret".to_vec();
        assert!(mask_in(&mut bytes, b'*'));
        assert_eq!(
            bytes,
            b"************\x00\xa5************\xff************".to_vec()
        );
        let mut clean = b"\x01\x02 nothing to see".to_vec();
        assert!(!mask_in(&mut clean, b'*'));
        assert_eq!(clean, b"\x01\x02 nothing to see".to_vec());
    }
}
