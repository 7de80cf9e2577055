//! History then live: readers that join a busy session at any moment get
//! every event of it exactly once, from the recorder's pages and the live
//! subscription, checked against the SQLite file once the session is over.

use std::collections::BTreeMap;
use std::time::Duration;

use sockscope_core::history::{CatchUp, Live};
use sockscope_core::{Session, SessionOptions};
use sockscope_recorder::{EventRecord, RecordReader};
use sockscope_test_support::{bounded, within};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;

/// Readers that join the session, one after every this many live events.
const JOIN_EVERY: u64 = 1_500;
const READERS: u64 = 4;
/// Events the slow reader lets pass: more than the live ring holds (8192).
const STALL: u64 = 12_000;

/// What a reader got, per socket, in order, as compared.
type Seen = BTreeMap<u64, Vec<EventRecord>>;

/// Joins the session now: the history in small pages, then live events
/// until `done`, then whatever the live ring still holds. A reader given
/// `stall` stops after its first page until that many more events were
/// published, so the live ring passes it by.
async fn reader(
    session: Session,
    mut done: watch::Receiver<bool>,
    stall: Option<(watch::Receiver<u64>, u64)>,
) -> (Seen, u32) {
    let mut seen = Seen::new();
    let mut keep = |r: EventRecord| seen.entry(r.socket_id).or_default().push(r.content());
    let mut history = CatchUp::start(&session, 300)
        .await
        .expect("catch-up starts");
    if let Some((mut published, more)) = stall {
        let from = *published.borrow();
        let passed = published.wait_for(|n| *n >= from + more);
        within(
            Duration::from_secs(30),
            "the live ring to pass the reader by",
            passed,
        )
        .await
        .expect("the pacer goes on");
    }
    loop {
        while let Some(page) = history.next_page().expect("a page") {
            page.into_iter().for_each(&mut keep);
        }
        if !history.next_round().await.expect("a round") {
            break;
        }
    }
    let rounds = history.rounds();
    let Live {
        mut events,
        mut cutoff,
        first,
        missed,
    } = history.into_live();
    assert_eq!(missed, 0, "the reader kept up");
    let mut live = |ev: &sockscope_engine::Event| {
        if cutoff.admits(ev) {
            keep(EventRecord::from_event(ev, None));
        }
    };
    if let Some(ev) = first {
        live(&ev);
    }
    loop {
        tokio::select! {
            r = events.recv() => match r {
                Ok(ev) => live(&ev),
                Err(RecvError::Lagged(n)) => panic!("the reader lagged by {n}"),
                Err(RecvError::Closed) => break,
            },
            // Done: take what the ring still holds, then stop. Only this
            // branch may stop the reader; one that stopped after any
            // event once `done` was set would leave the rest unread.
            _ = done.changed() => {
                loop {
                    match events.try_recv() {
                        Ok(ev) => live(&ev),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        Err(TryRecvError::Lagged(n)) => panic!("the reader lagged by {n}"),
                    }
                }
                break;
            }
        }
    }
    (seen, rounds)
}

/// The demo's three sockets at one item per millisecond: drops, resumes,
/// a restart and state syncs against the simulator, thousands of events a
/// second. Readers join while events are published and not yet committed
/// (the recorder commits every 50 ms), the moment a history read alone
/// would miss; one of them is so slow that the live ring passes it by.
#[tokio::test]
async fn readers_joining_a_busy_session_get_every_event_exactly_once() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("busy.db");
        let session = Session::start(SessionOptions {
            db_path: Some(db.clone()),
            demo: true,
            demo_items: Some(4_000),
            demo_interval_ms: Some(1),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let session_id = session.session_id();
        let (done_tx, done) = watch::channel(false);
        let mut pace = session.subscribe();
        let mut readers = Vec::new();
        let mut published = 0u64;
        let (counted, counts) = watch::channel(0u64);
        {
            let ended = session.wait_all_ended();
            tokio::pin!(ended);
            within(Duration::from_secs(60), "the demo jobs to end", async {
                loop {
                    tokio::select! {
                        r = &mut ended => break r.unwrap(),
                        r = pace.recv() => {
                            published += match r {
                                Ok(_) => 1,
                                Err(RecvError::Lagged(n)) => n,
                                Err(RecvError::Closed) => panic!("the engine went away"),
                            };
                            counted.send_replace(published);
                            let due = (readers.len() as u64) < READERS
                                && published >= JOIN_EVERY * (readers.len() as u64 + 1);
                            if due {
                                // The first reader is the slow one.
                                let stall = readers.is_empty().then(|| (counts.clone(), STALL));
                                readers.push(tokio::spawn(reader(session.clone(), done.clone(), stall)));
                            }
                        }
                    }
                }
            })
            .await;
        }
        assert_eq!(readers.len() as u64, READERS, "{published} events were too few to join {READERS} times");
        // Every event is published: the sockets have settled and nothing
        // else runs. The readers take what the live ring still holds.
        done_tx.send(true).unwrap();
        let mut got = Vec::new();
        for r in readers {
            got.push(within(Duration::from_secs(20), "a reader", r).await.unwrap());
        }
        let written = within(Duration::from_secs(20), "the session to stop", session.stop())
            .await
            .unwrap();

        let reader = RecordReader::open(&db).unwrap();
        let mut want = Seen::new();
        reader
            .for_each_event(session_id, |r| {
                want.entry(r.socket_id).or_default().push(r.content());
                Ok(())
            })
            .unwrap();
        assert_eq!(want.values().map(Vec::len).sum::<usize>() as u64, written.written);
        assert!(got[0].1 > 1, "the slow reader needed more than one round");
        for (i, (seen, rounds)) in got.iter().enumerate() {
            for (socket, events) in &want {
                let had = seen.get(socket).map_or(&[][..], Vec::as_slice);
                if had != events.as_slice() {
                    let first_difference = had.iter().zip(events).position(|(a, b)| a != b);
                    panic!(
                        "reader {i} ({rounds} rounds), socket {socket}: got {} events, the file holds {}; first difference at {first_difference:?}",
                        had.len(),
                        events.len()
                    );
                }
            }
            assert_eq!(seen.len(), want.len(), "reader {i}: no socket the file lacks");
        }
    })
    .await
}
