//! The secrets corpus: plant every kind of secret the issue names, run the
//! real `sockscope watch` at `RUST_LOG=trace` with live OTLP to a real
//! receiver and a real SQLite file, then look for each one everywhere the
//! text goes: the database and its WAL, every export, the OTLP payloads,
//! stdout and stderr.

use sockscope_recorder::RecordReader;
use sockscope_sim::{Faults, JobKind, Sim, SimConfig};
use sockscope_test_support::bounded;
use sockscope_test_support::otlp::{Rotel, on_rotel};

use crate::sockscope as run;

/// `sockscope` at `RUST_LOG=trace`.
async fn sockscope(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut envs = envs.to_vec();
    envs.push(("RUST_LOG", "trace"));
    run(args, &envs).await
}

/// A bare JWT the server quotes in `job_failed` and `resync_required`.
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb3JwdXMtam9iIn0.Y29ycHVzLXNpZ25hdHVyZS1ieXRlcw";
/// A password in a URL's userinfo, quoted by the server.
const USERINFO: &str = "userinfo-pw-5150";
/// A value a serde error would quote (a token pasted into the wrong field).
const SERDE: &str = "serde-quoted-value-8086";
/// A password in the userinfo of a `--url`.
const URL_USERINFO: &str = "cli-userinfo-pw-2112";

