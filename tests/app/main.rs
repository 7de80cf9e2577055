//! End-to-end tests of the real app: the built binary in a window under
//! Xvfb (or the desktop's display), driven through tauri-driver and
//! WebKitWebDriver. Each step saves a screenshot into `ci-artifacts/`.
//! The app runs on a private session bus where the test is the desktop's
//! notification daemon and tray host (`desktop.rs`).
//!
//! Skips itself, saying so, only when there is neither a display nor Xvfb.

mod desktop;
mod harness;

use std::time::Duration;

use fantoccini::Locator;
use harness::{App, Outcome};
use sockscope_recorder::record::TransitionRecord;
use sockscope_test_support::otlp::{Rotel, parse_spans, span_line};
use sockscope_test_support::reference::ReferenceServer;

/// One app for all steps: starting WebKit costs seconds, and the steps
/// follow what a new user does in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_walked_through_every_view() {
    let app = match App::start().await {
        Outcome::Ready(app) => app,
        Outcome::Skip(why) => {
            eprintln!("e2e skipped: {why}");
            return;
        }
    };
    // A WebDriver call that never answers must not hang CI.
    let result = tokio::time::timeout(Duration::from_secs(360), steps(&app)).await;
    if result.is_err() {
        let _ = app.screenshot_x11("timeout");
    }
    app.stop().await;
    result
        .unwrap_or_else(|_| Err(anyhow::anyhow!("e2e steps took over 360 s")))
        .unwrap();
}

