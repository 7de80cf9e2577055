//! Fuzz target for the dialects' frame readers (`sockscope_protocol::dialect`).
//!
//! For any text: every dialect's reader (`socketio_read`, `graphql_read`,
//! `phoenix_read`, `signalr_read`, `json_read`, `signalr_negotiated`) never
//! panics, with the default options and with options whose pointers and
//! names come from the input itself; a Socket.IO offset is only ever read
//! from an event.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope_protocol::dialect::{
    DialectOptions, graphql_read, json_read, phoenix_read, signalr_negotiated, signalr_read,
    socketio_read,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = DialectOptions::default();
    let r = socketio_read(&defaults, text);
    if r.offset.is_some() {
        assert!(r.kind.starts_with("event:"), "an offset outside an event: {r:?}");
    }
    let _ = graphql_read(&defaults, text);
    let _ = phoenix_read(&defaults, Some("j"), text);
    let _ = signalr_read(&defaults, text, false);
    let _ = signalr_read(&defaults, text, true);
    let _ = json_read(&defaults, text);
    let _ = signalr_negotiated(text);
    // Options taken from the input: pointers and names that may be anything.
    let mut parts = text.splitn(3, '\n');
    let (head, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let custom = DialectOptions {
        namespace: head.into(),
        progress_event: head.into(),
        processed: Some(head.into()),
        total: Some(rest.into()),
        type_field: Some(rest.into()),
        seq: Some(head.into()),
        topic: Some(head.into()),
        ..DialectOptions::default()
    };
    let body = parts.next().unwrap_or(text);
    let _ = socketio_read(&custom, body);
    let _ = graphql_read(&custom, body);
    let _ = phoenix_read(&custom, None, body);
    let _ = signalr_read(&custom, body, true);
    let _ = json_read(&custom, body);
});
