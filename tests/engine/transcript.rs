//! Data-driven tests of the sans-IO machine: each file in `transcripts/` is a
//! scenario (inputs at times) interleaved with the transcript the machine must
//! produce. Time is explicit, so these are the paused-clock tests of every
//! timer: before each input, every timer due by its time fires, in order.
//!
//! `BLESS=1 cargo test -p sockscope-engine --test engine transcript` rewrites
//! the expected lines from the actual ones; review the diff before committing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sockscope_engine::event::{ErrorClass, EventKind, Mono, UserAction};
use sockscope_engine::machine::{Effect, InFrame, Input, Machine, OutFrame, SyncFailure};
use sockscope_engine::{AdapterKind, MachineConfig};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/engine/transcripts")
}

#[test]
fn transcripts() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .expect("transcripts dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the transcript set, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read transcript");
        let actual = run(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if actual != text {
            if bless {
                std::fs::write(&path, &actual).expect("bless");
            } else {
                failures.push(format!(
                    "{}:\n{}",
                    path.display(),
                    first_difference(&text, &actual)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "transcripts differ:\n{}",
        failures.join("\n")
    );
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1);
        }
    }
    format!(
        "lengths differ: expected {} lines, actual {}",
        expected.lines().count(),
        actual.lines().count()
    )
}

