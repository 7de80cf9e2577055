//! The dialect readers are total: any text reads as something or as a
//! violation, never a panic (the `dialect_frames` fuzz target checks the
//! same at scale); mapped progress events read back their counts.

use proptest::prelude::*;
use sockscope_protocol::dialect::{
    DialectOptions, Heard, graphql_read, json_read, phoenix_read, signalr_negotiated, signalr_read,
    socketio_connect, socketio_read,
};

proptest! {
    #[test]
    fn any_text_reads_without_panicking(text in ".{0,200}") {
        let o = DialectOptions::default();
        let r = socketio_read(&o, &text);
        if r.offset.is_some() {
            prop_assert!(r.kind.starts_with("event:"));
        }
        let _ = graphql_read(&o, &text);
        let _ = phoenix_read(&o, Some("j"), &text);
        let _ = signalr_read(&o, &text, false);
        let _ = signalr_read(&o, &text, true);
        let _ = json_read(&o, &text);
        let _ = signalr_negotiated(&text);
    }

    #[test]
    fn json_shaped_noise_reads_without_panicking(
        text in r#"\[?\{?"[a-z]{0,6}":[0-9a-z"\[\]{}:,]{0,40}\}?\]?\u{1e}?"#,
        pointer in "(/[a-z0-9]{0,4}){0,3}",
    ) {
        let o = DialectOptions {
            processed: Some(pointer.clone()),
            type_field: Some(pointer.clone()),
            seq: Some(pointer),
            ..DialectOptions::default()
        };
        let _ = socketio_read(&o, &text);
        let _ = graphql_read(&o, &text);
        let _ = phoenix_read(&o, None, &text);
        let _ = signalr_read(&o, &text, true);
        let _ = json_read(&o, &text);
    }

    #[test]
    fn engine_io_framed_noise_reads_without_panicking(
        head in "[0-6]{1,2}",
        nsp in "(/[a-z]{0,4},)?",
        id in "[0-9]{0,3}",
        body in ".{0,80}",
    ) {
        let text = format!("{head}{nsp}{id}{body}");
        let _ = socketio_read(&DialectOptions::default(), &text);
    }

    #[test]
    fn a_progress_event_reads_back_its_counts(processed in 0u64..1_000_000, extra in 0u64..1000, offset in "[A-Za-z0-9]{1,8}") {
        let total = processed + extra;
        let text = format!(r#"42["progress",{{"processed":{processed},"total":{total}}},"{offset}"]"#);
        let r = socketio_read(&DialectOptions::default(), &text);
        prop_assert_eq!(r.heard, Heard::Progress { processed, total });
        prop_assert_eq!(r.offset, Some(offset));
    }

    #[test]
    fn connect_packets_are_json_after_the_namespace(pid in "[a-z0-9]{1,10}", offset in "[a-z0-9]{1,10}") {
        let text = socketio_connect(&DialectOptions::default(), true, Some((&pid, &offset)));
        let v: serde_json::Value = serde_json::from_str(&text[2..]).unwrap();
        prop_assert_eq!(v["pid"].as_str(), Some(pid.as_str()));
        prop_assert_eq!(v["offset"].as_str(), Some(offset.as_str()));
    }
}
