//! Recording to SQLite and reading it back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::Event;
use sockscope_recorder::{
    EventBody, EventRecord, RecordReader, Recorder, RecorderConfig, WindowQuery,
};
use sockscope_test_support::{bounded, within};
use tokio::sync::mpsc;

use crate::support::{config, raw, record};
use crate::synthetic::{burst, socket_life};

/// Three interleaved socket lives.
fn three_lives() -> Vec<Event> {
    let mut all: Vec<Event> = (1..=3)
        .flat_map(|s| socket_life(s, s * 7, 40, None))
        .collect();
    all.sort_by_key(|e| e.mono);
    all
}

/// Strips what only the database knows (ids, finding links).
fn comparable(mut r: EventRecord) -> EventRecord {
    r.event_id = 0;
    if let EventBody::Finding(f) = &mut r.body {
        f.transition_event_id = None;
        f.frame_event_id = None;
    }
    r
}

#[tokio::test]
async fn every_kind_round_trips_with_pragmas_sessions_and_links() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let events = three_lives();
        let expected: Vec<EventRecord> = events
            .iter()
            .map(|e| EventRecord::from_event(e, Some(4096)))
            .collect();
        let (summary, report, sent) = record(config(&path), events).await;
        assert!(report.created && report.moved_aside.is_none());
        assert_eq!(summary.received, sent);
        assert_eq!(summary.written, sent);

        let conn = raw(&path);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, sockscope_recorder::SCHEMA_VERSION);
        let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(app, sockscope_recorder::APPLICATION_ID);

        let reader = RecordReader::open(&path).unwrap();
        let sessions = reader.sessions().unwrap();
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!(s.tag, report.session);
        assert_eq!(s.end_state, "clean");
        assert_eq!(s.event_count, sent);
        assert!(s.ended_ns.unwrap() >= s.started_ns);
        assert!(!s.host.is_empty());

        let sockets = reader.sockets(s.tag.id).unwrap();
        assert_eq!(sockets.iter().map(|s| s.socket_id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(sockets[1].config.job_id.as_deref(), Some("j-2"));
        assert_eq!(sockets[1].config.port, 8443);

        let mut got = Vec::new();
        reader
            .for_each_event(s.tag.id, |e| {
                got.push(e);
                Ok(())
            })
            .unwrap();
        assert_eq!(got.len() as u64, sent);
        let got_plain: Vec<EventRecord> = got.iter().cloned().map(comparable).collect();
        let expected_plain: Vec<EventRecord> = expected.into_iter().map(comparable).collect();
        assert_eq!(got_plain, expected_plain);

        // Findings link to the transition that began their state and to the
        // frame just before them.
        let s1: Vec<&EventRecord> = got.iter().filter(|e| e.socket_id == 1).collect();
        let pos = s1
            .iter()
            .position(|e| matches!(&e.body, EventBody::Finding(f) if f.class == "ready_timeout"))
            .unwrap();
        let EventBody::Finding(f) = &s1[pos].body else { unreachable!() };
        assert_eq!(f.frame_event_id, Some(s1[pos - 1].event_id), "linked to the ready frame");
        assert!(matches!(&s1[pos - 1].body, EventBody::Frame(fr) if fr.message_type.as_deref() == Some("ready")));
        assert!(matches!(&s1[pos - 2].body, EventBody::Transition(t) if t.to == "AwaitingReady"));
        assert_eq!(f.transition_event_id, Some(s1[pos - 2].event_id));
        let abnormal = s1
            .iter()
            .find_map(|e| match &e.body {
                EventBody::Finding(f) if f.class == "abnormal_close" => Some(f.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(abnormal.frame_event_id, None);
        let backoff_id = s1
            .iter()
            .find(|e| matches!(&e.body, EventBody::Transition(t) if t.to == "Backoff"))
            .unwrap()
            .event_id;
        assert_eq!(abnormal.transition_event_id, Some(backoff_id));

        // Connection attempts: 1 reached Ready, 2 failed its handshake, 3
        // reached Ready and ended with the peer's close.
        type AttemptRow = (i64, Option<i64>, Option<i64>, Option<String>);
        let attempts: Vec<AttemptRow> = conn
            .prepare(
                "SELECT attempt, handshake_event_id, ready_event_id, end_cause FROM connection_attempts
                 WHERE session_id = ?1 AND socket_id = 1 ORDER BY id",
            )
            .unwrap()
            .query_map([s.tag.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        assert_eq!(attempts[0].0, 1);
        assert!(attempts[0].2.is_some());
        assert_eq!(attempts[0].3.as_deref(), Some("transport_ended"));
        assert_eq!((attempts[1].0, attempts[1].1, attempts[1].3.as_deref()), (2, None, Some("handshake_failed")));
        assert!(attempts[2].2.is_some());
        assert_eq!(attempts[2].3.as_deref(), Some("peer_close"));

        // The CLI views work.
        let n: i64 = conn
            .query_row("SELECT count(*) FROM v_transitions WHERE session_id = ?1", [s.tag.id], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3 * 11);
    })
    .await
}

/// The events a window query should return, from the generator.
fn expected_window(
    total: u64,
    sockets: u64,
    chosen: Option<&HashSet<u64>>,
    from: u64,
    to: u64,
) -> Vec<(u64, u64)> {
    burst(total, sockets)
        .filter(|e| chosen.is_none_or(|c| c.contains(&e.socket)))
        .filter(|e| e.mono.0 >= from && e.mono.0 < to)
        .map(|e| (e.socket, e.mono.0))
        .collect()
}

fn page_through(reader: &RecordReader, mut q: WindowQuery) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = reader.events(&q).unwrap();
        assert!(page.events.len() <= q.page_size);
        pages += 1;
        out.extend(page.events.iter().map(|e| (e.socket_id, e.mono_ns)));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
        assert!(pages < 10_000, "paging does not end");
    }
    out
}

#[tokio::test]
async fn window_queries_page_exactly_for_chosen_sockets() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (total, sockets) = (20_000u64, 40u64);
        let (_, report, _) = record(config(&path), burst(total, sockets)).await;
        let reader = RecordReader::open(&path).unwrap();
        let session_id = report.session.id;
        let (from, to) = (5_003u64, 15_011u64);

        // Few sockets (merged index ranges).
        let few: HashSet<u64> = [2, 5, 39].into_iter().collect();
        let q = WindowQuery {
            session_id,
            sockets: Some(few.iter().copied().collect()),
            from_mono_ns: from,
            to_mono_ns: to,
            page_size: 37,
            after: None,
            ids: None,
        };
        assert_eq!(
            page_through(&reader, q),
            expected_window(total, sockets, Some(&few), from, to)
        );

        // Many sockets (filtered scan).
        let many: HashSet<u64> = (1..=35).collect();
        let q = WindowQuery {
            session_id,
            sockets: Some(many.iter().copied().collect()),
            from_mono_ns: from,
            to_mono_ns: to,
            page_size: 1000,
            after: None,
            ids: None,
        };
        assert_eq!(
            page_through(&reader, q),
            expected_window(total, sockets, Some(&many), from, to)
        );

        // All sockets.
        let mut q = WindowQuery::whole_session(session_id, 999);
        q.from_mono_ns = from;
        q.to_mono_ns = to;
        assert_eq!(
            page_through(&reader, q),
            expected_window(total, sockets, None, from, to)
        );

        // Another session's events never show.
        let other = WindowQuery::whole_session(session_id + 1, 10);
        assert!(reader.events(&other).unwrap().events.is_empty());
    })
    .await
}

