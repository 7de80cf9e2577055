//! Fuzz target for the wire-message parser (`sockscope-protocol`).
//!
//! For any input: `parse_server` and `parse_client` never panic, with a small
//! limit or none; a frame within the small limit parses the same with either
//! limit; and whatever parses re-encodes (`encode_server` / `encode_client`) to
//! a frame that parses back to an equal value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope_protocol::{encode_client, encode_server, parse_client, parse_server};

/// A small frame limit, as a real receiver would configure.
const SMALL_LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // Frames are text; non-UTF-8 bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let server_small = parse_server(text, SMALL_LIMIT);
    let server = parse_server(text, usize::MAX);
    let client_small = parse_client(text, SMALL_LIMIT);
    let client = parse_client(text, usize::MAX);

    // The limit only decides whether a frame is too big, nothing else.
    if text.len() <= SMALL_LIMIT {
        assert_eq!(server_small, server, "server: limit changed the result");
        assert_eq!(client_small, client, "client: limit changed the result");
    } else {
        assert!(server_small.is_err(), "server: oversized frame accepted");
        assert!(client_small.is_err(), "client: oversized frame accepted");
    }

    // Round trip: parse -> encode -> parse gives the same value.
    if let Ok(envelope) = server {
        let encoded = encode_server(&envelope);
        let again = parse_server(&encoded, usize::MAX)
            .unwrap_or_else(|e| panic!("server: re-parse of {encoded:?} failed: {e}"));
        assert_eq!(
            envelope, again,
            "server: round trip changed the value; encoded {encoded:?}"
        );
    }
    if let Ok(message) = client {
        let encoded = encode_client(&message);
        let again = parse_client(&encoded, usize::MAX)
            .unwrap_or_else(|e| panic!("client: re-parse of {encoded:?} failed: {e}"));
        assert_eq!(
            message, again,
            "client: round trip changed the value; encoded {encoded:?}"
        );
    }
});
