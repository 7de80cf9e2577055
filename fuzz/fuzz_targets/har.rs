//! Fuzz target for the HAR importer (`sockscope-core`'s `capture::read_har`,
//! which `sockscope import` records): the streaming reader and the lanes,
//! states and findings built from each entry, with no database.
//!
//! For any input: no panic (an overflow in a debug build included); an
//! error names what is wrong; every frame counted was handed on as an event.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope_core::capture::{ImportOptions, read_har};

fuzz_target!(|data: &[u8]| {
    let mut events = 0u64;
    let (result, counts) = read_har(data, ImportOptions::default(), |_| {
        events += 1;
        Ok(())
    });
    if let Err(e) = result {
        assert!(!e.to_string().is_empty(), "an error says what is wrong");
    }
    assert!(counts.frames <= events, "{counts:?} but {events} events");
});
