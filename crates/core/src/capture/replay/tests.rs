//! The script from events, the schedule with explicit times, and the
//! driver on tokio's paused clock over an in-memory stream.

use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use sockscope_engine::State;
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, ErrorClass, Event, EventKind, FrameRecord, Mono, Opcode,
    StateName,
};
use sockscope_recorder::EventRecord;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::*;

const MS: u64 = 1_000_000;

fn record(socket: u64, at_ms: u64, kind: EventKind) -> EventRecord {
    let event = Event {
        socket,
        mono: Mono(at_ms * MS),
        wall: SystemTime::UNIX_EPOCH,
        kind,
    };
    EventRecord::from_event(&event, Some(4096))
}

fn to(state: State, cause: Cause) -> EventKind {
    EventKind::Transition {
        from: StateName::Idle,
        to: state,
        cause,
    }
}

fn text(direction: Direction, t: &str) -> EventKind {
    EventKind::Frame(FrameRecord {
        text: Some(t.into()),
        ..FrameRecord::new(direction, Opcode::Text, t.len())
    })
}

fn close(direction: Direction, code: u16) -> EventKind {
    EventKind::Frame(FrameRecord {
        close_code: Some(code),
        ..FrameRecord::new(direction, Opcode::Close, 2)
    })
}

/// A job-like recording of socket 1: attempt 1 upgraded at 10 ms, the
/// client's `ready` at 20, the ack at 25, an event at 100, then a cut at
/// 150; attempt 2 refused with 401; attempt 3 ends with the server's 4000.
fn recording() -> Vec<EventRecord> {
    use Direction::{In, Out};
    vec![
        record(1, 0, to(State::Connecting { attempt: 1 }, Cause::Start)),
        record(
            1,
            10,
            to(State::AwaitingReady { attempt: 1 }, Cause::HandshakeDone),
        ),
        record(1, 20, text(Out, "ready")),
        record(1, 25, text(In, "ack")),
        record(1, 100, text(In, "event")),
        record(2, 120, text(In, "another socket's")),
        record(
            1,
            150,
            to(
                State::Backoff {
                    attempt: 1,
                    until: Mono(0),
                },
                Cause::TransportEnded { code: 1006 },
            ),
        ),
        record(
            1,
            200,
            to(State::Connecting { attempt: 2 }, Cause::BackoffElapsed),
        ),
        record(
            1,
            210,
            to(
                State::Backoff {
                    attempt: 2,
                    until: Mono(0),
                },
                Cause::HandshakeFailed(ErrorClass::HttpStatus(401)),
            ),
        ),
        record(
            1,
            300,
            to(State::Connecting { attempt: 3 }, Cause::BackoffElapsed),
        ),
        record(
            1,
            305,
            to(State::AwaitingReady { attempt: 3 }, Cause::HandshakeDone),
        ),
        record(1, 400, close(In, 4000)),
        record(1, 401, text(In, "after its close")),
        record(1, 402, close(Out, 4000)),
        record(
            1,
            403,
            to(
                State::Closed {
                    reason: ClosedReason::PeerClosed { code: 4000 },
                },
                Cause::TransportEnded { code: 4000 },
            ),
        ),
    ]
}

