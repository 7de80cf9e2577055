//! The HAR importer on broken files, generated: valid captures cut short,
//! with bits flipped, a field of the wrong type or a huge number, or bytes
//! that are not UTF-8. Each imports or fails with an error naming the file
//! (a `Capture` error), within a time limit; none panics or hangs. The
//! stable suite's stand-in for `fuzz/fuzz_targets/har.rs`. `PROPTEST_CASES`
//! sets the number of files (default 128).

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use sockscope_core::CoreError;
use sockscope_core::capture::{ImportOptions, import_har};

use crate::capture::{har, message, planted, ws_entry};

/// Valid captures to break: the planted race (text frames, an HTTP entry,
/// reconnects), and one with a binary frame, a refused upgrade and an
/// entry with no response, pretty-printed.
fn seeds() -> Vec<Vec<u8>> {
    let mut binary = ws_entry("ws://h/bin", 0.0, vec![message("receive", 0.001, "x")]);
    binary["_webSocketMessages"][0]["opcode"] = json!(2);
    binary["_webSocketMessages"][0]["data"] = json!("AAECAw==");
    let mut refused = ws_entry("ws://h/bin", 0.5, vec![]);
    refused["response"]["status"] = json!(401);
    let mut unanswered = ws_entry("wss://h/other", 0.7, vec![]);
    unanswered.as_object_mut().unwrap().remove("response");
    let other = har(vec![binary, refused, unanswered]);
    vec![
        planted().to_string().into_bytes(),
        serde_json::to_vec_pretty(&other).unwrap(),
    ]
}

/// Values a field should never hold.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(9_223_372_036_854_775_807i64)),
        Just(json!(18_446_744_073_709_551_615u64)),
        Just(json!(1e19)),
        Just(json!("")),
        Just(json!("0000-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:60.999999999+23:59")),
        Just(json!([])),
        Just(json!({})),
        Just(json!([[[[[]]]]])),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

/// The fields a mutation may replace, as paths from an entry.
const FIELDS: &[&[&str]] = &[
    &["startedDateTime"],
    &["time"],
    &["request"],
    &["request", "url"],
    &["response"],
    &["response", "status"],
    &["response", "headers"],
    &["timings"],
    &["timings", "wait"],
    &["_resourceType"],
    &["_webSocketMessages"],
    &["_webSocketMessages", "0"],
    &["_webSocketMessages", "0", "type"],
    &["_webSocketMessages", "0", "time"],
    &["_webSocketMessages", "0", "opcode"],
    &["_webSocketMessages", "0", "data"],
    &["_webSocketMessages", "1", "time"],
];

#[derive(Debug, Clone)]
enum Mutation {
    /// The file cut at this fraction of its length.
    Truncate(f64),
    /// A bit flipped at this fraction.
    Flip(f64, u8),
    /// Bytes that are not UTF-8 put in at this fraction.
    NotUtf8(f64, Vec<u8>),
    /// Entry `n`'s field set to a value (the file re-serialized).
    Field(usize, usize, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Mutation::Truncate),
        (0.0..1.0f64, 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        (
            0.0..1.0f64,
            prop::collection::vec(
                prop_oneof![Just(0xffu8), Just(0xc0), Just(0x80), Just(0xed)],
                1..4
            )
        )
            .prop_map(|(at, b)| Mutation::NotUtf8(at, b)),
        (0usize..8, 0..FIELDS.len(), odd_value()).prop_map(|(e, f, v)| Mutation::Field(e, f, v)),
    ]
}

fn at(len: usize, fraction: f64) -> usize {
    ((len as f64 * fraction) as usize).min(len.saturating_sub(1))
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Truncate(f) => {
            bytes.truncate(at(bytes.len(), *f));
            bytes
        }
        Mutation::Flip(f, bit) => {
            let i = at(bytes.len(), *f);
            bytes[i] ^= 1 << bit;
            bytes
        }
        Mutation::NotUtf8(f, b) => {
            let i = at(bytes.len(), *f);
            bytes.splice(i..i, b.iter().copied());
            bytes
        }
        Mutation::Field(entry, field, value) => {
            let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
                return bytes;
            };
            let Some(entries) = v["log"]["entries"].as_array_mut() else {
                return bytes;
            };
            let n = entries.len();
            if n == 0 {
                return bytes;
            }
            let mut target = &mut entries[entry % n];
            let path = FIELDS[*field];
            for key in &path[..path.len() - 1] {
                let next = match key.parse::<usize>() {
                    Ok(i) => target.get_mut(i),
                    Err(_) => target.get_mut(*key),
                };
                let Some(next) = next else {
                    return bytes;
                };
                target = next;
            }
            let last = path[path.len() - 1];
            match (last.parse::<usize>(), target) {
                (Ok(i), Value::Array(a)) if i < a.len() => a[i] = value.clone(),
                (Err(_), Value::Object(o)) => {
                    o.insert(last.to_owned(), value.clone());
                }
                _ => {}
            }
            serde_json::to_vec(&v).unwrap()
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_broken_har_file_imports_or_fails_clearly_and_never_panics_or_hangs(
        seed in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = mutations
            .iter()
            .fold(seeds()[seed].clone(), apply);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.har");
        std::fs::write(&file, &bytes).unwrap();
        let db = dir.path().join("rec.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async {
            let import = import_har(&file, &db, ImportOptions::default());
            tokio::time::timeout(Duration::from_secs(20), import).await
        });
        match result {
            Err(_) => panic!("the import hung on {}", String::from_utf8_lossy(&bytes)),
            Ok(Ok(_)) => {}
            Ok(Err(CoreError::Capture { message, file: named, .. })) => {
                prop_assert_eq!(named, file);
                prop_assert!(!message.is_empty());
            }
            Ok(Err(other)) => panic!(
                "not a clear capture error: {other} ({:?}) on {}",
                other,
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}

/// Found by the property above: an entry that says it lasted 1e308 ms
/// overflowed the end of its attempt.
#[tokio::test]
async fn an_entry_that_lasts_forever_imports() {
    sockscope_test_support::bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = ws_entry("ws://h/ws", 0.0, vec![message("receive", 0.001, "hi")]);
        entry["time"] = json!(1e308);
        let next = ws_entry("ws://h/ws", 1.0, vec![message("receive", 1.001, "again")]);
        let file = dir.path().join("long.har");
        std::fs::write(&file, har(vec![entry, next]).to_string()).unwrap();
        let r = import_har(&file, &dir.path().join("rec.db"), ImportOptions::default())
            .await
            .unwrap();
        assert_eq!((r.attempts, r.frames), (2, 2), "{r:?}");
    })
    .await;
}
