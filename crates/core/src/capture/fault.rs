//! Conditional faults of the recording proxy: per connection and per
//! direction, a frame matched by a JSON pointer, and what the proxy does
//! after it (docs/captures.md, "Conditional faults").
//!
//! A spec is `DIRECTION:MATCH:ACTION[:nth=N]`:
//! - `DIRECTION`: `in` (server to app) or `out` (app to server);
//! - `MATCH`: `*` (every data frame), `/pointer` (a JSON text frame that
//!   has it) or `/pointer=VALUE` (whose value there equals VALUE, read as
//!   JSON when it parses, else as a string: `/type=job_progress`, `/seq=3`);
//! - `ACTION`: `drop`, `delay=MS` (or `delay=2s`), `duplicate`,
//!   `close=CODE`, `cut`, `silent`;
//! - `nth=N`: only the Nth matching frame of each connection (default: every one).

use std::time::Duration;

use serde_json::Value;
use sockscope_engine::event::Direction;

use crate::CoreError;

/// What the proxy does after a matching frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The frame is not forwarded.
    Drop,
    /// The frame is held this long, and the frames behind it too (order is kept).
    Delay(Duration),
    /// The frame is forwarded twice.
    Duplicate,
    /// The frame is forwarded, then both ends get a close frame with this
    /// code, the receiver as if the frame's sender had closed.
    Close(u16),
    /// The frame is forwarded, then both TCP connections end with no close
    /// frame (what a client sees as 1006).
    Cut,
    /// The frame is forwarded, then nothing more either way while both TCP
    /// connections stay open (half-open); what arrives is recorded, not forwarded.
    Silent,
}

impl std::fmt::Display for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultAction::Drop => f.write_str("drop"),
            FaultAction::Delay(d) => write!(f, "delay={}ms", d.as_millis()),
            FaultAction::Duplicate => f.write_str("duplicate"),
            FaultAction::Close(code) => write!(f, "close={code}"),
            FaultAction::Cut => f.write_str("cut"),
            FaultAction::Silent => f.write_str("silent"),
        }
    }
}

/// Which frames a fault applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameMatch {
    /// Every data frame, text or binary.
    Any,
    /// A JSON text frame with a value at `pointer`, equal to `value` if given.
    Pointer {
        /// An RFC 6901 JSON pointer, `/type`.
        pointer: String,
        /// The value it must hold.
        value: Option<Value>,
    },
}

/// One conditional fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The spec it was read from, for messages.
    pub spec: String,
    /// Which way the matched frames go.
    pub direction: Direction,
    /// Which frames.
    pub matcher: FrameMatch,
    /// What then.
    pub action: FaultAction,
    /// Only the Nth match on each connection (1-based); `None`: every one.
    pub nth: Option<u64>,
}

impl std::str::FromStr for Fault {
    type Err = CoreError;

    fn from_str(spec: &str) -> Result<Fault, CoreError> {
        Fault::parse(spec)
    }
}

impl Fault {
    /// Reads a spec, `in:/type=job_progress:drop`; a bad one gets an
    /// error that says what is wrong with it.
    pub fn parse(spec: &str) -> Result<Fault, CoreError> {
        let bad = |message: &str| CoreError::FaultSpec {
            spec: spec.to_owned(),
            message: message.to_owned(),
        };
        let (dir, rest) = spec.split_once(':').ok_or_else(|| {
            bad("expected DIRECTION:MATCH:ACTION, e.g. in:/type=job_progress:drop")
        })?;
        let direction = match dir {
            "in" => Direction::In,
            "out" => Direction::Out,
            other => {
                return Err(bad(&format!(
                    "direction `{other}` is neither `in` (server to app) nor `out` (app to server)"
                )));
            }
        };
        // The pointer's value may hold colons: the action and `nth` are
        // taken from the right.
        let (mut rest, mut last) = rest.rsplit_once(':').ok_or_else(|| {
            bad("expected DIRECTION:MATCH:ACTION, e.g. in:/type=job_progress:drop")
        })?;
        let mut nth = None;
        if let Some(n) = last.strip_prefix("nth=") {
            let n: u64 = n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(&format!("`nth={n}` is not a count from 1")))?;
            nth = Some(n);
            (rest, last) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("expected DIRECTION:MATCH:ACTION:nth=N"))?;
        }
        let action = action(last).map_err(|m| bad(&m))?;
        let matcher = matcher(rest).map_err(|m| bad(&m))?;
        Ok(Fault {
            spec: spec.to_owned(),
            direction,
            matcher,
            action,
            nth,
        })
    }

    /// Whether a data frame going `direction` with `text` (`None` for
    /// binary) matches; `json` is its text parsed, once for every fault.
    pub fn matches(&self, direction: Direction, json: Option<&Value>, binary: bool) -> bool {
        if direction != self.direction {
            return false;
        }
        match &self.matcher {
            FrameMatch::Any => true,
            FrameMatch::Pointer { .. } if binary => false,
            FrameMatch::Pointer { pointer, value } => {
                match (json.and_then(|j| j.pointer(pointer)), value) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(found), Some(want)) => found == want,
                }
            }
        }
    }
}