/// Fills the "+ socket" form (URL, name, dialect, then the dialect's
/// options, which only show once it is chosen) and submits it.
async fn add_through_form(
    app: &App,
    url: &str,
    name: &str,
    dialect: &str,
    options: &[(&str, &str)],
) -> anyhow::Result<()> {
    let c = &app.client;
    c.find(Locator::Id("add-socket")).await?.click().await?;
    let form = c.find(Locator::Id("add-form")).await?;
    form.find(Locator::Css("input[name='url']"))
        .await?
        .send_keys(url)
        .await?;
    form.find(Locator::Css("input[name='name']"))
        .await?
        .send_keys(name)
        .await?;
    form.find(Locator::Css(&format!(
        "select[name='adapter'] option[value='{dialect}']"
    )))
    .await?
    .click()
    .await?;
    for (field, value) in options {
        form.find(Locator::Css(&format!("input[name='{field}']")))
            .await?
            .send_keys(value)
            .await?;
    }
    form.find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Adds, through the "+ socket" form, a raw socket to a port nothing
/// listens on, and waits until it is backing off; returns the row's selector.
async fn add_unreachable_socket(app: &App, name: &str) -> anyhow::Result<String> {
    add_through_form(app, "ws://127.0.0.1:9/nowhere", name, "raw", &[]).await?;
    let backoff = format!("#socket-list li[data-name='{name}'][data-state='Backoff']");
    app.wait_js(
        &format!("return document.querySelector(\"{backoff}\") !== null"),
        Duration::from_secs(20),
    )
    .await?;
    Ok(backoff)
}

async fn steps(app: &App) -> anyhow::Result<()> {
    let c = &app.client;
    // Started without a choice, the app runs with WebKit's older renderer
    // (the first paint takes a third of the time) and full collections of
    // the page's heap (its memory stays flat): src-tauri/src/main.rs.
    let env = app.app_environment()?;
    for want in [
        "WEBKIT_DISABLE_DMABUF_RENDERER=1",
        "JSC_useGenerationalGC=0",
    ] {
        anyhow::ensure!(
            env.iter().any(|v| v == want),
            "the app runs without {want}: {:?}",
            env.iter()
                .filter(|v| v.starts_with("WEBKIT") || v.starts_with("JSC_"))
                .collect::<Vec<_>>()
        );
    }
    // The page is up once it has its session and its live channel.
    app.wait_js(
        "return document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    )
    .await?;
    let mode = c.find(Locator::Id("mode")).await?.text().await?;
    anyhow::ensure!(mode.contains("DEMO"), "demo mode is labelled, got {mode:?}");

    eprintln!("e2e: step 1");
    // 1. The three demo sockets each reach Ready.
    app.wait_js(
        "return document.querySelectorAll('#socket-list li[data-was-ready=\"1\"]').length >= 3",
        Duration::from_secs(30),
    )
    .await?;
    app.screenshot("01-demo-ready").await?;

    eprintln!("e2e: tray and notifications");
    // The tray item shows the overall line and offers its menu.
    let label = app
        .desktop
        .wait_tray_label(Duration::from_secs(10), |l| {
            l.starts_with("sockscope: ") && l.contains(" ready, ")
        })
        .await?;
    eprintln!("e2e: tray label {label:?}");
    let menu = app.desktop.tray_menu().await?;
    anyhow::ensure!(menu == ["Show sockscope", "Quit"], "tray menu: {menu:?}");
    // Each opening demo job's end is a notification, once.
    let jobs = ["csv_import", "bookshelf_scan", "enrichment"];
    let complete = |n: &[desktop::Shown], j: &str| {
        n.iter()
            .filter(|s| s.summary == format!("{j}: job complete"))
            .count()
    };
    // Past three a minute, a minute's job ends are told as one at its end.
    let told = |n: &[desktop::Shown], j: &str| {
        complete(n, j) > 0
            || n.iter()
                .any(|s| s.summary.ends_with(" more jobs ended") && s.body.contains(j))
    };
    let shown = app
        .desktop
        .wait_notifications(
            "a notification per opening demo job",
            Duration::from_secs(80),
            |n| jobs.iter().all(|j| told(n, j)),
        )
        .await?;
    for j in jobs {
        anyhow::ensure!(
            complete(&shown, j) <= 1,
            "one notification for {j}: {shown:?}"
        );
    }
    anyhow::ensure!(
        shown
            .iter()
            .filter(|s| s.summary.ends_with(": job complete"))
            .all(|s| s.body == "The job finished."),
        "{shown:?}"
    );

    eprintln!("e2e: the demo keeps going");
    // New jobs keep arriving, each named after the catalog race it plays.
    app.wait_js(
        "return [...document.querySelectorAll('#socket-list li')].some(li => /^#\\d+ [a-z-]+$/.test(li.dataset.name))",
        Duration::from_secs(20),
    )
    .await?;

    live_follow_and_legend(app).await?;

    eprintln!("e2e: step 2");
    // 2. Findings show up as markers; clicking one opens its moment.
    app.wait_js(
        "return Number(document.getElementById('findings-count').textContent) > 0",
        Duration::from_secs(20),
    )
    .await?;
    c.find(Locator::Css("#tabs button[data-tab='findings']"))
        .await?
        .click()
        .await?;
    // The list re-renders as findings arrive: find and click in one script,
    // so the click never lands on a node that has just been replaced.
    app.wait_js(
        "const l = document.querySelector('.finding-link'); if (l) l.click(); return !!l",
        Duration::from_secs(10),
    )
    .await?;
    // The details pane fills in on the next render: wait for it.
    app.wait_js(
        "return document.getElementById('tab-details').textContent.includes('attempt')",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("02-finding-selected").await?;
    // The bottom panel is as tall as the details it holds: the timeline
    // gets the room.
    let heights = app
        .js("return [document.getElementById('bottom').offsetHeight, document.getElementById('timeline-wrap').offsetHeight, window.innerHeight]")
        .await?;
    let h = |i: usize| heights[i].as_f64().unwrap_or_default();
    anyhow::ensure!(
        h(0) < 0.3 * h(2) && h(1) > 0.5 * h(2),
        "bottom {} px, timeline {} px of {} px",
        h(0),
        h(1),
        h(2)
    );
    inspector_and_findings(app).await?;

    eprintln!("e2e: step 3");
    // 3. A scenario runs and produces the finding it exists for.
    c.find(Locator::Id("scenarios-btn")).await?.click().await?;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-scenario='send-before-handshake']"))
        .await?
        .click()
        .await?;
    let verdict = c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(
            "[data-scenario-result='send-before-handshake']",
        ))
        .await?
        .text()
        .await?;
    eprintln!("e2e: scenario verdict {verdict:?}");
    anyhow::ensure!(verdict.contains("pass"), "scenario verdict: {verdict:?}");
    let summary = c.find(Locator::Id("tab-scenario")).await?.text().await?;
    anyhow::ensure!(
        summary.contains("send_before_ready_queued"),
        "scenario shows its finding: {summary:?}"
    );
    // Its lanes carry its finding markers: the timeline publishes what its
    // last draw put on the canvas (cleared when the view switched stores).
    app.wait_js(
        "return Number(document.getElementById('timeline').dataset.findingsDrawn) > 0",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("03-scenario").await?;
    // "fit" fits the data that is there: the run spans the width.
    c.find(Locator::Id("fit")).await?.click().await?;
    app.wait_js(
        "const [x0, x1, w] = document.getElementById('timeline').dataset.view.split(',').map(Number); \
         return x0 >= 0 && x0 <= 24 && x1 >= w - 24 && x1 <= w",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("03b-scenario-fit").await?;
    c.find(Locator::Id("back-live")).await?.click().await?;

    eprintln!("e2e: step 4");
    // 4. A real socket that cannot connect reconnects; cancel stops it.
    let backoff = add_unreachable_socket(app, "unreachable").await?;
    app.screenshot("04-reconnecting").await?;
    app.js(&format!(
        "document.querySelector(\"{backoff} button.cancel\").click(); return true"
    ))
    .await?;
    let cancelled = "#socket-list li[data-name='unreachable'][data-state='Cancelled']";
    app.wait_js(
        &format!("return document.querySelector(\"{cancelled}\") !== null"),
        Duration::from_secs(10),
    )
    .await?;
    // By name, not by state: an attempt after cancel also leaves Cancelled,
    // and the check must see it rather than lose the row.
    let attempts_js = "return document.querySelector(\"#socket-list li[data-name='unreachable']\").dataset.attempts";
    let before = app.js(attempts_js).await?;
    // Longer than the first backoff (1 s): an attempt after cancel would show.
    let changed = app
        .wait_js_value(attempts_js, |v| v != &before, Duration::from_millis(2500))
        .await?;
    anyhow::ensure!(
        changed.is_none(),
        "an attempt after cancel: {before} -> {changed:?}"
    );
    app.screenshot("05-cancelled").await?;
    // Remove forgets it: its row goes (and stays gone after the next refresh).
    app.js(&format!(
        "document.querySelector(\"{cancelled} button.remove\").click(); return true"
    ))
    .await?;
    app.wait_js(
        "return document.querySelector(\"#socket-list li[data-name='unreachable']\") === null \
         && document.querySelectorAll('#socket-list li').length >= 3",
        Duration::from_secs(10),
    )
    .await?;

    eprintln!("e2e: step 5");
    // 5. Export writes a file.
    let (path, json) = export_through_menu(app, "jaeger").await?;
    anyhow::ensure!(
        json["data"][0]["spans"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "the Jaeger file at {path} has spans"
    );
    anyhow::ensure!(path.starts_with(app.export_dir.to_str().unwrap_or("")));
    app.screenshot("06-exported").await?;

    eprintln!("e2e: step 6");
    // 6. A past session opens from SQLite into the same timeline, with all
    // of its events and its finding markers.
    let past = &app.past;
    c.find(Locator::Css("#tabs button[data-tab='sessions']"))
        .await?
        .click()
        .await?;
    let open = format!(".open-session[data-session='{}']", past.session_id);
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&open))
        .await?;
    app.js(&format!(
        "document.querySelector(\"{open}\").click(); return true"
    ))
    .await?;
    app.wait_js(
        &format!(
            "return document.getElementById('history-label').textContent === 'history: session {}' \
             && Number(document.getElementById('timeline').dataset.findingsDrawn) > 0",
            past.session_id
        ),
        Duration::from_secs(20),
    )
    .await?;
    let note = app
        .js("return document.getElementById('sockets-note').textContent")
        .await?;
    anyhow::ensure!(
        note.as_str()
            .is_some_and(|n| n.contains(&format!("session {}", past.session_id))),
        "the live socket list says the timeline shows another session: {note}"
    );
    let loaded = app
        .js("return document.getElementById('status').textContent")
        .await?;
    anyhow::ensure!(
        loaded.as_str()
            == Some(&format!(
                "session {}: {} events loaded",
                past.session_id, past.events
            )),
        "every recorded event is loaded: {loaded} (recorded {})",
        past.events
    );
    app.screenshot("07-past-session").await?;
    // A cancelled socket is no job's end: it was not notified.
    let shown = app
        .desktop
        .wait_notifications("no more", Duration::ZERO, |_| true)
        .await?;
    anyhow::ensure!(
        !shown.iter().any(|s| s.summary.starts_with("unreachable")),
        "notifications: {shown:?}"
    );
    // And back to the live session.
    c.find(Locator::Id("back-live")).await?.click().await?;
    app.wait_js(
        "return document.getElementById('history-label').hidden \
         && document.getElementById('sockets-note').hidden",
        Duration::from_secs(10),
    )
    .await?;

    eprintln!("e2e: step 7");
    // 7. OTLP settings apply to the running session at once. An endpoint
    // the exporter refuses is an error that saves nothing.
    let rotel = tokio::task::spawn_blocking(Rotel::start).await?;
    let otlp_file = app.config_dir.join("otlp.json");
    submit_otlp(app, "not a url").await?;
    app.wait_js(
        "return document.getElementById('otlp-error').textContent.length > 0 \
         && document.getElementById('otlp-dialog').open",
        Duration::from_secs(10),
    )
    .await?;
    let refused = app
        .js("return document.getElementById('otlp-error').textContent")
        .await?;
    eprintln!("e2e: refused endpoint: {refused}");
    app.screenshot("08-otlp-refused").await?;
    anyhow::ensure!(!otlp_file.exists(), "a refused setting was saved");
    c.find(Locator::Id("otlp-cancel")).await?.click().await?;
    // A real receiver: the dialog closes, the dot lights, the file holds it.
    submit_otlp(app, &format!("http://{}", rotel.grpc)).await?;
    app.wait_js(
        "return !document.getElementById('otlp-dialog').open \
         && document.getElementById('otlp-dot').classList.contains('on')",
        Duration::from_secs(10),
    )
    .await?;
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&otlp_file)?)?;
    anyhow::ensure!(
        saved["enabled"] == true && saved["service_name"] == "sockscope-e2e",
        "saved: {saved}"
    );
    // A socket added now has its trace at the receiver once it ends.
    let backoff = add_unreachable_socket(app, "otlp-probe").await?;
    // Retry skips the wait: a new attempt at once, on the user's word. A
    // click counts only while the engine is still in Backoff; under load the
    // row can show Backoff a moment after its delay ran out, so a click
    // that found the socket already connecting is made again on the next
    // Backoff, within one bound.
    let by_user = |t: &TransitionRecord| {
        t.from == "Backoff"
            && t.to == "Connecting"
            && t.cause == "user"
            && t.cause_detail.as_deref() == Some("retry")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let tried = loop {
        let tried = app
            .js(&format!(
                "const r = document.querySelector(\"{backoff}\"); \
                 if (r === null) return null; \
                 r.querySelector('button.retry').click(); return Number(r.dataset.attempts)"
            ))
            .await?
            .as_u64();
        if let Some(tried) = tried
            && app
                .wait_recorded_transition("otlp-probe", Duration::from_secs(3), by_user)
                .await
                .is_ok()
        {
            break tried;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "a retry in Backoff was never recorded"
        );
        app.wait_js(
            &format!("return document.querySelector(\"{backoff}\") !== null"),
            Duration::from_secs(10),
        )
        .await?;
    };
    // Backing off again, after the attempt the retry made.
    app.wait_js(
        &format!(
            "const r = document.querySelector(\"{backoff}\"); \
             return r !== null && Number(r.dataset.attempts) > {tried}"
        ),
        Duration::from_secs(20),
    )
    .await?;
    app.js(&format!(
        "document.querySelector(\"{backoff} button.cancel\").click(); return true"
    ))
    .await?;
    let spans = tokio::task::spawn_blocking(move || {
        let mut rotel = rotel;
        // Spans ended together may still go out in two batches: wait for
        // each one the checks below need (only the probe is exporting).
        rotel.wait_for_line(
            "the probe's root span",
            Duration::from_secs(20),
            span_line("socket otlp-probe"),
        );
        rotel.wait_for_line(
            "the probe's Backoff interval",
            Duration::from_secs(20),
            span_line("Backoff"),
        );
        rotel.wait_for_everything();
        parse_spans(&rotel.text())
    })
    .await?;
    let root = spans
        .iter()
        .find(|s| s.name == "socket otlp-probe")
        .ok_or_else(|| anyhow::anyhow!("no root span"))?;
    anyhow::ensure!(root.service == "sockscope-e2e", "service: {root:?}");
    anyhow::ensure!(
        spans
            .iter()
            .any(|s| s.trace_id == root.trace_id && s.name == "Backoff"),
        "the probe's Backoff interval is in its trace: {:?}",
        spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id)
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
    );
    app.screenshot("09-otlp-on").await?;

    eprintln!("e2e: step 10");
    // 10. A Socket.IO job (npm socket.io) through the form's dialect choice:
    // only its options show, it reaches Ready at the namespace ack, and its
    // job runs to the end.
    let server = ReferenceServer::start(
        "socketio-job.mjs",
        serde_json::json!({ "total": 40, "intervalMs": 25, "ackDelayMs": 300 }),
    )
    .await?;
    c.find(Locator::Id("add-socket")).await?.click().await?;
    app.js(
        "const s = document.querySelector(\"#add-form select[name='adapter']\"); \
         s.value = 'socketio'; s.dispatchEvent(new Event('change')); return true",
    )
    .await?;
    let shown = app
        .js("return [...document.querySelectorAll('#dialect-options label:not([hidden]) input')].map(i => i.name).join(',')")
        .await?;
    anyhow::ensure!(
        shown == "progress_event,processed,total",
        "socketio's options, not phoenix's topic: {shown}"
    );
    app.js("document.getElementById('add-dialog').close(); return true")
        .await?;
    add_through_form(
        app,
        &server.url("/"),
        "sio-job",
        "socketio",
        &[("progress_event", "progress")],
    )
    .await?;
    let row = "#socket-list li[data-name='sio-job']";
    app.wait_js(
        &format!("return document.querySelector(\"{row}[data-was-ready='1']\") !== null"),
        Duration::from_secs(20),
    )
    .await?;
    app.screenshot("10-socketio-running").await?;
    app.wait_js(
        &format!("return document.querySelector(\"{row}[data-state='Closed']\") !== null"),
        Duration::from_secs(20),
    )
    .await?;
    let pct = app
        .js(&format!(
            "return document.querySelector(\"{row} .pct\").textContent"
        ))
        .await?;
    anyhow::ensure!(pct == "100%", "the Socket.IO job ended at {pct}");
    app.screenshot("10-socketio-done").await?;

    eprintln!("e2e: the jobs view");
    // Name, progress, time left and the state in words.
    c.find(Locator::Css("#tabs button[data-tab='jobs']"))
        .await?
        .click()
        .await?;
    app.wait_js(
        "const st = n => document.querySelector(`#jobs-table tr[data-name='${n}'] .jstate`)?.textContent; \
         const long = [...document.querySelectorAll('#jobs-table tr.job')].find(r => r.dataset.name.includes(' long ')); \
         return st('sio-job') === 'finished' && st('otlp-probe') === 'cancelled by you' \
           && !!long && long.querySelector('.jstate').textContent === 'running' \
           && /^about /.test(long.children[3].textContent) && /%$/.test(long.children[2].textContent)",
        Duration::from_secs(20),
    )
    .await?;
    app.screenshot("10b-jobs").await?;
    // A job the server fails says why, in words (the demo fails one a round).
    app.wait_js(
        "return [...document.querySelectorAll('#jobs-table tr.job.bad')].some(r => \
           r.dataset.name.endsWith(' job-fails-part-way') \
           && r.querySelector('.jstate').textContent \
              === 'stopped: the job failed on the server: row 812 of the file cannot be read')",
        Duration::from_secs(90),
    )
    .await?;
    app.screenshot("10c-jobs-failed").await?;

    eprintln!("e2e: step 11");
    // 11. A HAR file imports through "import HAR…", by the command the
    // picker and a dropped file use. A broken one shows its error, naming
    // the entry, in the dialog; the good one opens as a new session in the
    // Sessions view, a lane per connection, with the planted race.
    let home = app.export_dir.with_file_name("captures");
    std::fs::create_dir_all(&home)?;
    let good = home.join("app.har");
    let bad = home.join("broken.har");
    std::fs::write(&good, capture_har(false).to_string())?;
    std::fs::write(&bad, capture_har(true).to_string())?;
    import_through_dialog(app, &bad).await?;
    app.wait_js(
        "return document.getElementById('import-dialog').open \
         && document.getElementById('import-error').textContent.length > 0",
        Duration::from_secs(20),
    )
    .await?;
    let refused = app
        .js("return document.getElementById('import-error').textContent")
        .await?;
    eprintln!("e2e: refused HAR: {refused}");
    anyhow::ensure!(
        refused
            .as_str()
            .is_some_and(|t| t.contains("entry 2") && t.contains("broken.har")),
        "the error names the file and the entry: {refused}"
    );
    app.screenshot("11-har-refused").await?;
    c.find(Locator::Id("import-cancel")).await?.click().await?;
    import_through_dialog(app, &good).await?;
    app.wait_js(
        "const id = document.body.dataset.imported; \
         return !!id && document.getElementById('history-label').textContent === `history: session ${id}` \
         && document.getElementById('timeline').dataset.lanesDrawn === '2' \
         && Number(document.getElementById('timeline').dataset.findingsDrawn) > 0 \
         && document.querySelector(`.open-session[data-session='${id}']`) !== null",
        Duration::from_secs(20),
    )
    .await?;
    let id = app
        .js("return Number(document.body.dataset.imported)")
        .await?
        .as_i64()
        .unwrap_or_default();
    let line = app
        .js("return document.getElementById('status').textContent")
        .await?;
    anyhow::ensure!(
        line.as_str()
            == Some(&format!(
                "imported session {id}: 2 lanes, 3 attempts, 11 frames, 1 finding"
            )),
        "status: {line}"
    );
    let reader = sockscope_recorder::RecordReader::open(&app.db)?;
    let names: Vec<String> = reader
        .sockets(id)?
        .into_iter()
        .map(|s| s.config.name)
        .collect();
    anyhow::ensure!(
        names
            == [
                "127.0.0.1/ws/progress?jobId=orders",
                "127.0.0.1/ws/progress?jobId=books"
            ],
        "lanes: {names:?}"
    );
    app.screenshot("11-har-imported").await?;

    eprintln!("e2e: compare two sessions");
    // The past scenario run (before) and the imported capture (after), on
    // one screen: states, findings by class, sockets.
    c.find(Locator::Css("#tabs button[data-tab='sessions']"))
        .await?
        .click()
        .await?;
    let (before, after) = (past.session_id, id);
    app.wait_js(
        &format!(
            "const pick = id => document.querySelector(`.compare-pick[value='${{id}}']`); \
             if (!pick({before}) || !pick({after})) return false; \
             for (const id of [{before}, {after}]) if (!pick(id).checked) pick(id).click(); \
             const go = document.getElementById('compare-go'); if (go.disabled) return false; \
             go.click(); return true"
        ),
        Duration::from_secs(10),
    )
    .await?;
    app.wait_js(
        &format!(
            "const r = document.getElementById('compare-result'); \
             return !!r.querySelector(\"[data-compare='{before},{after}']\") \
               && !!r.querySelector(\"tr[data-class='send_before_ready_queued']\") \
               && !!r.querySelector(\"tr[data-state='Ready']\")"
        ),
        Duration::from_secs(20),
    )
    .await?;
    let row = app
        .js("return [...document.querySelectorAll(\"#compare-result tr[data-class='send_before_ready_queued'] td\")].map(t => t.textContent).join('|')")
        .await?;
    eprintln!("e2e: compared send_before_ready_queued: {row}");
    anyhow::ensure!(
        row.as_str()
            .is_some_and(|r| r.starts_with("send_before_ready_queued|3|0|")),
        "the scenario's three early sends, none in the capture: {row}"
    );
    app.screenshot("11b-compare").await?;

    record_through_the_proxy(app).await?;

    eprintln!("e2e: ended demo jobs leave the live set");
    // The opening jobs ended a minute ago: their rows and lanes are gone,
    // while the demo goes on.
    c.find(Locator::Id("back-live")).await?.click().await?;
    app.wait_js(
        "return document.querySelector(\"#socket-list li[data-name='csv_import']\") === null \
         && document.querySelectorAll('#socket-list li').length >= 2",
        Duration::from_secs(60),
    )
    .await?;
    app.screenshot("12-demo-later").await?;
    // The demo ends a job every few seconds: past the first three of a
    // minute, the minute's job ends are told as one notification.
    let shown = app
        .desktop
        .wait_notifications(
            "the minute's other job ends, told as one",
            Duration::from_secs(70),
            |n| n.iter().any(|s| s.summary.ends_with(" more jobs ended")),
        )
        .await?;
    let one = shown
        .iter()
        .find(|s| s.summary.ends_with(" more jobs ended"))
        .map(|s| format!("{}: {}", s.summary, s.body));
    eprintln!("e2e: {one:?}");
    anyhow::ensure!(
        shown
            .iter()
            .filter(|s| s.summary.ends_with(": job complete"))
            .count()
            <= 6,
        "notifications: {shown:?}"
    );
    Ok(())
}

