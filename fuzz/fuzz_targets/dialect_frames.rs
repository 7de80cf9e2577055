//! Fuzz target for the dialects' frame readers (`sockscope_protocol::dialect`).
//!
//! For any text: `socketio_read` and `graphql_read` never panic, with the
//! default options and with options whose pointers and names come from the
//! input itself; a Socket.IO offset is only ever read from an event.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope_protocol::dialect::{DialectOptions, graphql_read, socketio_read};

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
    // Options taken from the input: pointers and names that may be anything.
    let mut parts = text.splitn(3, '\n');
    let (head, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let custom = DialectOptions {
        namespace: head.into(),
        progress_event: head.into(),
        processed: Some(head.into()),
        total: Some(rest.into()),
        ..DialectOptions::default()
    };
    let body = parts.next().unwrap_or(text);
    let _ = socketio_read(&custom, body);
    let _ = graphql_read(&custom, body);
});