fn script_of(socket: u64, events: &[EventRecord]) -> Script {
    let mut b = ScriptBuilder::new();
    for e in events.iter().filter(|e| e.socket_id == socket) {
        b.event(e);
    }
    b.build()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_recording_becomes_attempts_of_timed_server_steps() {
    let script = script_of(1, &recording());
    assert_eq!(script.attempts.len(), 3);
    let [first, refused, closed] = &script.attempts[..] else {
        unreachable!()
    };
    assert_eq!((first.answer, first.client_frames), (Answer::Upgrade, 1));
    assert_eq!(
        first.steps,
        [
            Step {
                at: ms(15),
                after_previous: ms(15),
                after_client: Some((0, ms(5))),
                act: Act::Send(ServerFrame::Text("ack".into())),
            },
            Step {
                at: ms(90),
                after_previous: ms(75),
                after_client: None,
                act: Act::Send(ServerFrame::Text("event".into())),
            },
            Step {
                at: ms(140),
                after_previous: ms(50),
                after_client: None,
                act: Act::Cut,
            },
        ]
    );
    assert_eq!((refused.number, refused.answer), (2, Answer::Refuse(401)));
    assert!(refused.steps.is_empty());
    assert_eq!(closed.answer, Answer::Upgrade);
    assert_eq!(
        closed.steps.iter().map(|s| &s.act).collect::<Vec<_>>(),
        [
            &Act::Send(ServerFrame::Close(Some(4000))),
            &Act::Send(ServerFrame::Text("after its close".into()))
        ],
        "the frame after the close is served too, and a close is no cut"
    );
}

#[test]
fn a_step_after_a_client_frame_waits_for_it_and_keeps_its_gap() {
    let script = script_of(1, &recording());
    let first = &script.attempts[0];
    let mut run = AttemptRun::new(first, Timing::Client, 1.0);
    // The ack waits for the client's first frame, however late.
    assert_eq!(run.due(), Due::Client);
    assert!(run.take_due(ms(1000)).is_none());
    run.client_frame(ms(1000));
    assert_eq!(run.due(), Due::At(ms(1005)));
    assert!(run.take_due(ms(1004)).is_none());
    assert_eq!(
        run.take_due(ms(1005)),
        Some(&Act::Send(ServerFrame::Text("ack".into())))
    );
    // The event keeps its 75 ms after the ack, the cut its 50 after that.
    assert_eq!(run.due(), Due::At(ms(1080)));
    run.take_due(ms(1080)).unwrap();
    assert_eq!(run.due(), Due::At(ms(1130)));
    assert_eq!(run.take_due(ms(2000)), Some(&Act::Cut));
    assert_eq!(run.due(), Due::Done);

    // A client quicker than recorded: the ack still keeps its gap after
    // the upgrade (15 ms), not only its 5 ms after the client's frame.
    let mut run = AttemptRun::new(first, Timing::Client, 1.0);
    run.client_frame(ms(1));
    assert_eq!(run.due(), Due::At(ms(15)));
}

#[test]
fn speed_scales_every_gap_and_open_timing_ignores_the_client() {
    let script = script_of(1, &recording());
    let first = &script.attempts[0];
    let mut run = AttemptRun::new(first, Timing::Client, 2.0);
    run.client_frame(ms(100));
    assert_eq!(run.due(), Due::At(Duration::from_micros(102_500)));
    run.take_due(ms(200)).unwrap();
    assert_eq!(run.due(), Due::At(Duration::from_micros(140_000)));

    let mut run = AttemptRun::new(first, Timing::Open, 0.5);
    assert_eq!(
        run.due(),
        Due::At(ms(30)),
        "15 ms from the upgrade, at half speed"
    );
    run.take_due(ms(30)).unwrap();
    assert_eq!(run.due(), Due::At(ms(180)));
}

#[test]
fn options_out_of_range_are_refused() {
    let script = script_of(1, &recording());
    for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_SPEED * 2.0] {
        let o = ReplayOptions {
            speed,
            ..ReplayOptions::default()
        };
        assert!(o.check(&script).is_err(), "{speed}");
    }
    let o = ReplayOptions {
        attempt: Some(3),
        ..ReplayOptions::default()
    };
    let e = o.check(&script).unwrap_err().to_string();
    assert!(e.contains("no attempt 4: the recording has 3"), "{e}");
}

/// The client's side of a replayed attempt over an in-memory stream: the
/// frames it got, each with its time from the upgrade.
async fn received(
    attempt: &AttemptScript,
    speed: f64,
    ready_at: Duration,
) -> Vec<(Duration, String)> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let (_stop, stopped) = watch::channel(false);
    let server = async {
        let ws = tokio_tungstenite::accept_async(server_io).await.unwrap();
        serve_attempt(ws, attempt, Timing::Client, speed, stopped).await
    };
    let client = async {
        let (mut ws, _) = tokio_tungstenite::client_async("ws://replay/", client_io)
            .await
            .unwrap();
        let opened = Instant::now();
        tokio::time::sleep(ready_at).await;
        ws.send(Message::text("ready")).await.unwrap();
        let mut got = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            let what = match m {
                Message::Text(t) => t.to_string(),
                Message::Close(c) => format!("close {:?}", c.map(|c| u16::from(c.code))),
                other => format!("{other:?}"),
            };
            got.push((opened.elapsed(), what));
        }
        got
    };
    let (served, got) = tokio::join!(server, client);
    assert_eq!(served.2, ServedEnd::Complete, "{served:?}");
    got
}