/// While following, a new finding holds the view at its moment until "back
/// to live"; following fits the data while it is shorter than the window;
/// the lane names are whole; the legend explains every mark.
async fn live_follow_and_legend(app: &App) -> anyhow::Result<()> {
    let c = &app.client;
    eprintln!("e2e: a finding holds the view");
    app.wait_js(
        "const t = document.getElementById('timeline'); \
         return !!t.dataset.pinned && !document.getElementById('back-to-live').hidden \
         && Number(t.dataset.findingsDrawn) > 0",
        Duration::from_secs(20),
    )
    .await?;
    let label = app
        .js("return document.getElementById('pinned-label').textContent")
        .await?;
    anyhow::ensure!(
        label.as_str().is_some_and(|l| l.starts_with("held at ")),
        "pinned label: {label}"
    );
    app.screenshot("01b-pinned-finding").await?;
    // Pinning off, back to live: the view follows, and while the session is
    // shorter than the live window it shows all of it, the first event too.
    c.find(Locator::Id("pin-findings")).await?.click().await?;
    c.find(Locator::Id("back-to-live")).await?.click().await?;
    app.wait_js(
        "const t = document.getElementById('timeline'); \
         if (!t.dataset.view || t.dataset.pinned) return false; \
         const [x0, x1, w, span] = t.dataset.view.split(',').map(Number); \
         return document.getElementById('live').classList.contains('on') \
           && document.getElementById('back-to-live').hidden \
           && span >= 10 && x0 >= 0 && x0 <= 24 && x1 <= w && x1 >= w - 24 \
           && Number(t.dataset.findingsDrawn) > 0",
        Duration::from_secs(30),
    )
    .await?;
    // The names' column fits the demo's long lane names.
    app.wait_js(
        "return Number(document.getElementById('timeline').dataset.gutter) >= 150",
        Duration::from_secs(20),
    )
    .await?;
    app.screenshot("01c-live-fits-the-data").await?;

    eprintln!("e2e: the legend");
    c.find(Locator::Id("legend-btn")).await?.click().await?;
    app.wait_js(
        "return document.getElementById('legend-dialog').open",
        Duration::from_secs(10),
    )
    .await?;
    let counts = app
        .js("const d = document.getElementById('legend-dialog'); \
             return [d.querySelectorAll('tr[data-state]').length, \
                     [...d.querySelectorAll('tr[data-side]')].map(r => r.dataset.side).join(','), \
                     d.querySelectorAll('tr[data-line]').length, \
                     d.querySelectorAll('canvas.swatch').length]")
        .await?;
    anyhow::ensure!(
        counts[0] == 8
            && counts[1] == "prevented,peer,client,network"
            && counts[2].as_u64() >= Some(6),
        "legend rows: {counts}"
    );
    app.screenshot("01d-legend").await?;
    c.find(Locator::Id("legend-close")).await?.click().await?;
    Ok(())
}

