//! The TOML config: the documented example loads; every mistake names its line.

use std::path::Path;

use sockscope_core::config::TokenSpec;
use sockscope_core::{Config, CoreError};
use sockscope_engine::AdapterKind;

fn err(text: &str) -> (usize, String) {
    match Config::parse(text, Path::new("s.toml")) {
        Err(CoreError::Config { line, message, .. }) => (line, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// Each text fails on `line` with a message that holds the words.
fn assert_errors(cases: &[(&str, usize, &str)]) {
    for &(text, line, words) in cases {
        let (got_line, message) = err(text);
        assert_eq!(got_line, line, "{text:?}: {message}");
        assert!(
            message.contains(words),
            "{text:?}: `{message}` lacks `{words}`"
        );
    }
}

#[test]
fn the_documented_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.example.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.sockets.len(), 7);
    assert_eq!(
        c.sockets[0].token,
        TokenSpec::Env("CSV_IMPORT_TOKEN".into())
    );
    assert_eq!(c.sockets[0].reconnect.max_attempts, 5);
    assert_eq!(c.sockets[0].line, Some(3));
    assert!(c.sockets[1].create.is_some());
    assert_eq!(c.sockets[2].adapter, AdapterKind::SocketIo);
    assert_eq!(c.sockets[2].dialect.progress_event, "import:progress");
    assert_eq!(c.sockets[3].adapter, AdapterKind::GraphqlWs);
    assert!(c.sockets[3].dialect.query.is_some());
    assert_eq!(c.sockets[4].adapter, AdapterKind::Phoenix);
    assert!(c.warnings.is_empty());
}

#[test]
fn mistakes_name_their_line() {
    let cases = [
        (
            "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\nadapter = \"fast\"\n",
            3,
            "dialect must be one of job, raw, socketio, graphql-ws, phoenix, signalr, json",
        ),
        (
            "[[socket]]\nurl = \"http://h/x?jobId=j\"\n",
            2,
            "scheme must be ws or wss",
        ),
        ("[[socket]]\n\n[[socket]]\nurl = \"ws://h:1/x\"\n", 1, "url"),
        ("[[socket]]\nurl = \"ws://h:1/x\"\n", 1, "job_id"),
        (
            "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\ncolour = \"red\"\n",
            3,
            "unknown field",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\ntoken = { env = \"A\", file = \"b\" }\n",
            3,
            "exactly one",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\ntoken_placement = \"cookie\"\n",
            3,
            "header",
        ),
        ("[[socket]\n", 1, ""),
    ];
    assert_errors(&cases);
}

#[test]
fn an_inline_token_works_is_warned_about_and_is_never_repeated() {
    let secret = "tok-inline-very-secret";
    let text = format!("[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\ntoken = \"{secret}\"\n");
    let c = Config::parse(&text, Path::new("s.toml")).unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].line, 3);
    assert!(!c.warnings[0].message.contains(secret));
    assert!(!format!("{c:?}").contains(secret));
    // A bad file that holds a token does not echo it either.
    let bad = format!("[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\ntoken = \"{secret}\"\nwhat = 1\n");
    let (_, message) = err(&bad);
    assert!(!message.contains(secret), "{message}");
}

#[test]
fn a_dialect_is_a_name_or_a_table_and_its_mistakes_name_their_line() {
    let c = Config::parse(
        "[[socket]]\nurl = \"ws://h:1/\"\ndialect = \"socketio\"\n",
        Path::new("s.toml"),
    )
    .unwrap();
    assert_eq!(c.sockets[0].adapter, AdapterKind::SocketIo);
    assert_eq!(c.sockets[0].dialect.progress_event, "progress");
    let c = Config::parse(
        "[[socket]]\nurl = \"ws://h:1/\"\n[socket.dialect]\nkind = \"graphql-ws\"\n\
         query = \"subscription { p }\"\nvariables = { job = \"{job_id}\" }\n",
        Path::new("s.toml"),
    )
    .unwrap();
    assert_eq!(c.sockets[0].adapter, AdapterKind::GraphqlWs);
    assert_eq!(
        c.sockets[0].dialect.variables.as_deref(),
        Some(r#"{"job":"{job_id}"}"#)
    );
    let cases = [
        (
            "[[socket]]\nurl = \"ws://h:1/\"\ndialect = \"signalr2\"\n",
            3,
            "dialect must be one of",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/\"\n[socket.dialect]\nkind = \"socketio\"\nprogres_event = \"p\"\n",
            3,
            "unknown dialect option `progres_event`",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/\"\n[socket.dialect]\nnamespace = \"/x\"\n",
            3,
            "needs `kind`",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/\"\ndialect = \"graphql-ws\"\n",
            1,
            "dialect.query: graphql-ws needs the subscription document",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/\"\n[socket.dialect]\nkind = \"socketio\"\nprocessed = \"0/done\"\n",
            1,
            "dialect.processed: must be a JSON Pointer",
        ),
        (
            "[[socket]]\nurl = \"ws://h:1/\"\nadapter = \"raw\"\ndialect = \"raw\"\n",
            4,
            "either adapter or dialect",
        ),
    ];
    assert_errors(&cases);
}
