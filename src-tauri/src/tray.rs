//! The tray icon (overall progress) and OS notifications when a job
//! completes or fails. Both are best effort: a desktop without a tray host
//! or a notification daemon (Xvfb in CI) still runs the app.

use std::collections::HashSet;
use std::time::Duration;

use sockscope_core::Session;
use sockscope_core::session::SocketView;
use sockscope_engine::State;
use sockscope_engine::event::{ClosedReason, EventKind, FailedReason};
use sockscope_recorder::redact;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// The tray's line: sockets ready and overall progress of the jobs.
pub fn summary(sockets: &[SocketView]) -> String {
    let ready = sockets
        .iter()
        .filter(|s| matches!(s.state, State::Ready { .. }))
        .count();
    let ended = sockets.iter().filter(|s| s.state.is_terminal()).count();
    let (done, total) = sockets
        .iter()
        .filter_map(|s| s.progress.as_ref())
        .fold((0u64, 0u64), |(d, t), p| {
            (d + p.processed.min(p.total), t + p.total)
        });
    let pct = (done * 100)
        .checked_div(total)
        .map(|p| format!(" · {p}%"))
        .unwrap_or_default();
    format!(
        "sockscope: {ready}/{} ready, {ended} ended{pct}",
        sockets.len()
    )
}

/// What a terminal transition means to a person, for jobs only: the
/// notification's title and body, scrubbed (the failure code is the
/// server's text and may quote a secret).
pub fn job_outcome(name: &str, to: &State) -> Option<(String, String)> {
    let (title, body) = outcome_text(name, to)?;
    Some((redact::free_text(&title), redact::free_text(&body)))
}

fn outcome_text(name: &str, to: &State) -> Option<(String, String)> {
    match to {
        State::Closed {
            reason: ClosedReason::JobFinished,
        } => Some((format!("{name}: job complete"), "The job finished.".into())),
        State::Closed {
            reason: ClosedReason::JobFailed { code, retryable },
        } => Some((
            format!("{name}: job failed"),
            format!(
                "The server reported {code}{}.",
                if *retryable { " (retryable)" } else { "" }
            ),
        )),
        State::Failed { reason } => Some((
            format!("{name}: socket failed"),
            match reason {
                FailedReason::ReconnectExhausted { attempts } => {
                    format!("Gave up after {attempts} reconnects.")
                }
                FailedReason::Unauthorized => "The token was refused.".into(),
                FailedReason::JobUnknown => "The server does not know the job.".into(),
                FailedReason::TokenUnavailable => "No token could be read.".into(),
            },
        )),
        _ => None,
    }
}

/// Job notifications shown at once within one [`NOTIFY_WINDOW`]; the
/// window's others are told together at its end (the endless demo ends a
/// job every few seconds).
pub const NOTIFY_BURST: usize = 3;
/// See [`NOTIFY_BURST`].
pub const NOTIFY_WINDOW: Duration = Duration::from_secs(60);

/// Keeps job notifications to a few a minute: the first [`NOTIFY_BURST`]
/// of a window show at once, the rest are held and shown as one at the
/// window's end.
#[derive(Debug, Default)]
pub struct NotifyBudget {
    window: Option<Instant>,
    shown: usize,
    /// How many are held, and how many of those did not complete.
    held: usize,
    held_failed: usize,
    /// The first held ones' socket names, in order (the summary names
    /// [`NOTIFY_BURST`] of them).
    held_names: Vec<String>,
}

