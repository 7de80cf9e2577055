//! Socket configs are checked when the socket is created, with a clear error
//! that names the field and never echoes a secret.

use std::time::Duration;

use sockscope_engine::{Engine, EngineConfig, Error, SocketConfig};

fn refused(cfg: SocketConfig) -> (&'static str, String) {
    match cfg.validate() {
        Err(Error::InvalidConfig { field, reason }) => (field, reason),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn bad_configs_name_the_field() {
    let ok = || SocketConfig::job("ws://127.0.0.1:9/ws/progress?jobId=j1");
    let cases: Vec<(SocketConfig, &str, &str)> = vec![
        (SocketConfig::job("not a url"), "url", "not a URL"),
        (
            SocketConfig::job("http://h/ws?jobId=j"),
            "url",
            "scheme must be ws or wss",
        ),
        (SocketConfig::job("ws://h:1/ws"), "job_id", "needs a job id"),
        (
            SocketConfig {
                job_id: Some("other".into()),
                ..ok()
            },
            "job_id",
            "differs",
        ),
        (
            SocketConfig {
                outbox_capacity: 0,
                ..ok()
            },
            "outbox_capacity",
            "at least 1",
        ),
        (
            SocketConfig {
                max_message_size: 10,
                ..ok()
            },
            "max_message_size",
            "at least 1024",
        ),
        (
            SocketConfig {
                state_url: Some("ftp://x/".into()),
                ..ok()
            },
            "state_url",
            "http or https",
        ),
        (
            {
                let mut c = ok();
                c.reconnect.cap = Duration::from_millis(1);
                c
            },
            "reconnect",
            "base <= cap",
        ),
        (
            {
                let mut c = ok();
                c.heartbeat.interval = Duration::ZERO;
                c
            },
            "heartbeat",
            "positive",
        ),
    ];
    for (cfg, field, words) in cases {
        let url = cfg.url.clone();
        let (got_field, reason) = refused(cfg);
        assert_eq!(got_field, field, "{url}: {reason}");
        assert!(reason.contains(words), "{url}: `{reason}` lacks `{words}`");
    }
    assert!(ok().validate().is_ok());
    assert!(
        SocketConfig::raw("wss://example.com/feed")
            .validate()
            .is_ok()
    );
}

#[test]
fn a_token_in_the_url_is_refused_without_being_repeated() {
    let secret = "s3cr3t-token-value";
    for url in [
        format!("ws://h:1/ws?jobId=j&token={secret}"),
        format!("ws://h:1/ws?jobId=j&Access_Token={secret}"),
        format!("ws://h:1/ws?apikey={secret}&jobId=j"),
        format!("ws://user:{secret}@h:1/ws?jobId=j"),
    ] {
        let (field, reason) = refused(SocketConfig::job(url));
        assert_eq!(field, "url");
        assert!(!reason.contains(secret), "{reason}");
        let shown = format!("{}", Error::InvalidConfig { field, reason });
        assert!(!shown.contains(secret));
    }
}

#[test]
fn a_token_in_the_url_query_is_taken_out_and_remembered() {
    let secret = "url-query-secret-4242";
    for param in sockscope_engine::URL_SECRET_PARAMS {
        let url = format!("wss://h:1/ws?jobId=j&{param}={secret}&x=1");
        let found = sockscope_engine::take_url_token(&url)
            .unwrap()
            .expect("a token");
        assert_eq!(found.param, *param);
        assert_eq!(found.token.expose(), secret);
        assert_eq!(found.url, "wss://h:1/ws?jobId=j&x=1");
        assert!(!format!("{found:?}").contains(secret), "{found:?}");
    }
    // Remembered at once: the scrubber knows it before any connect.
    assert_eq!(
        sockscope_engine::secret::scrub(&format!("echo {secret}")),
        "echo [REDACTED]"
    );
    let only = sockscope_engine::take_url_token(&format!("ws://h:1/ws?jwt={secret}"))
        .unwrap()
        .unwrap();
    assert_eq!(only.url, "ws://h:1/ws");
    assert!(
        sockscope_engine::take_url_token("ws://h:1/ws?jobId=j&tokens=1")
            .unwrap()
            .is_none(),
        "only the listed names"
    );
    let two = format!("ws://h:1/ws?jobId=j&token={secret}&sig=abcdefgh");
    match sockscope_engine::take_url_token(&two) {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "url");
            assert!(reason.contains("token, sig"), "{reason}");
            assert!(!reason.contains(secret), "{reason}");
        }
        other => panic!("two secrets must be refused, got {other:?}"),
    }
}

#[test]
fn a_url_with_a_fragment_is_refused_without_being_repeated() {
    // A fragment never reaches the server, and the handshake refuses it:
    // such a socket could never connect. It may hold a token (OAuth's
    // `#access_token=`), so the error does not echo it.
    let secret = "frag-s3cr3t";
    for url in [
        format!("ws://h:1/ws?jobId=j#access_token={secret}"),
        format!("wss://h/ws?jobId=j#{secret}"),
        "ws://h:1/ws?jobId=j#".to_owned(),
    ] {
        let (field, reason) = refused(SocketConfig::job(url.clone()));
        assert_eq!(field, "url", "{url}");
        assert!(reason.contains("#fragment"), "{url}: {reason}");
        assert!(!reason.contains(secret), "{reason}");
    }
}

#[tokio::test]
async fn the_engine_refuses_a_bad_config_and_starts_nothing() {
    sockscope_test_support::bounded(async {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let err = engine
            .add_socket(&SocketConfig::job("ws://h:1/ws"))
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidConfig {
                field: "job_id",
                ..
            }
        ));
        assert!(engine.sockets().is_empty());
    })
    .await;
}

#[test]
fn the_state_url_is_derived_from_the_socket_url() {
    let v = SocketConfig::job("wss://api.example.com/ws/progress?jobId=j%2042")
        .validate()
        .unwrap();
    assert_eq!(v.info.job_id.as_deref(), Some("j 42"));
    assert_eq!(
        v.info.endpoint.to_string(),
        "wss://api.example.com:443/ws/progress"
    );
    assert_eq!(
        v.state_url().as_ref().map(url::Url::as_str),
        Some("https://api.example.com/api/job-state/j%2042")
    );
}
