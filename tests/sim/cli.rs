//! `Faults` parsing and the `sockscope-sim` binary.

use sockscope_sim::{Faults, SimError};
use sockscope_test_support::bounded;

use crate::{http, spawn_binary};

#[test]
fn faults_parse_from_key_value_pairs() {
    let f: Faults = "drop_after=3, history=0,fault_connections=-1,fail_retryable=true"
        .parse()
        .unwrap();
    assert_eq!(f.drop_after, Some(3));
    assert_eq!(f.history, Some(0));
    assert_eq!(f.fault_connections, Some(-1));
    assert_eq!(f.fail_retryable, Some(true));
    assert_eq!(f.interval_ms, None);
    assert_eq!("".parse::<Faults>().unwrap(), Faults::default());
}

#[test]
fn faults_parse_errors_name_the_bad_key_or_value() {
    let cases = [
        ("warp_speed=9", "warp_speed", "unknown knob"),
        ("drop_after=three", "drop_after", "`three`"),
        ("fail_retryable=maybe", "fail_retryable", "`maybe`"),
        ("history", "history", "key=value"),
        ("fault_connections=-2", "fault_connections", "-1"),
    ];
    for (input, key, fragment) in cases {
        let err = input.parse::<Faults>().unwrap_err();
        match &err {
            SimError::BadFault { key: k, .. } => assert_eq!(k, key, "{input}"),
            other => panic!("{input}: {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(key) && message.contains(fragment),
            "{input}: {message}"
        );
    }
}

#[test]
fn faults_json_uses_snake_case_and_rejects_unknown_keys() {
    let f: Faults = serde_json::from_str(r#"{"state_5xx": 2, "token_ttl_ms": 100}"#).unwrap();
    assert_eq!((f.state_5xx, f.token_ttl_ms), (Some(2), Some(100)));
    let err = serde_json::from_str::<Faults>(r#"{"stateFiveXx": 2}"#).unwrap_err();
    assert!(err.to_string().contains("stateFiveXx"), "{err}");
    let over = "history=1"
        .parse::<Faults>()
        .unwrap()
        .merged_over(&"history=2,drop_after=4".parse().unwrap());
    assert_eq!((over.history, over.drop_after), (Some(1), Some(4)));
}

#[tokio::test]
async fn binary_prints_its_address_and_applies_faults() {
    bounded(async {
        let (mut child, base) = spawn_binary(&[
            "--listen",
            "127.0.0.1:0",
            "--fault",
            "history=0",
            "--fault",
            "history=5,state_5xx=1",
        ])
        .await;
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let faults: Faults = http()
            .get(format!("{base}/admin/faults"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            faults,
            "history=5,state_5xx=1".parse().unwrap(),
            "later --fault wins"
        );
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn binary_rejects_a_bad_fault_naming_it() {
    bounded(async {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope-sim"))
            .args(["--fault", "warp=1"])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("warp"), "{stderr}");
    })
    .await;
}
