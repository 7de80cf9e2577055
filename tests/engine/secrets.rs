//! A token never reaches an event: not in a frame, a config, an error, a URL.

use std::sync::Arc;

use sockscope_engine::event::StateName;
use sockscope_engine::{StaticToken, TokenPlacement};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded};

#[tokio::test]
async fn no_event_carries_the_token_in_either_placement() {
    bounded(async {
        let mut h = Harness::new().await;
        let mut tokens = Vec::new();
        let mut sockets = Vec::new();
        for placement in [TokenPlacement::Header, TokenPlacement::Query] {
            let job = h.job(
                JobKind::CsvImport,
                10,
                Faults {
                    interval_ms: Some(5),
                    drop_after: Some(3),
                    state_5xx: Some(1),
                    history: Some(0),
                    ..Faults::default()
                },
            );
            let mut cfg = h.config(&job);
            cfg.token = Some(Arc::new(StaticToken::new(job.token.clone())));
            cfg.token_placement = placement;
            tokens.push(job.token.clone());
            sockets.push(h.add(&cfg));
        }
        for s in &sockets {
            h.entered(s, StateName::Closed).await;
        }
        assert!(h.log.len() > 50);
        for e in &h.log {
            let shown = format!("{e:?}");
            for t in &tokens {
                assert!(!shown.contains(t.as_str()), "token leaked in {shown}");
            }
        }
        // The token's own Debug is redacted.
        assert_eq!(
            format!("{:?}", sockscope_engine::Token::new(tokens[0].clone())),
            "Token(<redacted>)"
        );
    })
    .await;
}