impl NotifyBudget {
    /// A job's notification to show now, or `None` when it is held.
    /// `completed`: the job finished, rather than failed or gave up.
    pub fn offer(
        &mut self,
        now: Instant,
        name: &str,
        completed: bool,
        note: (String, String),
    ) -> Option<(String, String)> {
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= NOTIFY_WINDOW)
            && self.held == 0
        {
            self.window = Some(now);
            self.shown = 0;
        }
        if self.shown < NOTIFY_BURST {
            self.shown += 1;
            return Some(note);
        }
        self.held += 1;
        self.held_failed += usize::from(!completed);
        if self.held_names.len() < NOTIFY_BURST {
            self.held_names.push(name.to_owned());
        }
        None
    }

    /// The held notifications as one, once their window is over.
    pub fn due(&mut self, now: Instant) -> Option<(String, String)> {
        let start = self.window?;
        if self.held == 0 || now.duration_since(start) < NOTIFY_WINDOW {
            return None;
        }
        let (held, failed) = (self.held, self.held_failed);
        let names = std::mem::take(&mut self.held_names);
        (self.held, self.held_failed) = (0, 0);
        self.window = Some(now);
        self.shown = 0;
        let title = format!(
            "sockscope: {held} more job{} ended",
            if held == 1 { "" } else { "s" }
        );
        let more = held - names.len();
        let body = format!(
            "{}{}{}.",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            if failed > 0 {
                format!("; {failed} did not complete")
            } else {
                String::new()
            },
        );
        Some((title, redact::free_text(&body)))
    }
}

/// Builds the tray icon; `None` when the desktop has no tray.
pub fn build(app: &AppHandle) -> Option<TrayIcon> {
    let show = MenuItem::with_id(app, "show", "Show sockscope", true, None::<&str>).ok()?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>).ok()?;
    let menu = Menu::with_items(app, &[&show, &quit]).ok()?;
    let mut builder = TrayIconBuilder::with_id("main")
        .tooltip("sockscope")
        .menu(&menu)
        .on_menu_event(|app, ev| match ev.id().as_ref() {
            "show" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.show();
                    let _ = w.set_focus();
                }
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    match builder.build(app) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("no tray icon: {e}");
            None
        }
    }
}

/// Keeps the tray line current and notifies on job ends, until the
/// session's events stop.
pub async fn watch(app: AppHandle, session: Session, tray: Option<TrayIcon>) {
    let mut rx = session.subscribe();
    let mut notified: HashSet<u64> = HashSet::new();
    let mut budget = NotifyBudget::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last = String::new();
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    if let EventKind::RecordingFailed { reason } = &ev.kind {
                        notify(&app, "sockscope: recording failed", &redact::free_text(reason));
                        continue;
                    }
                    let EventKind::Transition { to, .. } = &ev.kind else {
                        continue;
                    };
                    if !to.is_terminal() {
                        // A retried socket may end again, and say so again.
                        notified.remove(&ev.socket);
                    } else if notified.insert(ev.socket) {
                        let name = session
                            .sockets()
                            .into_iter()
                            .find(|s| s.id == ev.socket)
                            .map_or_else(|| format!("socket {}", ev.socket), |s| s.name);
                        let completed = matches!(
                            to,
                            State::Closed { reason: ClosedReason::JobFinished }
                        );
                        if let Some(note) = job_outcome(&name, to)
                            && let Some((title, body)) =
                                budget.offer(Instant::now(), &name, completed, note)
                        {
                            notify(&app, &title, &body);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                if let Some((title, body)) = budget.due(Instant::now()) {
                    notify(&app, &title, &body);
                }
                let line = summary(&session.sockets());
                if line != last {
                    if let Some(t) = &tray {
                        let _ = t.set_tooltip(Some(&line));
                        let _ = t.set_title(Some(&line));
                    }
                    last = line;
                }
            }
        }
    }
}

/// Shows an OS notification, best effort.
fn notify(app: &AppHandle, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::info!("notification not shown ({e}): {title}");
    }
}

#[cfg(test)]
mod tests {
    use sockscope_engine::AdapterKind;
    use sockscope_engine::event::{Progress, ProgressSource};

    use super::*;

    fn socket(id: u64, state: State, processed: u64, total: u64) -> SocketView {
        SocketView {
            id,
            name: format!("s{id}"),
            adapter: AdapterKind::Job,
            job_id: None,
            state,
            attempts: 1,
            progress: Some(Progress {
                processed,
                total,
                status: None,
                source: ProgressSource::Event,
            }),
            last_rtt: None,
            findings: 0,
            final_count: sockscope_engine::FinalCount::Pending,
        }
    }