/// The inspector's table of frames (filters, search, pretty JSON, pause,
/// a row puts the timeline's cursor on its frame) and the findings view
/// (groups with counts, severity and race; filters; a click goes to it).
async fn inspector_and_findings(app: &App) -> anyhow::Result<()> {
    let c = &app.client;
    eprintln!("e2e: the inspector");
    // The long import runs for minutes: its frames keep coming.
    inspect_socket(
        app,
        " long ",
        "return document.querySelectorAll('#frame-rows tr').length > 5",
    )
    .await?;
    let cols = app
        .js("return [...document.querySelectorAll('.frame-head th')].map(t => t.textContent).join(',')")
        .await?;
    anyhow::ensure!(
        cols == "time,dir,opcode,size,type,seq,close",
        "columns: {cols}"
    );
    // Sent frames only, then no control frames, then a search.
    app.js(
        "const d = document.getElementById('inspector-dir'); d.value = 'out'; \
         d.dispatchEvent(new Event('change')); return true",
    )
    .await?;
    app.wait_js(
        "const r = [...document.querySelectorAll('#frame-rows tr')]; \
         return r.length > 0 && r.every(tr => tr.classList.contains('dir-out'))",
        Duration::from_secs(10),
    )
    .await?;
    app.js(
        "const d = document.getElementById('inspector-dir'); d.value = 'both'; d.dispatchEvent(new Event('change')); \
         const k = document.getElementById('inspector-control'); k.checked = false; k.dispatchEvent(new Event('change')); \
         return true",
    )
    .await?;
    app.wait_js(
        "const r = [...document.querySelectorAll('#frame-rows tr')]; \
         return r.length > 0 && r.every(tr => !['ping','pong','close'].includes(tr.children[2].textContent))",
        Duration::from_secs(10),
    )
    .await?;
    let search = c.find(Locator::Id("inspector-search")).await?;
    search.send_keys("ready_ack").await?;
    app.wait_js(
        "const r = [...document.querySelectorAll('#frame-rows tr')]; \
         return r.length >= 1 && r.every(tr => tr.children[4].textContent === 'ready_ack')",
        Duration::from_secs(10),
    )
    .await?;
    // A row: its payload as pretty JSON, and the timeline's cursor on it.
    app.js("document.querySelector('#frame-rows tr').click(); return true")
        .await?;
    app.wait_js(
        "const b = document.getElementById('frame-body').textContent; \
         return b.includes('\\n  \"type\": \"ready_ack\"') && !!document.getElementById('timeline').dataset.mark",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("02b-inspector").await?;
    search.clear().await?;
    app.js(
        "const s = document.getElementById('inspector-search'); s.dispatchEvent(new Event('input')); return true",
    )
    .await?;
    // Pause: the table stands still while recording goes on; resume catches up.
    let matched = "return Number(document.getElementById('inspector-count').dataset.matched)";
    c.find(Locator::Id("inspector-pause"))
        .await?
        .click()
        .await?;
    let frozen = app.js(matched).await?;
    app.wait_js(
        "const m = document.getElementById('inspector-count').textContent.match(/paused, (\\d+) events since/); \
         return !!m && Number(m[1]) > 20",
        Duration::from_secs(20),
    )
    .await?;
    anyhow::ensure!(app.js(matched).await? == frozen, "the paused table changed");
    app.screenshot("02c-inspector-paused").await?;
    c.find(Locator::Id("inspector-pause"))
        .await?
        .click()
        .await?;
    app.wait_js_value(
        matched,
        |v| v.as_f64() > frozen.as_f64(),
        Duration::from_secs(10),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("resume did not catch up"))?;

    eprintln!("e2e: the findings");
    c.find(Locator::Css("#tabs button[data-tab='findings']"))
        .await?
        .click()
        .await?;
    app.wait_js(
        "const g = [...document.querySelectorAll('#findings-list details.fgroup')]; \
         return g.length >= 2 && g.every(d => Number(d.dataset.count) > 0) \
           && [...document.querySelectorAll('.frace')].some(r => r.textContent.startsWith('seed '))",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("02d-findings").await?;
    // Only our side's, then only one socket's.
    app.js(
        "const s = document.getElementById('findings-side'); s.value = 'prevented'; s.dispatchEvent(new Event('change')); return true",
    )
    .await?;
    app.wait_js(
        "const g = [...document.querySelectorAll('#findings-list details.fgroup')]; \
         return g.length >= 1 && g.every(d => d.classList.contains('side-prevented'))",
        Duration::from_secs(10),
    )
    .await?;
    app.js(
        "const s = document.getElementById('findings-side'); s.value = ''; s.dispatchEvent(new Event('change')); \
         const k = document.getElementById('findings-socket'); \
         const l = document.querySelector('.finding-link'); k.value = l.dataset.socket; \
         k.dispatchEvent(new Event('change')); return true",
    )
    .await?;
    app.wait_js(
        "const k = document.getElementById('findings-socket').value; \
         const l = [...document.querySelectorAll('.finding-link')]; \
         return k !== '' && l.length >= 1 && l.every(a => a.dataset.socket === k)",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("02e-findings-one-socket").await?;
    // A click goes to its moment.
    app.js("document.querySelector('.finding-link').click(); return true")
        .await?;
    app.wait_js(
        "return document.getElementById('tab-details').textContent.includes('attempt')",
        Duration::from_secs(10),
    )
    .await?;
    app.js(
        "const k = document.getElementById('findings-socket'); k.value = ''; k.dispatchEvent(new Event('change')); return true",
    )
    .await?;
    Ok(())
}

/// Opens "import HAR…", types `path` and imports.
async fn import_through_dialog(app: &App, path: &std::path::Path) -> anyhow::Result<()> {
    let c = &app.client;
    c.find(Locator::Id("import-har")).await?.click().await?;
    let form = c.find(Locator::Id("import-form")).await?;
    let input = form.find(Locator::Css("input[name='path']")).await?;
    input.clear().await?;
    input.send_keys(&path.display().to_string()).await?;
    form.find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// A browser's capture of two job sockets, as DevTools saves it: `orders`
/// sends a `ping` before the server's `ready_ack`; `books` reconnects once.
/// `broken` spoils the third entry's first message.
fn capture_har(broken: bool) -> serde_json::Value {
    use serde_json::json;
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        .floor()
        - 60.0;
    let msg = |kind: &str, at: f64, data: String| json!({ "type": kind, "time": t0 + at, "opcode": 1, "data": data });
    let ready = r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#.to_owned();
    let ack = r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#.to_owned();
    let progress = |seq: u64| {
        format!(
            r#"{{"v":1,"type":"job_progress","seq":{seq},"payload":{{"processedCount":{seq},"totalCount":4}}}}"#
        )
    };
    let entry = |job: &str, start: f64, messages: Vec<serde_json::Value>| {
        json!({
            "startedDateTime": sockscope_recorder::export::rfc3339((t0 + start) as i64 * 1_000_000_000 + ((start.fract()) * 1e9) as i64),
            "time": 400.0,
            "request": { "method": "GET", "url": format!("ws://127.0.0.1:8080/ws/progress?jobId={job}"), "headers": [] },
            "response": { "status": 101, "headers": [] },
            "timings": { "send": 0.2, "wait": 3.0, "receive": 0 },
            "_resourceType": "websocket",
            "_webSocketMessages": messages,
        })
    };
    let ping = r#"{"v":1,"type":"ping","payload":{"nonce":"early"}}"#.to_owned();
    let third_first = if broken { "shout" } else { "send" };
    let entries = vec![
        entry(
            "orders",
            0.0,
            vec![
                msg("send", 0.01, ready.clone()),
                msg("send", 0.011, ping),
                msg("receive", 0.05, ack.clone()),
                msg("receive", 0.2, progress(1)),
                msg("receive", 0.35, progress(2)),
            ],
        ),
        entry(
            "books",
            0.1,
            vec![
                msg("send", 0.11, ready.clone()),
                msg("receive", 0.15, ack.clone()),
            ],
        ),
        entry(
            "books",
            1.6,
            vec![
                msg(third_first, 1.61, ready),
                msg("receive", 1.65, ack),
                msg("receive", 1.8, progress(1)),
                msg("receive", 1.9, progress(2)),
            ],
        ),
    ];
    json!({ "log": { "version": "1.2", "creator": { "name": "WebInspector" }, "entries": entries } })
}

/// Opens the OTLP dialog and saves: on, gRPC, `endpoint`, service
/// `sockscope-e2e`.
async fn submit_otlp(app: &App, endpoint: &str) -> anyhow::Result<()> {
    let c = &app.client;
    c.find(Locator::Id("otlp-btn")).await?.click().await?;
    app.wait_js(
        "return document.getElementById('otlp-dialog').open",
        Duration::from_secs(10),
    )
    .await?;
    let form = c.find(Locator::Id("otlp-form")).await?;
    let enabled = form.find(Locator::Css("input[name='enabled']")).await?;
    if enabled.prop("checked").await?.as_deref() != Some("true") {
        enabled.click().await?;
    }
    form.find(Locator::Css("select[name='protocol'] option[value='grpc']"))
        .await?
        .click()
        .await?;
    fill_inputs(
        &form,
        &[("endpoint", endpoint), ("service_name", "sockscope-e2e")],
    )
    .await?;
    form.find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// A job server that acks `ready` only once it has the client's next frame
/// too: a client that sends before the ack always wins the race. Then it
/// sends `progress` events and stays open until the client leaves.
async fn racy_job_server(progress: u64) -> anyhow::Result<std::net::SocketAddr> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                for _ in 0..2 {
                    if !matches!(ws.next().await, Some(Ok(Message::Text(_)))) {
                        return;
                    }
                }
                let ack = r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#;
                let _ = ws.send(Message::text(ack)).await;
                for seq in 1..=progress {
                    let event = format!(
                        r#"{{"v":1,"type":"job_progress","seq":{seq},"payload":{{"processedCount":{seq},"totalCount":{progress}}}}}"#
                    );
                    let _ = ws.send(Message::text(event)).await;
                }
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    Ok(addr)
}

/// The token in the recorded binary frame: it never shows.
const BINARY_SECRET: &str = "e2e-bin-s3cr3t";

/// "record…": the recording proxy in front of a job server. A client that
/// sends a `ping` before the server's `ready_ack` goes through it; its lane
/// and the race's finding appear while the connection is still open, and
/// "stop recording" leaves the session in the database, opened in the view.
async fn record_through_the_proxy(app: &App) -> anyhow::Result<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let c = &app.client;
    eprintln!("e2e: record through the proxy");
    let upstream = racy_job_server(3).await?;
    c.find(Locator::Id("record-btn")).await?.click().await?;
    let form = c.find(Locator::Id("record-form")).await?;
    let upstream = format!("ws://{upstream}");
    fill_inputs(&form, &[("listen", "127.0.0.1:0"), ("upstream", &upstream)]).await?;
    app.screenshot("13-record-dialog").await?;
    form.find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    app.wait_js(
        "return !!document.body.dataset.recording && !document.getElementById('record-dialog').open",
        Duration::from_secs(20),
    )
    .await?;
    let listen = app
        .js("return document.body.dataset.recordingListen")
        .await?;
    let listen = listen.as_str().unwrap_or_default().to_owned();
    // The app under test: its `ping` goes before the server's ack.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{listen}/ws/progress?jobId=e2e-rec"))
            .await?;
    ws.send(Message::text(
        r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#,
    ))
    .await?;
    ws.send(Message::text(
        r#"{"v":1,"type":"ping","payload":{"nonce":"early"}}"#,
    ))
    .await?;
    let mut got = 0;
    while got < 4 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Message::Text(_))) => got += 1,
            Some(Ok(_)) => {}
            other => anyhow::bail!("the proxied connection ended: {other:?}"),
        }
    }
    // Live, with the connection still open: one lane, the race found and drawn.
    app.wait_js(
        "const s = document.getElementById('record-state'); \
         return s.dataset.lanes === '1' && Number(s.dataset.findings) >= 1 \
           && document.getElementById('timeline').dataset.lanesDrawn === '1' \
           && Number(document.getElementById('timeline').dataset.findingsDrawn) >= 1 \
           && document.getElementById('history-label').textContent.startsWith('recording: session ')",
        Duration::from_secs(20),
    )
    .await?;
    c.find(Locator::Css("#tabs button[data-tab='findings']"))
        .await?
        .click()
        .await?;
    app.wait_js(
        "return document.querySelector(\"#findings-list details.fgroup[data-class='client_send_before_ready']\") !== null",
        Duration::from_secs(10),
    )
    .await?;
    app.screenshot("13-recording-live").await?;
    // A binary frame: MessagePack `{"token": …, "n": 7}`, stored masked.
    let mut packed = vec![0x82, 0xa5];
    packed.extend(b"token");
    packed.push(0xa0 | BINARY_SECRET.len() as u8);
    packed.extend(BINARY_SECRET.bytes());
    packed.extend([0xa1, b'n', 0x07]);
    ws.send(Message::binary(packed)).await?;
    ws.close(None).await?;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {}
    // Stop: the session is written and opens from the database.
    c.find(Locator::Id("record-btn")).await?.click().await?;
    app.wait_js(
        "return !document.body.dataset.recording \
           && /^recorded session \\d+: 1 connection, \\d+ frames, 1 finding$/.test(document.getElementById('status').textContent) \
           && /^history: session \\d+$/.test(document.getElementById('history-label').textContent) \
           && Number(document.getElementById('timeline').dataset.findingsDrawn) >= 1",
        Duration::from_secs(20),
    )
    .await?;
    let line = app
        .js("return document.getElementById('status').textContent")
        .await?;
    eprintln!("e2e: {line}");
    let session: i64 = line
        .as_str()
        .and_then(|l| l.strip_prefix("recorded session "))
        .and_then(|l| l.split(':').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no session in {line}"))?;
    let reader = sockscope_recorder::RecordReader::open(&app.db)?;
    let names: Vec<String> = reader
        .sockets(session)?
        .into_iter()
        .map(|s| s.config.name)
        .collect();
    anyhow::ensure!(
        names == ["127.0.0.1/ws/progress?jobId=e2e-rec"],
        "lanes: {names:?}"
    );
    app.screenshot("13-recorded").await?;
    // The inspector on the recorded connection: first its upgrade, both
    // sides' headers, the key redacted.
    inspect_socket(
        app,
        "e2e-rec",
        "const b = document.getElementById('frame-body').textContent; \
         return b.startsWith('upgrade answered 101') && /sec-websocket-key: \\[REDACTED\\]/i.test(b) \
           && /sec-websocket-accept: /i.test(b)",
    )
    .await?;
    app.screenshot("13-recorded-upgrade").await?;
    // Its binary frame: a hex dump, the token's bytes as `*`.
    inspect_socket(
        app,
        "e2e-rec",
        "const r = [...document.querySelectorAll('#frame-rows tr')].find(tr => tr.children[2].textContent === 'binary'); \
         if (!r) return false; r.click(); \
         const b = document.getElementById('frame-body').textContent; \
         return b.startsWith('binary, 25 bytes') && b.includes('..token.*****')",
    )
    .await?;
    let body = app
        .js("return document.getElementById('frame-body').textContent")
        .await?;
    anyhow::ensure!(
        !body
            .as_str()
            .unwrap_or_default()
            .contains(&BINARY_SECRET[..8]),
        "the token shows: {body}"
    );
    app.screenshot("13-recorded-binary").await?;
    // Handed over: the recorded session as HAR (DevTools) and as a trace
    // (Perfetto), from the export menu while it is on view.
    for format in ["har", "perfetto"] {
        let (path, json) = export_through_menu(app, format).await?;
        if format == "har" {
            let messages = json["log"]["entries"][0]["_webSocketMessages"]
                .as_array()
                .map_or(0, Vec::len);
            // ready, ping, the ack, three events and the binary frame.
            anyhow::ensure!(messages == 7, "{path}: {messages} messages");
        } else {
            let found = json["traceEvents"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|e| e["cat"] == "finding" && e["name"] == "client_send_before_ready")
            });
            anyhow::ensure!(found, "{path}: no finding instant");
        }
    }
    Ok(())
}