/// Replays the inputs of `text` and returns the file as it should read.
fn run(text: &str) -> Result<String, String> {
    let mut cfg = MachineConfig::new(AdapterKind::Job);
    let mut out = String::new();
    let mut machine: Option<Machine> = None;
    for line in text.lines() {
        if line.starts_with("  ") {
            continue; // expected output: regenerated below
        }
        out.push_str(line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("config ") {
            configure(&mut cfg, rest)?;
            continue;
        }
        let Some(rest) = line.strip_prefix("> ") else {
            continue; // comment or blank
        };
        let m = machine.get_or_insert_with(|| Machine::new(cfg.clone()));
        let (at, input) = rest.split_once(' ').unwrap_or((rest, ""));
        let at = parse_time(at)?;
        while let Some((due, kind)) = m.next_timer() {
            if due > at {
                break;
            }
            let fx = m.step(Input::Timer(kind), due);
            render(&mut out, due, &format!("timer {}", kind.as_str()), &fx);
        }
        if input == "tick" {
            continue;
        }
        if input == "final_count" {
            let _ = writeln!(out, "  final_count: {}", m.final_count());
            continue;
        }
        let parsed = parse_input(input)?;
        let fx = m.step(parsed, at);
        render(&mut out, at, "", &fx);
    }
    Ok(out)
}

fn configure(cfg: &mut MachineConfig, rest: &str) -> Result<(), String> {
    for pair in rest.split_whitespace() {
        let (k, v) = pair.split_once('=').ok_or(format!("bad config `{pair}`"))?;
        let n = || v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
        match k {
            "adapter" => {
                cfg.adapter = AdapterKind::parse(v).ok_or(format!("unknown adapter `{v}`"))?
            }
            "jitter" => cfg.reconnect.jitter = v == "on",
            "max_attempts" => cfg.reconnect.max_attempts = n()? as u32,
            "outbox" => cfg.outbox_capacity = n()? as usize,
            "ready_resends" => cfg.ready_resends = n()? as u32,
            "can_refresh" => cfg.can_refresh_token = v == "true",
            "max_message_size" => cfg.max_message_size = n()? as usize,
            "ready_ms" => cfg.timeouts.ready = Duration::from_millis(n()?),
            "heartbeat_ms" => cfg.heartbeat.interval = Duration::from_millis(n()?),
            "json_ping" => {
                cfg.dialect.ping = Some(r#"{"type":"ping"}"#.into());
                cfg.dialect.pong = Some("pong".into());
            }
            "resume_query" => cfg.dialect.resume_query = Some(v.to_owned()),
            "has_token" => cfg.has_token = v == "true",
            "job_id" => cfg.job_id = Some(v.to_owned()),
            "query" => cfg.dialect.query = Some(v.replace('~', " ")),
            "json_job" => {
                // The job protocol described as a json dialect.
                cfg.dialect.ready =
                    Some(r#"{"v":1,"type":"ready","payload":{"resumeFrom":{resume_from}}}"#.into());
                cfg.dialect.ready_ack = Some("ready_ack".into());
                cfg.dialect.progress_event = "job_progress".into();
                cfg.dialect.processed = Some("/payload/processedCount".into());
                cfg.dialect.total = Some("/payload/totalCount".into());
                cfg.dialect.seq = Some("/seq".into());
                cfg.dialect.close_codes =
                    vec![(n()? as u16, sockscope_engine::dialect::CloseRule::Finished)];
            }
            _ => return Err(format!("unknown config key `{k}`")),
        }
    }
    Ok(())
}

fn parse_time(s: &str) -> Result<Mono, String> {
    let d = if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().map_err(|e| format!("{s}: {e}"))?)
    } else if let Some(secs) = s.strip_suffix('s') {
        Duration::from_secs(secs.parse().map_err(|e| format!("{s}: {e}"))?)
    } else {
        return Err(format!("time `{s}` needs ms or s"));
    };
    Ok(Mono(0).plus(d))
}

fn parse_input(s: &str) -> Result<Input, String> {
    let (verb, arg) = s.split_once(' ').unwrap_or((s, ""));
    let num = |a: &str| a.parse::<u64>().map_err(|e| format!("{verb}: {e}"));
    Ok(match verb {
        "start" => Input::Start,
        "handshake_done" => Input::HandshakeDone {
            token_refreshed: arg == "refreshed",
        },
        "handshake_failed" => Input::HandshakeFailed(match arg.split_once(' ') {
            Some(("http", code)) => ErrorClass::HttpStatus(num(code)? as u16),
            Some(("io", kind)) => ErrorClass::Io(kind.into()),
            _ if arg == "token" => ErrorClass::Token,
            _ => return Err(format!("handshake_failed `{arg}`")),
        }),
        "text" => Input::Frame(InFrame::Text(arg.into())),
        "binary" => Input::Frame(InFrame::Binary(num(arg)? as usize)),
        "invalid_utf8" => Input::Frame(InFrame::InvalidUtf8(num(arg)? as usize)),
        "pong" => Input::Frame(InFrame::Pong(num(arg)?.to_be_bytes().to_vec())),
        "peer_close" => Input::PeerClose {
            code: num(arg)? as u16,
        },
        "peer_frame_after_close" => Input::PeerFrameAfterClose,
        "transport_end" => Input::TransportEnded,
        "transport_error" => Input::TransportError(ErrorClass::Io(arg.into())),
        "send" => Input::Send {
            text: arg.to_owned(),
            broadcast: false,
        },
        "broadcast" => Input::Send {
            text: arg.to_owned(),
            broadcast: true,
        },
        "cancel" => Input::User(UserAction::Cancel),
        "close" => Input::User(UserAction::Close),
        "retry" => Input::User(UserAction::Retry),
        "network_changed" => Input::NetworkChanged,
        "sync_ok" => Input::StateSyncDone(Ok(
            serde_json::from_str(arg).map_err(|e| format!("sync_ok: {e}"))?
        )),
        "sync_status" => Input::StateSyncDone(Err(SyncFailure::Status(num(arg)? as u16))),
        "sync_io" => Input::StateSyncDone(Err(SyncFailure::Io(arg.into()))),
        _ => return Err(format!("unknown input `{verb}`")),
    })
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn at(m: Mono) -> String {
    ms(Duration::from_nanos(m.0))
}

fn render(out: &mut String, now: Mono, what: &str, fx: &[Effect]) {
    if !what.is_empty() {
        let _ = writeln!(out, "  @{} {what}", at(now));
    }
    for e in fx {
        let line = match e {
            Effect::Connect {
                attempt,
                refresh_token,
                resume_from,
            } => format!(
                "connect attempt={attempt} refresh_token={refresh_token}{}",
                resume_from
                    .map(|s| format!(" resume_from={s}"))
                    .unwrap_or_default()
            ),
            Effect::AbortConnect => "abort_connect".into(),
            Effect::Write(OutFrame::Text(t)) => format!("write text {t}"),
            Effect::Write(OutFrame::Auth(t)) => format!("write auth {t}"),
            Effect::Write(OutFrame::Ping(p)) => format!("write ping {}", p.len()),
            Effect::Write(OutFrame::Close { code, reason }) => {
                format!("write close {code} {reason:?}")
            }
            Effect::DropTransport => "drop_transport".into(),
            Effect::StateSync { try_no } => format!("state_sync try={try_no}"),
            Effect::SendResult(r) => format!("send_result {r:?}"),
            Effect::Emit(kind) => match kind {
                EventKind::Transition { from, to, cause } => {
                    let to = match to {
                        sockscope_engine::State::Backoff { attempt, until } => {
                            format!("Backoff {{ attempt: {attempt}, until: {} }}", at(*until))
                        }
                        other => format!("{other:?}"),
                    };
                    format!("state {} -> {to} cause={cause:?}", from.as_str())
                }
                EventKind::Finding(f) => {
                    format!(
                        "finding {} attempt={}: {}",
                        f.class.as_str(),
                        f.attempt,
                        f.detail
                    )
                }
                EventKind::Frame(f) => format!(
                    "frame {:?} {} size={}{}{}{}",
                    f.direction,
                    f.opcode.as_str(),
                    f.size,
                    f.message_type
                        .as_ref()
                        .map(|t| format!(" type={t}"))
                        .unwrap_or_default(),
                    f.seq.map(|s| format!(" seq={s}")).unwrap_or_default(),
                    f.close_code
                        .map(|c| format!(" code={c}"))
                        .unwrap_or_default(),
                ),
                EventKind::Message { id, stage } => format!("message {id} {stage:?}"),
                EventKind::BackoffPlanned {
                    attempt,
                    delay,
                    ceiling,
                } => format!(
                    "backoff_planned attempt={attempt} delay={} ceiling={}",
                    ms(*delay),
                    ms(*ceiling)
                ),
                EventKind::StateSync(r) => {
                    format!("state_sync_record try={} {:?}", r.try_no, r.outcome)
                }
                EventKind::Progress(p) => format!(
                    "progress {}/{} {:?} from {:?}",
                    p.processed, p.total, p.status, p.source
                ),
                EventKind::HeartbeatAnswered { rtt } => {
                    format!("heartbeat_answered rtt={}", ms(*rtt))
                }
                EventKind::SocketAdded(_) => "socket_added".into(),
                EventKind::Environment(c) => format!("environment {c:?}"),
                EventKind::Handshake(h) => format!("handshake {}", h.status),
                EventKind::RecordingFailed { reason } => format!("recording_failed {reason}"),
            },
        };
        let _ = writeln!(out, "  {line}");
    }
}
