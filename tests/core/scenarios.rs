//! Every scenario of the catalog runs as its own test, so a failure is named.

use std::time::Duration;

use sockscope_core::scenario;
use sockscope_test_support::within;

async fn run_scenario(id: &str, limit: Duration) {
    let report = within(limit, id, scenario::run(id))
        .await
        .unwrap_or_else(|e| panic!("{id} could not run: {e}"));
    println!("{report}");
    assert!(report.passed(), "{report}");
    for class in report.info.expected {
        assert!(report.findings.contains_key(class), "{report}");
    }
}

macro_rules! scenario_tests {
    ($($test:ident => $id:literal, $secs:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                run_scenario($id, Duration::from_secs($secs)).await;
            }
        )*

        /// The list above and the catalog name the same scenarios.
        #[test]
        fn every_catalog_entry_has_a_test() {
            let tested = [$($id),*];
            let ids: Vec<&str> = scenario::catalog().iter().map(|s| s.id).collect();
            assert_eq!(ids, tested);
        }
    };
}

scenario_tests! {
    send_before_handshake => "send-before-handshake", 30;
    accepted_but_deaf => "accepted-but-deaf", 30;
    send_after_close => "send-after-close", 30;
    broadcast_to_closing => "broadcast-to-closing", 30;
    peer_frames_after_close => "peer-frames-after-close", 30;
    abrupt_drop_then_resume => "abrupt-drop-then-resume", 30;
    resume_impossible_sync_5xx => "resume-impossible-sync-5xx", 30;
    half_open_stall => "half-open-stall", 30;
    expired_token_on_reconnect => "expired-token-on-reconnect", 30;
    queued_sends_vs_app_ready => "queued-sends-vs-app-ready", 30;
    cancel_during_backoff => "cancel-during-backoff", 30;
    reconnect_storm_1000 => "reconnect-storm-1000", 60;
    duplicate_seq_and_gap => "duplicate-seq-and-gap", 30;
    socketio_namespace_ack_late => "socketio-namespace-ack-late", 30;
    graphql_ws_ack_late => "graphql-ws-ack-late", 30;
    phoenix_push_before_join => "phoenix-push-before-join", 30;
    signalr_invoke_before_handshake => "signalr-invoke-before-handshake", 30;
}

#[tokio::test]
async fn an_unknown_scenario_is_a_typed_error() {
    let err = within(Duration::from_secs(10), "the lookup", scenario::run("nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, sockscope_core::CoreError::UnknownScenario(ref n) if n == "nope"));
}

#[test]
fn catalog_ids_are_unique_kebab_case_and_name_a_seed() {
    let all = scenario::catalog();
    for s in all {
        assert!(
            s.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            s.id
        );
        assert_eq!(all.iter().filter(|o| o.id == s.id).count(), 1, "{}", s.id);
        assert!(!s.seed.is_empty() && !s.race.is_empty());
    }
}
