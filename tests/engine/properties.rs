//! Property test over the sans-IO machine: no sequence of inputs leads to a
//! write after close, an attempt after cancel, or an application send before
//! Ready.

use proptest::prelude::*;
use sockscope_engine::event::{Direction, ErrorClass, EventKind, Mono, StateName, UserAction};
use sockscope_engine::machine::{Effect, InFrame, Input, Machine, SyncFailure};
use sockscope_engine::{AdapterKind, MachineConfig};

fn frame_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..20, 0u64..3).prop_map(|(last, replayed)| format!(
            r#"{{"v":1,"type":"ready_ack","payload":{{"lastSeq":{last},"replayed":{replayed}}}}}"#
        )),
        (1u64..20).prop_map(|seq| format!(
            r#"{{"v":1,"type":"job_progress","seq":{seq},"payload":{{"processedCount":{seq},"totalCount":20}}}}"#
        )),
        (1u64..20).prop_map(|seq| format!(
            r#"{{"v":1,"type":"job_complete","seq":{seq},"payload":{{"processedCount":20,"totalCount":20}}}}"#
        )),
        (1u64..20).prop_map(|seq| format!(
            r#"{{"v":1,"type":"job_failed","seq":{seq},"payload":{{"code":"x","message":"y","retryable":true}}}}"#
        )),
        Just(r#"{"v":1,"type":"resync_required","payload":{"reason":"history_expired"}}"#.to_owned()),
        Just("garbage".to_owned()),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        Just(Input::Start),
        any::<bool>().prop_map(|r| Input::HandshakeDone { token_refreshed: r }),
        prop_oneof![Just(401u16), Just(404), Just(503)]
            .prop_map(|s| Input::HandshakeFailed(ErrorClass::HttpStatus(s))),
        Just(Input::HandshakeFailed(ErrorClass::Io("refused".into()))),
        Just(Input::HandshakeFailed(ErrorClass::Token)),
        frame_text().prop_map(|t| Input::Frame(InFrame::Text(t.into()))),
        (1u64..4).prop_map(|n| Input::Frame(InFrame::Pong(n.to_be_bytes().to_vec()))),
        Just(Input::Frame(InFrame::Binary(3))),
        prop_oneof![
            Just(1000u16),
            Just(1001),
            Just(1008),
            Just(1011),
            Just(4001),
            Just(4004)
        ]
        .prop_map(|code| Input::PeerClose { code }),
        Just(Input::PeerFrameAfterClose),
        Just(Input::TransportEnded),
        Just(Input::TransportError(ErrorClass::Io("reset".into()))),
        any::<bool>().prop_map(|b| Input::Send {
            text: "m".into(),
            broadcast: b
        }),
        prop_oneof![
            Just(UserAction::Cancel),
            Just(UserAction::Close),
            Just(UserAction::Retry)
        ]
        .prop_map(Input::User),
        prop_oneof![Just(404u16), Just(503), Just(401)]
            .prop_map(|s| Input::StateSyncDone(Err(SyncFailure::Status(s)))),
        Just(Input::NetworkChanged),
    ]
}

/// What the effects so far say about the connection.
#[derive(Debug, Default)]
struct Model {
    state: Option<StateName>,
    connected: bool,
    closed: bool,
    cancelled: bool,
}

impl Model {
    fn check(&mut self, input: &Input, fx: &[Effect]) -> Result<(), TestCaseError> {
        if let Input::PeerClose { .. } = input
            && self.connected
        {
            self.closed = true;
        }
        if matches!(input, Input::HandshakeDone { .. })
            && fx
                .iter()
                .any(|e| matches!(e, Effect::Emit(EventKind::Transition { .. })))
        {
            self.connected = true;
        }
        for e in fx {
            match e {
                Effect::Connect { .. } => {
                    prop_assert!(!self.cancelled, "connect after cancel");
                    self.connected = false;
                    self.closed = false;
                }
                Effect::Write(frame) => {
                    prop_assert!(self.connected, "write with no connection: {frame:?}");
                    prop_assert!(!self.closed, "write after close: {frame:?}");
                    if matches!(frame, sockscope_engine::machine::OutFrame::Close { .. }) {
                        self.closed = true;
                    }
                }
                Effect::DropTransport => self.connected = false,
                Effect::Emit(EventKind::Transition { to, .. }) => {
                    self.state = Some(to.name());
                    if to.name() == StateName::Cancelled {
                        self.cancelled = true;
                    }
                    if matches!(to.name(), StateName::Backoff) || to.is_terminal() {
                        self.connected = false;
                    }
                }
                Effect::Emit(EventKind::Frame(f))
                    if f.direction == Direction::Out && f.msg.is_some() =>
                {
                    prop_assert_eq!(self.state, Some(StateName::Ready), "app send before Ready");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn run(adapter: AdapterKind, steps: Vec<(u64, Input)>) -> Result<(), TestCaseError> {
    let mut cfg = MachineConfig::new(adapter);
    cfg.outbox_capacity = 4;
    cfg.can_refresh_token = true;
    let mut m = Machine::new(cfg);
    let mut model = Model::default();
    let mut now = Mono(0);
    for (gap_ms, input) in steps {
        now = now.plus(std::time::Duration::from_millis(gap_ms));
        while let Some((due, kind)) = m.next_timer() {
            if due > now {
                break;
            }
            let timer = Input::Timer(kind);
            let fx = m.step(timer.clone(), due);
            model.check(&timer, &fx)?;
        }
        let fx = m.step(input.clone(), now);
        model.check(&input, &fx)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn job_adapter_never_races(steps in proptest::collection::vec((0u64..20_000, input()), 1..80)) {
        run(AdapterKind::Job, steps)?;
    }

    #[test]
    fn raw_adapter_never_races(steps in proptest::collection::vec((0u64..20_000, input()), 1..80)) {
        run(AdapterKind::Raw, steps)?;
    }
}