#[tokio::test(start_paused = true)]
async fn the_driver_serves_each_frame_at_its_time_on_the_paused_clock() {
    let script = script_of(1, &recording());
    let first = &script.attempts[0];
    tokio::time::timeout(Duration::from_secs(60), async {
        let got = received(first, 1.0, ms(40)).await;
        assert_eq!(
            got,
            [(ms(45), "ack".to_owned()), (ms(120), "event".to_owned())],
            "the ack 5 ms after the client's frame, the event 75 ms later, then the cut"
        );
        // tokio's timers tick in whole milliseconds: gaps that divide evenly.
        let got = received(first, 5.0, ms(40)).await;
        assert_eq!(
            got,
            [(ms(41), "ack".to_owned()), (ms(56), "event".to_owned())],
            "five times as fast"
        );
        let closed = &script.attempts[2];
        let got = received(closed, 1.0, ms(0)).await;
        assert_eq!(got, [(ms(95), "close Some(4000)".to_owned())]);
    })
    .await
    .expect("the replay ends within its time");
}

#[test]
fn a_script_holds_at_most_256_mib_and_says_so_in_its_unit() {
    assert_eq!(MAX_SCRIPT_BYTES, 256 * 1024 * 1024);
    assert_eq!(size_words(MAX_SCRIPT_BYTES), "256 MiB");
    assert_eq!(size_words(100), "100 bytes");
}

fn binary(direction: Direction, size: usize) -> EventKind {
    EventKind::Frame(FrameRecord::new(direction, Opcode::Binary, size))
}

/// The client's side of a replayed attempt as it came on the wire, read
/// by hand (a WebSocket library refuses frames after a close): each
/// frame's time from the upgrade, opcode and payload, until TCP ends.
async fn raw_received(attempt: &AttemptScript) -> (ServedEnd, Vec<(Duration, u8, Vec<u8>)>) {
    let (server_io, mut client) = tokio::io::duplex(64 * 1024);
    let (_stop, stopped) = watch::channel(false);
    let server = async {
        let ws = tokio_tungstenite::accept_async(server_io).await.unwrap();
        serve_attempt(ws, attempt, Timing::Open, 1.0, stopped).await
    };
    let client = async {
        client
            .write_all(
                b"GET / HTTP/1.1\r\nHost: replay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .await
            .unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "the upgrade was not answered");
            bytes.extend_from_slice(&buf[..n]);
            if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        assert!(bytes.starts_with(b"HTTP/1.1 101"));
        let opened = Instant::now();
        bytes.drain(..head_end);
        let mut got = Vec::new();
        loop {
            // Server frames are unmasked; these are short (7-bit lengths).
            while bytes.len() >= 2 && bytes.len() >= 2 + usize::from(bytes[1] & 0x7f) {
                assert_eq!(bytes[1] & 0x80, 0, "a server frame is not masked");
                let len = usize::from(bytes[1] & 0x7f);
                assert!(len < 126);
                got.push((opened.elapsed(), bytes[0], bytes[2..2 + len].to_vec()));
                bytes.drain(..2 + len);
            }
            let n = client.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        got
    };
    let ((_, _, end), got) = tokio::join!(server, client);
    (end, got)
}

#[tokio::test(start_paused = true)]
async fn frames_after_the_close_and_binary_frames_go_out_as_recorded() {
    use Direction::In;
    let events = [
        record(1, 0, to(State::Connecting { attempt: 1 }, Cause::Start)),
        record(
            1,
            10,
            to(State::AwaitingReady { attempt: 1 }, Cause::HandshakeDone),
        ),
        record(1, 20, binary(In, 3)),
        record(1, 30, close(In, 4001)),
        record(1, 31, text(In, "late")),
        record(1, 33, binary(In, 2)),
        record(
            1,
            40,
            to(
                State::Closed {
                    reason: ClosedReason::PeerClosed { code: 4001 },
                },
                Cause::TransportEnded { code: 4001 },
            ),
        ),
    ];
    let script = script_of(1, &events);
    assert_eq!(
        script.notes.missing_payloads, 2,
        "binary payloads are not stored"
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        let (end, got) = raw_received(&script.attempts[0]).await;
        assert_eq!(end, ServedEnd::Complete);
        // FIN and the opcode: 0x82 binary, 0x88 close, 0x81 text.
        assert_eq!(
            got,
            [
                (ms(10), 0x82, vec![0, 0, 0]),
                (ms(20), 0x88, 4001u16.to_be_bytes().to_vec()),
                (ms(21), 0x81, b"late".to_vec()),
                (ms(23), 0x82, vec![0, 0]),
            ]
        );
    })
    .await
    .expect("the replay ends within its time");
}