#[tokio::test]
async fn a_lone_event_is_committed_within_the_flush_interval_and_stop_drains() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (tx, rx) = mpsc::channel::<Arc<Event>>(64);
        let mut cfg = RecorderConfig::new(&path);
        cfg.flush_interval = Duration::from_millis(50);
        let (recorder, _) = Recorder::start(cfg, rx).unwrap();
        let mut written = recorder.watch_written();
        for e in burst(3, 1) {
            tx.send(Arc::new(e)).await.unwrap();
        }
        // Far fewer than a batch: only the timer can flush them.
        within(
            Duration::from_secs(2),
            "a timed flush",
            written.wait_for(|n| *n == 3),
        )
        .await
        .unwrap();
        for e in burst(10, 1).skip(3) {
            tx.send(Arc::new(e)).await.unwrap();
        }
        // The sender is still alive: stop must drain what is queued.
        let summary = recorder.stop().await.unwrap();
        assert_eq!((summary.received, summary.written), (10, 10));
        assert!(
            tx.send(Arc::new(burst(1, 1).next().unwrap()))
                .await
                .is_err(),
            "sends after stop fail"
        );
        let reader = RecordReader::open(&path).unwrap();
        assert_eq!(reader.sessions().unwrap()[0].event_count, 10);
    })
    .await
}

/// A page's bodies are read one query per kind; whatever kinds a page
/// mixes and wherever it is cut, every event reads back as it was written,
/// in order, for all sockets and for a chosen one.
#[tokio::test]
async fn pages_of_mixed_kinds_read_back_what_was_written() {
    bounded(async {
        let expected: Vec<EventRecord> = three_lives()
            .iter()
            .map(|e| comparable(EventRecord::from_event(e, Some(4096))))
            .collect();
        let kinds: HashSet<&str> = expected.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds.len(), 10, "every kind is in the session: {kinds:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (_, report, _) = record(config(&path), three_lives()).await;
        let reader = RecordReader::open(&path).unwrap();
        let read = |mut q: WindowQuery| {
            let mut got = Vec::new();
            loop {
                let page = reader.events(&q).unwrap();
                got.extend(page.events.into_iter().map(comparable));
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => return got,
                }
            }
        };
        for page_size in [1, 3, 7, 64, 100_000] {
            let q = WindowQuery::whole_session(report.session.id, page_size);
            assert_eq!(read(q), expected, "pages of {page_size}");
        }
        let mut q = WindowQuery::whole_session(report.session.id, 5);
        q.sockets = Some(vec![2]);
        let socket_2: Vec<EventRecord> = expected
            .iter()
            .filter(|e| e.socket_id == 2)
            .cloned()
            .collect();
        assert!(!socket_2.is_empty());
        assert_eq!(read(q), socket_2);
    })
    .await
}

/// An event whose detail row is missing is an error that names it, not a
/// page with a hole.
#[tokio::test]
async fn an_event_without_its_detail_row_is_a_clear_error() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (_, report, _) = record(config(&path), three_lives()).await;
        let conn = raw(&path);
        let gone: i64 = conn
            .query_row("SELECT min(event_id) FROM transitions", [], |r| r.get(0))
            .unwrap();
        conn.execute("DELETE FROM transitions WHERE event_id = ?1", [gone])
            .unwrap();
        let reader = RecordReader::open(&path).unwrap();
        let err = reader
            .events(&WindowQuery::whole_session(report.session.id, 100_000))
            .unwrap_err();
        assert!(
            matches!(&err, sockscope_recorder::Error::Malformed(m) if m.contains(&format!("event {gone} (transition)"))),
            "{err}"
        );
    })
    .await
}
