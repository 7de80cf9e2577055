//! ui/src/transfer.gen.ts, the webview's view of the transfer types, is
//! generated from them (ts-rs) and checked in. This test fails when the
//! file differs from what the types generate; run it with
//! `SOCKSCOPE_WRITE_TS=1` to rewrite the file.

use sockscope_engine::AdapterKind;
use sockscope_recorder::export::Format;
use ts_rs::{Config, TS};

use crate::error::UiError;
use crate::scenario_view::ScenarioResult;
use crate::transfer::{
    AddSocketRequest, AppInfo, CursorIo, DialectRequest, EventPageOut, ImportedSession, LiveBatch,
    OtlpSettings, RecordRequest, RecordingEnded, RecordingStarted, ScenarioRow, SessionRow,
    SocketRow, TokenRef,
};
use crate::ui_event::{
    Direction, FindingSide, MessageStage, Severity, StateName, SyncOutcome, UiBody, UiEvent,
};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/transfer.gen.ts");

const HEADER: &str = "\
// Generated from the transfer types of src-tauri (ui_event.rs, transfer.rs)
// by `cargo test -p sockscope-app --lib typescript` with SOCKSCOPE_WRITE_TS=1.
// Do not edit: change the Rust types. Times are engine-monotonic ns (t) and
// wall-clock µs (w); 64-bit integers cross as numbers.
";

macro_rules! declarations {
    ($cfg:expr; $($t:ty),+ $(,)?) => {
        vec![$( (<$t as TS>::docs(), <$t as TS>::decl($cfg)) ),+]
    };
}

fn generated() -> String {
    let cfg = Config::new().with_large_int("number");
    let all = declarations![&cfg;
        UiEvent, UiBody, StateName, FindingSide, Severity, Direction, MessageStage, SyncOutcome,
        SocketRow, LiveBatch, AppInfo, SessionRow, EventPageOut, CursorIo, ScenarioRow,
        ScenarioResult, OtlpSettings, UiError, ImportedSession, AddSocketRequest, TokenRef,
        DialectRequest, RecordRequest, RecordingStarted, RecordingEnded,
    ];
    let mut out = String::from(HEADER);
    out.push_str(&names(
        "ExportFormat",
        "EXPORT_FORMATS",
        "The export formats, by name (the recorder's `export::Format`), in menu order.",
        Format::ALL.iter().map(|f| f.name()),
    ));
    out.push_str(&names(
        "DialectName",
        "DIALECTS",
        "The dialects, as the engine names them (`AdapterKind`).",
        AdapterKind::ALL.iter().map(|k| k.as_str()),
    ));
    for (docs, decl) in all {
        out.push('\n');
        out.push_str(&docs.unwrap_or_default());
        out.push_str("export ");
        out.push_str(&decl);
        out.push('\n');
    }
    out
}

/// A union of the names a core list holds, and the list itself, so that
/// the webview's copy is generated rather than kept in step by hand.
fn names<'a>(ty: &str, list: &str, doc: &str, names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    format!(
        "\n/** {doc} */\nexport type {ty} = {};\n\n/** {doc} */\nexport const {list}: readonly {ty}[] = [{}];\n",
        quoted.join(" | "),
        quoted.join(", "),
    )
}

#[test]
fn the_generated_typescript_is_up_to_date() {
    let want = generated();
    if std::env::var_os("SOCKSCOPE_WRITE_TS").is_some() {
        std::fs::write(FILE, &want).expect("writing ui/src/transfer.gen.ts");
        return;
    }
    let got = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        got == want,
        "ui/src/transfer.gen.ts differs from the transfer types: run \
         `SOCKSCOPE_WRITE_TS=1 cargo test -p sockscope-app --lib typescript` and commit it"
    );
}
