//! How `watch` and `demo` end when something outside the sockets ends
//! them: a signal, a full or read-only disk, an unreachable collector.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use sockscope_recorder::{EventBody, RecordReader, WindowQuery};
use sockscope_sim::{CreateJobResponse, Faults, JobKind, Sim, SimConfig};
use sockscope_test_support::tmpfs::SmallFs;
use sockscope_test_support::{bounded, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A running `sockscope`, its output lines as they come.
struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<(Stream, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

impl Running {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Running {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary runs");
        let (tx, lines) = mpsc::unbounded_channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for (stream, pipe) in [
            (
                Stream::Out,
                Box::new(out) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            ),
            (Stream::Err, Box::new(err)),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send((stream, line));
                }
            });
        }
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn keep(&mut self, stream: Stream, line: String) {
        match stream {
            Stream::Out => self.stdout.push(line),
            Stream::Err => self.stderr.push(line),
        }
    }

    /// Waits for a line of `stream` that `pred` accepts, unless one came
    /// already.
    async fn line(&mut self, stream: Stream, what: &str, pred: impl Fn(&str) -> bool) {
        self.lines_seen(stream, what, 1, pred).await;
    }

    /// Waits until `n` lines of `stream` that `pred` accepts have come.
    async fn lines_seen(
        &mut self,
        stream: Stream,
        what: &str,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) {
        let count = |run: &Running| {
            let seen = match stream {
                Stream::Out => &run.stdout,
                Stream::Err => &run.stderr,
            };
            seen.iter().filter(|l| pred(l)).count()
        };
        within(WAIT, what, async {
            while count(self) < n {
                let Some((s, line)) = self.lines.recv().await else {
                    return;
                };
                self.keep(s, line);
            }
        })
        .await;
        assert!(
            count(self) >= n,
            "the output ended before {what}:\n{}\n{}",
            self.stdout.join("\n"),
            self.stderr.join("\n")
        );
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let ok = std::process::Command::new("kill")
            .args([format!("-{name}"), pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name}");
    }

    /// Waits for the exit and the rest of the output.
    async fn exit(mut self) -> (ExitStatus, String, String) {
        let status = within(WAIT, "sockscope to exit", self.child.wait())
            .await
            .unwrap();
        within(WAIT, "the output to end", async {
            while let Some((s, line)) = self.lines.recv().await {
                self.keep(s, line);
            }
        })
        .await;
        (status, self.stdout.join("\n"), self.stderr.join("\n"))
    }
}

fn job(sim: &Sim, items: u64, interval_ms: u64) -> CreateJobResponse {
    let faults = Faults {
        interval_ms: Some(interval_ms),
        ..Faults::default()
    };
    sim.create_job(JobKind::CsvImport, items, faults).unwrap()
}

fn watch_args<'a>(job: &'a CreateJobResponse, db: &'a Path) -> Vec<&'a str> {
    vec![
        "watch",
        "--url",
        &job.ws_url,
        "--token-env",
        "JOB_TOKEN",
        "--json",
        "--db",
        db.to_str().unwrap(),
    ]
}

/// The highest progress count among `watch --json`'s lines.
fn last_progress_printed(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["body"]["kind"] == "progress")
        .filter_map(|v| v["body"]["processed"].as_u64())
        .max()
        .unwrap_or(0)
}

/// The session's end state, its highest progress count, and the states
/// its sockets' last transitions went to.
fn recorded(db: &Path) -> (String, u64, Vec<String>) {
    let reader = RecordReader::open(db).unwrap();
    let session = reader.sessions().unwrap().pop().expect("a session");
    let events = reader
        .events(&WindowQuery::whole_session(session.tag.id, 1_000_000))
        .unwrap()
        .events;
    let progress = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Progress(p) => Some(p.processed),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut last = std::collections::BTreeMap::new();
    for e in &events {
        if let EventBody::Transition(t) = &e.body {
            last.insert(e.socket_id, t.to.clone());
        }
    }
    (session.end_state, progress, last.into_values().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_to_watch_ends_the_session_clean_with_its_last_events_and_exit_130() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let job = job(&sim, 100_000, 10);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("int.db");
        let mut run = Running::start(&watch_args(&job, &db), &[("JOB_TOKEN", &job.token)]);
        run.line(Stream::Err, "the sockets running", |l| {
            l.contains("sockets running")
        })
        .await;
        run.line(Stream::Out, "progress past 3", |l| {
            last_progress_printed(l) >= 3
        })
        .await;
        run.signal("INT");
        let (status, stdout, stderr) = run.exit().await;
        assert_eq!(status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("stopped by SIGINT"), "{stderr}");
        let (end_state, progress, last) = recorded(&db);
        assert_eq!(end_state, "clean");
        assert_eq!(last, ["Cancelled"], "the cancel is the last event recorded");
        let printed = last_progress_printed(&stdout);
        assert!(
            printed > 0 && progress >= printed,
            "printed {printed}, recorded {progress}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_demo_ends_the_session_clean_and_exits_143() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("term.db");
        let args = ["demo", "--items", "100000", "--interval-ms", "10", "--db"];
        let mut run = Running::start(
            &args
                .iter()
                .copied()
                .chain([db.to_str().unwrap()])
                .collect::<Vec<_>>(),
            &[],
        );
        run.line(Stream::Out, "a socket Ready", |l| l.contains("-> Ready"))
            .await;
        run.signal("TERM");
        let (status, stdout, _) = run.exit().await;
        assert_eq!(status.code(), Some(143), "{stdout}");
        assert!(stdout.contains("stopped by SIGTERM"), "{stdout}");
        let (end_state, _, last) = recorded(&db);
        assert_eq!(end_state, "clean");
        assert_eq!(last, ["Cancelled"; 3], "{stdout}");
    })
    .await;
}