/// Opens the inspector on the socket whose name holds `name_part`, and
/// waits (20 s at most) until `then` (a script's body) returns true.
async fn inspect_socket(app: &App, name_part: &str, then: &str) -> anyhow::Result<()> {
    app.client
        .find(Locator::Css("#tabs button[data-tab='inspector']"))
        .await?
        .click()
        .await?;
    let script = format!(
        "const s = document.getElementById('inspector-socket'); \
         const o = [...s.options].find(o => o.textContent.includes({name_part:?})); \
         if (!o) return false; \
         if (s.value !== o.value) {{ s.value = o.value; s.dispatchEvent(new Event('change')); }} \
         {then}"
    );
    app.wait_js(&script, Duration::from_secs(20)).await
}

/// Types each `(name, value)` into the form's `input[name=…]`, cleared first.
async fn fill_inputs(
    form: &fantoccini::elements::Element,
    fields: &[(&str, &str)],
) -> anyhow::Result<()> {
    for (field, value) in fields {
        let input = form
            .find(Locator::Css(&format!("input[name='{field}']")))
            .await?;
        input.clear().await?;
        input.send_keys(value).await?;
    }
    Ok(())
}

/// Exports the session on view through the export menu as `format`: the
/// file's path (the status line's, once it changed) and its JSON.
async fn export_through_menu(
    app: &App,
    format: &str,
) -> anyhow::Result<(String, serde_json::Value)> {
    let c = &app.client;
    let exported = "return document.getElementById('status').dataset.exported || ''";
    let before = app.js(exported).await?;
    c.find(Locator::Id("export-btn")).await?.click().await?;
    c.find(Locator::Css(&format!(
        "#export-menu button[data-format='{format}']"
    )))
    .await?
    .click()
    .await?;
    let path = app
        .wait_js_value(exported, |v| v != &before, Duration::from_secs(20))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no {format} export"))?;
    let path = path.as_str().unwrap_or_default().to_owned();
    let json = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    Ok((path, json))
}