fn assert_clean(place: &str, hay: &[u8], secrets: &[&str]) {
    let hay = String::from_utf8_lossy(hay);
    for s in secrets {
        assert!(!hay.contains(s), "`{s}` leaked into {place}:\n{hay}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_the_database_an_export_otlp_or_the_terminal() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let quoting = |extra: Faults| Faults {
            interval_ms: Some(20),
            fail_after: extra.fail_after.or(Some(8)),
            fail_message: Some(format!(
                "token {{token}} refused; see https://admin:{USERINFO}@logs.example/x and {JWT}"
            )),
            ..extra
        };
        // The env socket drops once, is back 100 ms later (while the job
        // runs on), finds no history, and is told to resync with a reason
        // that quotes the JWT; it is back in time for the job_failed.
        let env_job = sim
            .create_job(
                JobKind::CsvImport,
                50,
                quoting(Faults {
                    drop_after: Some(3),
                    fail_after: Some(40),
                    history: Some(0),
                    resync_reason: Some(format!("history gone; your session was {JWT}")),
                    ..Faults::default()
                }),
            )
            .unwrap();
        // The URL socket's token sits in its URL's query.
        let url_job = sim
            .create_job(JobKind::Enrichment, 10, quoting(Faults::default()))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sockets.toml");
        std::fs::write(
            &config,
            format!(
                "[[socket]]\nname = \"envsock\"\nurl = \"{}\"\ntoken = {{ env = \"CORPUS_TOKEN\" }}\n\
                 reconnect = {{ base_ms = 100, cap_ms = 100, jitter = false }}\n\n\
                 [[socket]]\nname = \"urlsock\"\nurl = \"{}&access_token={}\"\ntoken_placement = \"header\"\n",
                env_job.ws_url, url_job.ws_url, url_job.token
            ),
        )
        .unwrap();
        let db = dir.path().join("corpus.db");
        // The database exists and a reader holds it open, so the WAL the run
        // writes is still there when it ends (the last connection to close
        // would fold it into the file and delete it).
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let first = sockscope(&["watch", "--config", empty.to_str().unwrap(), "--db", db.to_str().unwrap()], &[]).await;
        assert!(String::from_utf8_lossy(&first.stderr).contains("no sockets"));
        let holder = RecordReader::open(&db).unwrap();
        holder.sessions().unwrap();
        let rotel = tokio::task::spawn_blocking(Rotel::start).await.unwrap();
        let endpoint = format!("http://{}", rotel.http);
        let secrets = [
            env_job.token.as_str(),
            url_job.token.as_str(),
            JWT,
            USERINFO,
            SERDE,
            URL_USERINFO,
        ];

        let out = sockscope(
            &[
                "watch",
                "--config",
                config.to_str().unwrap(),
                "--otlp",
                "--db",
                db.to_str().unwrap(),
            ],
            &[
                ("CORPUS_TOKEN", env_job.token.as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // The run did what was planted: both jobs failed, quoting.
        assert_clean("stdout", stdout.as_bytes(), &secrets);
        assert_clean("stderr", stderr.as_bytes(), &secrets);
        assert_eq!(stdout.matches("job failed: ").count(), 2, "{stdout}");
        assert!(stdout.contains("resync_required"), "{stdout}");
        // Each planted secret was quoted, and replaced where it stood.
        let quoted = "token [REDACTED] refused; see https://[REDACTED]@logs.example/x and [REDACTED]";
        assert_eq!(stdout.matches(quoted).count(), 2, "{stdout}");
        assert!(
            stdout.contains("history gone; your session was [REDACTED]"),
            "{stdout}"
        );
        assert_eq!(
            stderr.matches("the URL held a token in `access_token=`").count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains("TRACE") || stderr.contains("DEBUG"), "logs at trace: {stderr}");

        let session = stderr
            .lines()
            .find_map(|l| l.strip_prefix("session ")?.split(':').next()?.parse::<i64>().ok())
            .expect("the summary names the session");
        let wal = std::fs::read(dir.path().join("corpus.db-wal")).expect("the WAL is kept");
        assert!(String::from_utf8_lossy(&wal).contains("[REDACTED]"), "the WAL holds the run");
        assert_clean("the WAL", &wal, &secrets);
        drop(holder);
        // The rows are still in the WAL; the file holds the schema and
        // the first run's session.
        assert_clean("the database", &std::fs::read(&db).unwrap(), &secrets);

        for format in sockscope_recorder::export::Format::ALL.iter().map(|f| f.name()) {
            let file = dir.path().join(format!("export.{format}"));
            let out = sockscope(
                &[
                    "export",
                    "--session",
                    &session.to_string(),
                    "--format",
                    format,
                    "-o",
                    file.to_str().unwrap(),
                    "--db",
                    db.to_str().unwrap(),
                ],
                &[],
            )
            .await;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.is_empty());
            assert_clean(&format!("the {format} export"), &bytes, &secrets);
            assert_clean("export's output", &[out.stdout, out.stderr].concat(), &secrets);
        }
        for json in [true, false] {
            let session = session.to_string();
            let mut args = vec!["events", "--session", &session, "--db", db.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let out = sockscope(&args, &[]).await;
            assert!(out.status.success());
            assert!(String::from_utf8_lossy(&out.stdout).contains("resync_required"));
            assert_clean("the events listing", &[out.stdout, out.stderr].concat(), &secrets);
        }

        let (rotel, ()) = on_rotel(rotel, |r| r.wait_for_everything()).await;
        let received = rotel.text();
        assert!(received.contains("sockscope.finding.detail"), "the spans arrived: {received}");
        assert_clean("the OTLP payloads", received.as_bytes(), &secrets);

        // A serde error quoting a value, and a URL with userinfo: refused,
        // each said once, neither echoed.
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            format!("[[socket]]\nurl = \"ws://127.0.0.1:1/ws?jobId=j\"\n[socket.reconnect]\nbase_ms = \"{SERDE}\"\n"),
        )
        .unwrap();
        let other_db = dir.path().join("other.db");
        let url = format!("ws://admin:{URL_USERINFO}@127.0.0.1:1/ws?jobId=j");
        for args in [
            vec!["watch", "--config", bad.to_str().unwrap()],
            vec!["watch", "--url", url.as_str()],
        ] {
            let mut args = args;
            args.extend(["--db", other_db.to_str().unwrap()]);
            let out = sockscope(&args, &[]).await;
            assert!(!out.status.success());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("invalid type") || stderr.contains("credentials"), "{stderr}");
            assert_clean("a refusal", &[out.stdout, out.stderr].concat(), &secrets);
        }
        // A last writer folds the WAL into the file as it closes: a short
        // clean run on the same database.
        let last = sim
            .create_job(JobKind::CsvImport, 2, Faults { interval_ms: Some(5), ..Faults::default() })
            .unwrap();
        let out = sockscope(
            &["watch", "--url", &last.ws_url, "--token-env", "LAST", "--db", db.to_str().unwrap()],
            &[("LAST", last.token.as_str())],
        )
        .await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!dir.path().join("corpus.db-wal").exists(), "the WAL was folded in");
        let file = std::fs::read(&db).unwrap();
        assert!(String::from_utf8_lossy(&file).contains("[REDACTED]"), "the rows reached the file");
        assert_clean("the database after a checkpoint", &file, &secrets);
        sim.shutdown().await;
    })
    .await;
}
