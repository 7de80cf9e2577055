use proptest::prelude::*;
use sockscope_protocol::{
    ClientMessage, Envelope, ProtocolError, ServerMessage, encode_client, encode_server,
    parse_client, parse_server, parse_server_message,
};

const LIMIT: usize = 64 * 1024;

/// Table of frames in, parse outcome out.
#[test]
fn server_frames_parse_to_the_expected_outcome() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"v":1,"type":"job_progress","jobId":"j-42","seq":17,"ts":"t","payload":{"processedCount":3,"totalCount":9,"item":"a.csv"}}"#,
            "ok job_progress seq=Some(17)",
        ),
        (
            r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":5,"replayed":2}}"#,
            "ok ready_ack seq=None",
        ),
        (
            r#"{"v":1,"type":"keep_alive","seq":4,"payload":{}}"#,
            "ok keep_alive seq=Some(4)",
        ),
        (
            r#"{"v":1,"type":"brand_new","payload":{}}"#,
            "ok brand_new seq=None",
        ),
        (r#"{"v":1,"type":"keep_alive"}"#, "err missing_field seq"),
        (r#"{"type":"keep_alive","seq":1}"#, "err missing_field v"),
        (r#"{"v":1,"seq":1}"#, "err missing_field type"),
        (r#"{"v":"1","type":"x"}"#, "err missing_field v"),
        (r#"{"v":[1,{"a":2}],"type":"x"}"#, "err missing_field v"),
        (r#"{"v":-1,"type":"x"}"#, "err missing_field v"),
        (r#"{"v":1.0,"type":"x"}"#, "err missing_field v"),
        (r#"{"v":null,"type":"x"}"#, "err missing_field v"),
        (r#"{"v":1,"type":{"k":["x"]}}"#, "err missing_field type"),
        (r#"{"v":1,"type":true}"#, "err missing_field type"),
        (
            r#"{"v":1,"type":"job_\u0070rogress","seq":1,"payload":{"processedCount":1,"totalCount":9}}"#,
            "ok job_progress seq=Some(1)",
        ),
        (r#"{"v":1,"type":"x","v":1}"#, "err invalid_json"),
        (r#"{"v":2,"type":"x"}"#, "err unsupported_version"),
        (r#"not json"#, "err invalid_json"),
        (r#"[1,2]"#, "err invalid_json"),
        (
            r#"{"v":1,"type":"job_progress","seq":1,"payload":{"totalCount":9}}"#,
            "err missing_field payload.processedCount",
        ),
    ];
    for (frame, expected) in cases {
        // The engine's front door reads the same seq and message.
        assert_eq!(
            parse_server_message(frame, LIMIT),
            parse_server(frame, LIMIT).map(|e| (e.seq, e.message)),
            "{frame}"
        );
        let got = match parse_server(frame, LIMIT) {
            Ok(e) => format!("ok {} seq={:?}", e.message.kind(), e.seq),
            Err(ProtocolError::MissingField { field }) => format!("err missing_field {field}"),
            Err(e) => format!("err {}", e.class()),
        };
        assert_eq!(&got, expected, "frame: {frame}");
    }
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let frame = format!(
        r#"{{"v":1,"type":"job_progress","seq":1,"payload":{{"item":"{}"}}}}"#,
        "x".repeat(100)
    );
    assert_eq!(
        parse_server(&frame, 64),
        Err(ProtocolError::Oversized {
            size: frame.len(),
            limit: 64
        })
    );
}

#[test]
fn floats_in_results_survive_a_round_trip() {
    let frame = r#"{"v":1,"type":"job_complete","seq":1,"payload":{"processedCount":1,"totalCount":1,"result":1.0715660391465826e-75}}"#;
    let parsed = parse_server(frame, LIMIT).unwrap();
    assert_eq!(
        parse_server(&encode_server(&parsed), LIMIT).unwrap(),
        parsed
    );
}

#[test]
fn client_messages_round_trip() {
    for m in [
        ClientMessage::Ready { resume_from: None },
        ClientMessage::Ready {
            resume_from: Some(41),
        },
        ClientMessage::Ping { nonce: "n1".into() },
        ClientMessage::Cancel,
    ] {
        assert_eq!(parse_client(&encode_client(&m), LIMIT).unwrap(), m);
    }
}

#[test]
fn ready_without_payload_means_resume_from_nothing() {
    assert_eq!(
        parse_client(r#"{"v":1,"type":"ready"}"#, LIMIT).unwrap(),
        ClientMessage::Ready { resume_from: None }
    );
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (any::<u64>(), any::<u64>())
            .prop_map(|(last_seq, replayed)| ServerMessage::ReadyAck { last_seq, replayed }),
        any::<u64>().prop_map(|total_count| ServerMessage::JobStarted { total_count }),
        (any::<u64>(), any::<u64>(), proptest::option::of(".*")).prop_map(|(p, t, item)| {
            ServerMessage::JobProgress {
                processed_count: p,
                total_count: t,
                item,
            }
        }),
        (".*", ".*", any::<bool>()).prop_map(|(code, message, retryable)| {
            ServerMessage::JobFailed {
                code,
                message,
                retryable,
            }
        }),
        Just(ServerMessage::KeepAlive),
        ".*".prop_map(|nonce| ServerMessage::Pong { nonce }),
    ]
}

proptest! {
    #[test]
    fn server_messages_round_trip(message in server_message(), seq in 1u64..u64::MAX) {
        let seq = message.is_job_event().then_some(seq);
        let envelope = Envelope { job_id: Some("j-1".into()), seq, ts: None, message };
        prop_assert_eq!(parse_server(&encode_server(&envelope), usize::MAX).unwrap(), envelope);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".*") {
        let _ = parse_server(&text, LIMIT);
        let _ = parse_client(&text, LIMIT);
    }
}