    #[test]
    fn the_tray_line_counts_ready_and_ended_sockets_and_overall_progress() {
        let sockets = [
            socket(1, State::Ready { attempt: 1 }, 30, 100),
            socket(
                2,
                State::Closed {
                    reason: ClosedReason::JobFinished,
                },
                100,
                100,
            ),
            socket(
                3,
                State::Backoff {
                    attempt: 1,
                    until: Default::default(),
                },
                0,
                0,
            ),
        ];
        assert_eq!(summary(&sockets), "sockscope: 1/3 ready, 1 ended · 65%");
        assert_eq!(summary(&[]), "sockscope: 0/0 ready, 0 ended");
    }

    #[test]
    fn only_a_job_s_end_is_worth_a_notification() {
        let done = State::Closed {
            reason: ClosedReason::JobFinished,
        };
        assert_eq!(job_outcome("csv", &done).unwrap().0, "csv: job complete");
        let failed = State::Closed {
            reason: ClosedReason::JobFailed {
                code: "bad_row".into(),
                retryable: true,
            },
        };
        let (title, body) = job_outcome("csv", &failed).unwrap();
        assert_eq!(title, "csv: job failed");
        assert!(
            body.contains("bad_row") && body.contains("retryable"),
            "{body}"
        );
        let gave_up = State::Failed {
            reason: FailedReason::ReconnectExhausted { attempts: 5 },
        };
        assert!(
            job_outcome("csv", &gave_up)
                .unwrap()
                .1
                .contains("5 reconnects")
        );
        assert_eq!(job_outcome("csv", &State::Ready { attempt: 1 }), None);
        assert_eq!(job_outcome("csv", &State::Cancelled), None);
    }

    #[test]
    fn a_burst_of_job_ends_is_told_as_one_after_the_first_few() {
        let t0 = Instant::now();
        let mut b = NotifyBudget::default();
        let mut shown = Vec::new();
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let completed = i != 4;
            let title = format!(
                "{name}: job {}",
                if completed { "complete" } else { "failed" }
            );
            let at = t0 + Duration::from_secs(i as u64);
            if let Some(n) = b.offer(at, name, completed, (title, "x".into())) {
                shown.push(n.0);
            }
        }
        assert_eq!(
            shown,
            ["a: job complete", "b: job complete", "c: job complete"]
        );
        assert_eq!(b.due(t0 + Duration::from_secs(30)), None);
        let (title, body) = b.due(t0 + NOTIFY_WINDOW).unwrap();
        assert_eq!(title, "sockscope: 2 more jobs ended");
        assert_eq!(body, "d, e; 1 did not complete.");
        assert_eq!(b.due(t0 + NOTIFY_WINDOW * 2), None);
        // A quiet while later, the next ones show at once again.
        let later = t0 + NOTIFY_WINDOW * 3;
        assert!(
            b.offer(later, "f", true, ("f: job complete".into(), "x".into()))
                .is_some()
        );
    }

    #[test]
    fn a_notification_never_shows_a_secret_the_server_quoted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2IifQ.c2lnbmF0dXJlLWJ5dGVz";
        let token = "notification-token-7f3a";
        sockscope_engine::secret::remember(token);
        for code in [
            jwt.to_owned(),
            format!("bad token {token}"),
            "see https://admin:hunter2x@logs.example/x".to_owned(),
        ] {
            let failed = State::Closed {
                reason: ClosedReason::JobFailed {
                    code: code.clone(),
                    retryable: false,
                },
            };
            let (title, body) = job_outcome(token, &failed).unwrap();
            for secret in [jwt, token, "hunter2x"] {
                assert!(
                    !title.contains(secret) && !body.contains(secret),
                    "{title} / {body}"
                );
            }
            assert!(body.contains("[REDACTED]"), "{body}");
        }
    }
}
