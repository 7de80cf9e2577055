//! Fault knobs (PROTOCOL.md, "Faults the simulator can inject").

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Default pace of a job: one item every 50 ms.
pub const DEFAULT_INTERVAL_MS: u64 = 50;
/// Default quiet time before a `keep_alive`: 15 000 ms.
pub const DEFAULT_KEEPALIVE_MS: u64 = 15_000;
/// Default number of past events held for replay: 10 000.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Default number of events `gap_after` withholds: 2.
pub const DEFAULT_GAP_LEN: u64 = 2;
/// Default number of a job's first connections the per-connection knobs hit: 1.
pub const DEFAULT_FAULT_CONNECTIONS: i64 = 1;

/// Every fault knob, all optional. `None` means "not set": the server-wide
/// default applies, and failing that the documented default (no fault).
/// Keys are snake_case exactly as in PROTOCOL.md, in JSON and in `k=v` form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Delay before the `101` answer. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_delay_ms: Option<u64>,
    /// Client data frames are read and dropped for this long after the upgrade. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_deaf_ms: Option<u64>,
    /// After N server events on the connection, cut TCP with no close frame. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after: Option<u64>,
    /// After N server events on the connection, close with 1001. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_after: Option<u64>,
    /// Data frames sent after the server's close frame. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_after_close: Option<u64>,
    /// The job event with this seq goes out twice on the connection. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_seq: Option<u64>,
    /// The job events after this seq are withheld from the connection
    /// (`gap_len` of them), leaving a gap in its seqs. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_after: Option<u64>,
    /// How many events `gap_after` withholds. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_len: Option<u64>,
    /// The first N job-state requests answer 503. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_5xx: Option<u64>,
    /// Token lifetime; on expiry open sockets close with 4001. Default: tokens never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl_ms: Option<u64>,
    /// Past events held for resume. Default: 10 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<usize>,
    /// After this long the connection goes silent both ways. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_ms: Option<u64>,
    /// How many of the job's first connections the per-connection knobs hit (-1: all). Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_connections: Option<i64>,
    /// After N items the job fails. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_after: Option<u64>,
    /// `retryable` of that `job_failed`. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_retryable: Option<bool>,
    /// The `message` (and `code`) of that `job_failed`, for a careless
    /// server that quotes secrets; `{token}` becomes the job's first token.
    /// Default: `failed after N items` (code `simulated_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_message: Option<String>,
    /// The `reason` of a `resync_required`. Default: `history_expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync_reason: Option<String>,
    /// A `keep_alive` goes out when no event went out for this long. Default: 15 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_ms: Option<u64>,
    /// Time between items. Default: 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// The knob names, in PROTOCOL.md's order; used in error messages.
pub const KNOBS: &[&str] = &[
    "accept_delay_ms",
    "ready_deaf_ms",
    "drop_after",
    "close_after",
    "send_after_close",
    "duplicate_seq",
    "gap_after",
    "gap_len",
    "state_5xx",
    "token_ttl_ms",
    "history",
    "stall_after_ms",
    "fault_connections",
    "fail_after",
    "fail_retryable",
    "fail_message",
    "resync_reason",
    "keepalive_ms",
    "interval_ms",
];

impl Faults {
    /// `self` with every unset knob taken from `defaults` (per-job faults
    /// override the server-wide ones).
    pub fn merged_over(&self, defaults: &Faults) -> Faults {
        macro_rules! pick {
            ($($f:ident),*) => { Faults {
                $($f: self.$f.or(defaults.$f),)*
                fail_message: self.fail_message.clone().or_else(|| defaults.fail_message.clone()),
                resync_reason: self.resync_reason.clone().or_else(|| defaults.resync_reason.clone()),
            } };
        }
        pick!(
            accept_delay_ms,
            ready_deaf_ms,
            drop_after,
            close_after,
            send_after_close,
            duplicate_seq,
            gap_after,
            gap_len,
            state_5xx,
            token_ttl_ms,
            history,
            stall_after_ms,
            fault_connections,
            fail_after,
            fail_retryable,
            keepalive_ms,
            interval_ms
        )
    }

    /// Sets one knob from its textual value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SimError> {
        fn num<T: FromStr>(key: &str, value: &str) -> Result<Option<T>, SimError> {
            value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| SimError::BadFault {
                    key: key.to_owned(),
                    reason: format!("`{value}` is not a valid value"),
                })
        }
        let key = key.trim();
        match key {
            "accept_delay_ms" => self.accept_delay_ms = num(key, value)?,
            "ready_deaf_ms" => self.ready_deaf_ms = num(key, value)?,
            "drop_after" => self.drop_after = num(key, value)?,
            "close_after" => self.close_after = num(key, value)?,
            "send_after_close" => self.send_after_close = num(key, value)?,
            "duplicate_seq" => self.duplicate_seq = num(key, value)?,
            "gap_after" => self.gap_after = num(key, value)?,
            "gap_len" => self.gap_len = num(key, value)?,
            "state_5xx" => self.state_5xx = num(key, value)?,
            "token_ttl_ms" => self.token_ttl_ms = num(key, value)?,
            "history" => self.history = num(key, value)?,
            "stall_after_ms" => self.stall_after_ms = num(key, value)?,
            "fault_connections" => {
                let n: Option<i64> = num(key, value)?;
                if n.is_some_and(|n| n < -1) {
                    return Err(SimError::BadFault {
                        key: key.to_owned(),
                        reason: format!("`{value}` must be -1 (all) or a count >= 0"),
                    });
                }
                self.fault_connections = n;
            }
            "fail_after" => self.fail_after = num(key, value)?,
            "fail_retryable" => self.fail_retryable = num(key, value)?,
            "fail_message" => self.fail_message = Some(value.to_owned()),
            "resync_reason" => self.resync_reason = Some(value.to_owned()),
            "keepalive_ms" => self.keepalive_ms = num(key, value)?,
            "interval_ms" => self.interval_ms = num(key, value)?,
            other => {
                return Err(SimError::BadFault {
                    key: other.to_owned(),
                    reason: format!("unknown knob; known: {}", KNOBS.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// Time between items.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS))
    }

    /// Quiet time before a `keep_alive`.
    pub fn keepalive(&self) -> Duration {
        // A zero keepalive would spin; one millisecond is the floor.
        Duration::from_millis(self.keepalive_ms.unwrap_or(DEFAULT_KEEPALIVE_MS).max(1))
    }

    /// Events held for replay.
    pub fn history_len(&self) -> usize {
        self.history.unwrap_or(DEFAULT_HISTORY)
    }

    /// Whether the per-connection knobs hit the job's `index`-th connection (1-based).
    pub fn hits_connection(&self, index: u64) -> bool {
        match self.fault_connections.unwrap_or(DEFAULT_FAULT_CONNECTIONS) {
            n if n < 0 => true,
            n => index <= n as u64,
        }
    }
}

/// Parses one or more comma-separated `key=value` pairs, e.g.
/// `drop_after=3` or `history=0,interval_ms=10` (the CLI's `--fault`).
impl FromStr for Faults {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut faults = Faults::default();
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| SimError::BadFault {
                key: pair.trim().to_owned(),
                reason: "expected `key=value`".to_owned(),
            })?;
            faults.set(key, value)?;
        }
        Ok(faults)
    }
}