/// `demo --endless` goes on past the three opening jobs (a fourth and a
/// fifth job arrive after they finished) until SIGTERM ends it clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endless_demo_goes_on_after_its_jobs_until_sigterm() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("endless.db");
        let args = ["demo", "--endless", "--items", "20", "--interval-ms", "10"];
        let mut run = Running::start(
            &args
                .iter()
                .copied()
                .chain(["--db", db.to_str().unwrap()])
                .collect::<Vec<_>>(),
            &[],
        );
        run.lines_seen(Stream::Out, "the opening jobs to finish", 3, |l| {
            l.contains("-> Closed (job finished)")
        })
        .await;
        // The long import starts at once; the first short job a tick (5 s) later.
        run.line(Stream::Out, "the endless demo's first short job", |l| {
            l.contains("#5 ")
        })
        .await;
        assert!(!run.stdout.iter().any(|l| l.starts_with("demo done")));
        run.signal("TERM");
        let (status, stdout, _) = run.exit().await;
        assert_eq!(status.code(), Some(143), "{stdout}");
        assert!(stdout.contains("stopped by SIGTERM"), "{stdout}");
        assert!(stdout.contains("demo done:"), "{stdout}");
        let (end_state, _, _) = recorded(&db);
        assert_eq!(end_state, "clean");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_is_warned_once_counted_at_the_end_and_does_not_fail_watch() {
    bounded(async {
        // A port nothing listens on: bound, then let go.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        // Long enough (4 s) that the first failed export comes while it runs.
        let job = job(&sim, 40, 100);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("otlp.db");
        let mut args = watch_args(&job, &db);
        args.push("--otlp");
        let envs = [
            ("JOB_TOKEN", job.token.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let mut run = Running::start(&args, &envs);
        // Warned while the job still runs, not only at the end.
        run.line(Stream::Err, "the export warning", |l| {
            l.contains("OTLP export failed")
        })
        .await;
        let (status, stdout, stderr) = run.exit().await;
        assert!(status.success(), "{stderr}");
        assert!(stdout.contains(r#""to":"Closed""#), "the job ran on");
        let warning = stderr
            .lines()
            .find(|l| l.contains("OTLP export failed: "))
            .unwrap();
        let error = warning["warning: OTLP export failed: ".len()..]
            .split(". The session")
            .next()
            .unwrap();
        assert!(!error.is_empty(), "{warning}");
        assert_eq!(stderr.matches(error).count(), 1, "said once:\n{stderr}");
        let tail = stderr
            .lines()
            .find(|l| l.contains("spans were not delivered"))
            .unwrap_or_else(|| panic!("no count of lost spans:\n{stderr}"));
        assert!(tail.starts_with("OTLP: "), "{tail}");
        assert!(
            stderr.contains("the session is safe in")
                && stderr.contains("sockscope export --session"),
            "{stderr}"
        );
        // The command it names works.
        let id = RecordReader::open(&db).unwrap().sessions().unwrap()[0]
            .tag
            .id;
        let out = dir.path().join("later.json");
        let export = crate::sockscope(
            &[
                "export",
                "--session",
                &id.to_string(),
                "--format",
                "otlp",
                "-o",
                out.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
            ],
            &[],
        )
        .await;
        assert!(export.status.success(), "{export:?}");
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("resourceSpans")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_recording_visibly_and_watch_exits_non_zero() {
    let Some(fs) = SmallFs::mount("2m", "a_full_disk_fails_the_recording") else {
        return;
    };
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        // Runs well past the writer's retries (about 5 s) so the failure
        // is seen while sockets run, then completes.
        let job = job(&sim, 320, 25);
        let db = fs.path().join("full.db");
        let mut run = Running::start(&watch_args(&job, &db), &[("JOB_TOKEN", &job.token)]);
        run.line(Stream::Out, "progress", |l| {
            l.contains(r#""kind":"progress""#)
        })
        .await;
        assert!(fs.fill() > 0);
        // Every consumer hears it: the live events (the engine-wide event)
        // and the person (stderr).
        run.line(Stream::Out, "the recording_failed event", |l| {
            l.contains(r#""change":"recording_failed""#)
        })
        .await;
        run.line(Stream::Err, "the failure on stderr", |l| {
            l.contains("recording failed")
        })
        .await;
        let (status, stdout, stderr) = run.exit().await;
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stdout.contains(r#""to":"Closed""#), "the socket went on");
        assert!(
            stderr.contains("0 did not complete"),
            "the job itself succeeded: {stderr}"
        );
        let failed = stderr
            .lines()
            .find(|l| l.starts_with("RECORDING FAILED"))
            .unwrap_or_else(|| panic!("no failure in the summary:\n{stderr}"));
        assert!(failed.contains("full"), "{failed}");
        assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_is_refused_at_start_naming_the_file() {
    let Some(fs) = SmallFs::mount("1m", "a_read_only_database_is_refused") else {
        return;
    };
    let db = fs.path().join("ro.db");
    std::fs::write(&db, b"").unwrap();
    fs.remount_read_only();
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let job = job(&sim, 5, 5);
        let out = crate::sockscope(&watch_args(&job, &db), &[("JOB_TOKEN", &job.token)]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("read-only") && stderr.contains(&db.display().to_string()),
            "{stderr}"
        );
        assert!(
            !stderr.contains("sockets running"),
            "refused before any socket: {stderr}"
        );
    })
    .await;
}