fn action(word: &str) -> Result<FaultAction, String> {
    let (name, arg) = match word.split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (word, None),
    };
    match (name, arg) {
        ("drop", None) => Ok(FaultAction::Drop),
        ("duplicate", None) => Ok(FaultAction::Duplicate),
        ("cut", None) => Ok(FaultAction::Cut),
        ("silent", None) => Ok(FaultAction::Silent),
        ("delay", Some(a)) => duration(a).map(FaultAction::Delay).ok_or_else(|| {
            format!(
                "`delay={a}` is not a delay: use milliseconds (`500`, `500ms`) or seconds (`2s`)"
            )
        }),
        ("close", Some(a)) => match a.parse::<u16>() {
            // The codes an endpoint may send (RFC 6455 7.4).
            Ok(code @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => Ok(FaultAction::Close(code)),
            _ => Err(format!(
                "`close={a}`: a close code is 1000-1003, 1007-1014 or 3000-4999"
            )),
        },
        ("delay" | "close", None) => Err(format!("`{name}` needs a value: `{name}=…`")),
        ("drop" | "duplicate" | "cut" | "silent", Some(_)) => {
            Err(format!("`{name}` takes no value"))
        }
        _ => Err(format!(
            "unknown action `{word}`; one of drop, delay=MS, duplicate, close=CODE, cut, silent"
        )),
    }
}

fn duration(text: &str) -> Option<Duration> {
    let (digits, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1000)
    } else {
        (text, 1)
    };
    let n: u64 = digits.parse().ok()?;
    Some(Duration::from_millis(n.checked_mul(scale)?))
}

fn matcher(text: &str) -> Result<FrameMatch, String> {
    if text == "*" {
        return Ok(FrameMatch::Any);
    }
    if !text.starts_with('/') {
        return Err(format!(
            "the match `{text}` is neither `*` nor a JSON pointer (`/type=job_progress`)"
        ));
    }
    Ok(match text.split_once('=') {
        None => FrameMatch::Pointer {
            pointer: text.to_owned(),
            value: None,
        },
        Some((pointer, value)) => FrameMatch::Pointer {
            pointer: pointer.to_owned(),
            value: Some(
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned())),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_as_documented() {
        let f = Fault::parse("in:/type=job_progress:drop").unwrap();
        assert_eq!(f.direction, Direction::In);
        assert_eq!(f.action, FaultAction::Drop);
        assert_eq!(
            f.matcher,
            FrameMatch::Pointer {
                pointer: "/type".into(),
                value: Some(Value::String("job_progress".into()))
            }
        );
        let f = Fault::parse("out:/seq=3:delay=2s:nth=2").unwrap();
        assert_eq!(f.action, FaultAction::Delay(Duration::from_secs(2)));
        assert_eq!(f.nth, Some(2));
        assert!(matches!(&f.matcher, FrameMatch::Pointer { value: Some(v), .. } if v == 3));
        let f = Fault::parse("in:/url=ws://a:b:close=4000").unwrap();
        assert_eq!(f.action, FaultAction::Close(4000));
        assert!(
            matches!(&f.matcher, FrameMatch::Pointer { value: Some(v), .. } if v == "ws://a:b")
        );
        assert_eq!(Fault::parse("out:*:cut").unwrap().matcher, FrameMatch::Any);
        let json: Value = serde_json::from_str(r#"{"type":"job_progress"}"#).unwrap();
        let f = Fault::parse("in:/type=job_progress:silent").unwrap();
        assert!(f.matches(Direction::In, Some(&json), false));
        assert!(!f.matches(Direction::Out, Some(&json), false));
        assert!(!f.matches(Direction::In, None, false));
        assert!(!f.matches(Direction::In, Some(&json), true));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("", "expected DIRECTION:MATCH:ACTION"),
            ("in", "expected DIRECTION:MATCH:ACTION"),
            ("up:/type=x:drop", "direction `up`"),
            ("in:type=x:drop", "neither `*` nor a JSON pointer"),
            ("in:/type=x:explode", "unknown action `explode`"),
            ("in:/type=x:delay", "`delay` needs a value"),
            ("in:/type=x:delay=soon", "`delay=soon` is not a delay"),
            ("in:/type=x:close=1006", "a close code is"),
            ("in:/type=x:drop=1", "`drop` takes no value"),
            ("in:/type=x:drop:nth=0", "`nth=0` is not a count"),
        ] {
            let e = Fault::parse(spec).unwrap_err().to_string();
            assert!(e.contains(says), "{spec}: {e}");
            assert!(e.contains(&format!("`{spec}`")), "names the spec: {e}");
        }
    }
}
