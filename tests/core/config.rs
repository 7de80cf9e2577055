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
fn a_token_in_the_url_moves_into_memory_with_one_warning() {
    let secret = "url-token-in-config-77";
    let text = format!(
        "[[socket]]\nname = \"a\"\n\nurl = \"ws://h:1/x?jobId=j&access_token={secret}\"\n\
         [[socket]]\nurl = \"ws://h:1/x?jobId=k&jwt={secret}\"\ntoken_placement = \"header\"\n"
    );
    let c = Config::parse(&text, Path::new("s.toml")).unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert_eq!(c.warnings[0].line, 4);
    assert!(c.warnings[0].message.contains("`access_token=`"));
    assert!(!format!("{c:?}").contains(secret), "{c:?}");
    let (a, b) = (&c.sockets[0], &c.sockets[1]);
    assert_eq!(a.url, "ws://h:1/x?jobId=j");
    assert_eq!(a.token_placement, sockscope_engine::TokenPlacement::Query);
    assert_eq!(a.token_param.as_deref(), Some("access_token"));
    assert!(matches!(&a.token, TokenSpec::Inline(t) if t.expose() == secret));
    assert_eq!(b.token_placement, sockscope_engine::TokenPlacement::Header);
    // Beside another token source it is refused, on the URL's line.
    let (line, message) = err(&format!(
        "[[socket]]\nurl = \"ws://h:1/x?jobId=j&token={secret}\"\ntoken = {{ env = \"T\" }}\n"
    ));
    assert_eq!(line, 2);
    assert!(
        message.contains("`token=`") && !message.contains(secret),
        "{message}"
    );
}

#[test]
fn a_serde_error_that_quotes_a_bad_value_is_scrubbed() {
    let secret = "pasted-in-the-wrong-field-99";
    let (line, message) = err(&format!(
        "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\n[socket.reconnect]\nbase_ms = \"{secret}\"\n"
    ));
    assert_eq!(line, 4);
    assert!(!message.contains(secret), "{message}");
    assert!(message.contains("invalid type"), "{message}");
}

mod token_file {
    use std::time::Duration;

    use sockscope_core::config::{FILE_TOKEN_MAX, FileToken};
    use sockscope_engine::{Error, TokenSource};
    use sockscope_test_support::within;

    async fn refused(path: &std::path::Path) -> String {
        let source = FileToken::new(path);
        match within(Duration::from_secs(5), "the token read", source.token()).await {
            Err(Error::TokenUnavailable { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("token.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reason = refused(&fifo).await;
        assert!(reason.contains("not a regular file"), "{reason}");
    }

    #[tokio::test]
    async fn a_device_is_refused_and_a_big_file_is_not_read() {
        let reason = refused(std::path::Path::new("/dev/zero")).await;
        assert!(reason.contains("not a regular file"), "{reason}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; FILE_TOKEN_MAX as usize + 1]).unwrap();
        let reason = refused(&big).await;
        assert!(reason.contains("larger than 65536 bytes"), "{reason}");
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "file-token-value\n").unwrap();
        let t = FileToken::new(&ok).token().await.unwrap();
        assert_eq!(t.expose(), "file-token-value");
    }
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
