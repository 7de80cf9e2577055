//! Starts Xvfb (when there is no display), tauri-driver and a WebDriver
//! session on the app binary; stops them with SIGTERM, never SIGKILL (a
//! killed tauri-driver leaves WebKitWebDriver holding its port).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use sockscope_core::scenario::{self, Recording};
use sockscope_recorder::record::TransitionRecord;
use sockscope_recorder::{EventBody, RecordReader, WindowQuery};

use crate::desktop::Desktop;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);

/// The longest one WebDriver script may take to answer. The client sends
/// its commands one at a time, so one that never answers would hold every
/// later step: it fails the step instead, naming the script.
const SCRIPT_ANSWER: Duration = Duration::from_secs(30);

pub enum Outcome {
    Ready(Box<App>),
    Skip(String),
}

pub struct App {
    pub client: Client,
    pub export_dir: PathBuf,
    /// The app's config dir (`SOCKSCOPE_CONFIG_DIR`).
    pub config_dir: PathBuf,
    /// The app's database.
    pub db: PathBuf,
    /// A scenario run recorded into the app's database before it started:
    /// a past session for the history view to open.
    pub past: Recording,
    /// The session bus the app talks to, with its notification daemon and
    /// tray host.
    pub desktop: Desktop,
    display: String,
    driver: Child,
    xvfb: Option<Child>,
    _home: TempDir,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let home_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(home_cargo)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn artifact(name: &str) -> anyhow::Result<PathBuf> {
    let dir = repo_root().join("ci-artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(format!("e2e-{name}.png")))
}

/// A port nothing listens on now (the OS picks it).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

fn free_display() -> u32 {
    (99..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .unwrap_or(99)
}

/// `import -window WINDOW` (an X window's name, or `root`) into `path`.
fn x11_capture(display: &str, window: &str, path: &Path) -> anyhow::Result<()> {
    let mut child = Command::new("import")
        .args(["-window", window])
        .arg(path)
        .env("DISPLAY", display)
        .stderr(Stdio::null())
        .spawn()?;
    if !poll_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = child.kill();
        let _ = child.wait();
        anyhow::bail!("import -window {window} did not finish within 20 s on {display}");
    }
    anyhow::ensure!(
        child.wait()?.success(),
        "import -window {window} failed on {display}"
    );
    Ok(())
}

/// Polls `done` every [`POLL`] until it holds (true) or `timeout` passes
/// (false), for what no event announces: a process's exit, a port, a socket
/// file.
fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

fn terminate(child: &mut Child, what: &str) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !poll_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        eprintln!("{what} did not exit within 10 s of SIGTERM");
    }
}

impl App {
    pub async fn start() -> Outcome {
        let have_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
        let xvfb_bin = which("Xvfb");
        if !have_display && xvfb_bin.is_none() {
            return Outcome::Skip("no DISPLAY and no Xvfb (scripts/test.sh installs xvfb)".into());
        }
        let driver_bin = which("tauri-driver").expect(
            "tauri-driver is missing: `cargo install tauri-driver --locked` (scripts/test.sh does)",
        );
        assert!(
            which("WebKitWebDriver").is_some() || Path::new("/usr/bin/WebKitWebDriver").exists(),
            "WebKitWebDriver is missing: apt-get install webkit2gtk-driver (scripts/test.sh does)"
        );
        let app_bin = std::env::var_os("SOCKSCOPE_APP_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sockscope-app")));

        let (display, xvfb) = if have_display && std::env::var_os("SOCKSCOPE_E2E_XVFB").is_none() {
            (std::env::var("DISPLAY").unwrap_or_default(), None)
        } else {
            let n = free_display();
            let child = Command::new(xvfb_bin.expect("Xvfb"))
                .args([
                    format!(":{n}"),
                    "-screen".into(),
                    "0".into(),
                    "1600x1000x24".into(),
                    "-nolisten".into(),
                    "tcp".into(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting Xvfb");
            let sock = format!("/tmp/.X11-unix/X{n}");
            assert!(
                poll_until(Duration::from_secs(15), || Path::new(&sock).exists()),
                "Xvfb :{n} did not come up"
            );
            (format!(":{n}"), Some(child))
        };

        let home = std::env::temp_dir().join(format!("sockscope-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("temp dir");
        let export_dir = home.join("exports");
        let db = home.join("data/sockscope.db");
        std::fs::create_dir_all(home.join("data")).expect("data dir");
        let past = scenario::run_recorded("send-before-handshake", &db)
            .await
            .expect("recording a past session")
            .recording
            .expect("the run says where it was recorded");
        let desktop = Desktop::start().await.expect("a private session bus");
        // Own ports: another run on this machine may hold the defaults.
        let port = free_port();
        let native_port = free_port();
        let driver = Command::new(driver_bin)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", &display)
            // A fresh user: no sockets.toml, so the app opens in demo mode.
            .env("SOCKSCOPE_CONFIG_DIR", home.join("config"))
            .env("SOCKSCOPE_EXPORT_DIR", &export_dir)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            // The app chooses WebKit's settings when these are unset (a step checks it).
            .env_remove("WEBKIT_DISABLE_DMABUF_RENDERER")
            .env_remove("JSC_useGenerationalGC")
            .env("DBUS_SESSION_BUS_ADDRESS", &desktop.address)
            // No accessibility bus to start on the private one.
            .env("NO_AT_BRIDGE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting tauri-driver");
        let app = App {
            client: match Self::connect(port, &app_bin, &db).await {
                Ok(c) => c,
                Err(e) => {
                    let mut d = driver;
                    terminate(&mut d, "tauri-driver");
                    if let Some(mut x) = xvfb {
                        terminate(&mut x, "Xvfb");
                    }
                    panic!("no WebDriver session: {e}");
                }
            },
            export_dir,
            config_dir: home.join("config"),
            db: db.clone(),
            past,
            desktop,
            display,
            driver,
            xvfb,
            _home: TempDir(home),
        };
        let _ = app.client.set_window_size(1440, 900).await;
        Outcome::Ready(Box::new(app))
    }

    /// The driver refuses connections until WebKitWebDriver is up: retry,
    /// within a bound.
    async fn connect(port: u16, app_bin: &Path, db: &Path) -> Result<Client, String> {
        if !poll_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            return Err(format!("tauri-driver did not listen on {port}"));
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert(
            "tauri:options".into(),
            json!({
                "application": app_bin,
                "args": ["--db", db],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => return Ok(c),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last)
    }

    /// The environment the app's process runs with. WebKitWebDriver starts
    /// it and does not tell its pid: it is found by the database on its
    /// command line.
    pub fn app_environment(&self) -> anyhow::Result<Vec<String>> {
        let db = self.db.to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc")? {
            let dir = entry?.path();
            let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_app = args.first().is_some_and(|a| a.ends_with(b"sockscope-app"));
            if is_app && args.contains(&db.as_bytes()) {
                let env = std::fs::read(dir.join("environ"))?;
                return Ok(env
                    .split(|b| *b == 0)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect());
            }
        }
        anyhow::bail!("no sockscope-app process with --db {db}")
    }

    pub async fn js(&self, script: &str) -> anyhow::Result<Value> {
        match tokio::time::timeout(SCRIPT_ANSWER, self.client.execute(script, vec![])).await {
            Ok(v) => Ok(v?),
            Err(_) => anyhow::bail!("WebDriver did not answer within {SCRIPT_ANSWER:?}: {script}"),
        }
    }

    /// Polls `script` until it returns true, or fails after `timeout`.
    pub async fn wait_js(&self, script: &str, timeout: Duration) -> anyhow::Result<()> {
        if self
            .wait_js_value(script, |v| v == &Value::Bool(true), timeout)
            .await?
            .is_none()
        {
            let shot = self.screenshot("timeout").await.ok();
            anyhow::bail!(
                "timed out after {timeout:?} waiting for: {script} (screenshot {shot:?})"
            );
        }
        Ok(())
    }

    /// Polls `script` until `pred` holds on its value; `None` if it never
    /// does within `timeout` (for checks that something does not happen).
    /// A script that throws is an error, not a value that failed `pred`.
    pub async fn wait_js_value(
        &self,
        script: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script).await?;
            if pred(&v) {
                return Ok(Some(v));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the app's window as `ci-artifacts/e2e-NAME.png`.
    ///
    /// Taken from the X server, not through WebDriver: WebKitWebDriver's
    /// screenshot was seen never to answer once the page was at rest (a
    /// past session open, nothing live), and every later WebDriver call
    /// then queued behind it.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        // What the DOM holds reaches the screen at the next frame: wait for
        // two, so the picture shows the state the step just checked. Counted
        // by the page and polled: an async script still pending after our
        // timeout (frames late under load) holds every later command, since
        // the client sends them one at a time.
        self.js("window.__shotFrames = 0; \
             const tick = () => { if (++window.__shotFrames < 2) requestAnimationFrame(tick); }; \
             requestAnimationFrame(tick); return true")
            .await?;
        if self
            .wait_js_value(
                "return window.__shotFrames >= 2",
                |v| v == &Value::Bool(true),
                Duration::from_secs(5),
            )
            .await?
            .is_none()
        {
            eprintln!("no frame within 5 s before screenshot {name}");
        }
        let path = artifact(name)?;
        let display = self.display.clone();
        let out = path.clone();
        tokio::task::spawn_blocking(move || x11_capture(&display, "sockscope", &out)).await??;
        Ok(path)
    }

    /// The whole X display (when the window itself cannot be found).
    pub fn screenshot_x11(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = artifact(name)?;
        x11_capture(&self.display, "root", &path)?;
        Ok(path)
    }

    /// Waits until the app's database holds, for its live session (the
    /// newest), a transition of the socket named `socket` that satisfies
    /// `pred`; the app commits in batches, so this polls within `timeout`.
    pub async fn wait_recorded_transition(
        &self,
        socket: &str,
        timeout: Duration,
        pred: impl Fn(&TransitionRecord) -> bool,
    ) -> anyhow::Result<TransitionRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = self.recorded_transitions(socket)?.into_iter().find(&pred) {
                return Ok(t);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no such transition of {socket} recorded within {timeout:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn recorded_transitions(&self, socket: &str) -> anyhow::Result<Vec<TransitionRecord>> {
        let r = RecordReader::open(&self.db)?;
        let Some(live) = r.sessions()?.into_iter().map(|s| s.tag.id).max() else {
            return Ok(Vec::new());
        };
        let Some(id) = r
            .sockets(live)?
            .into_iter()
            .find(|s| s.config.name == socket)
            .map(|s| s.socket_id)
        else {
            return Ok(Vec::new());
        };
        let page = r.events(&WindowQuery::whole_session(live, 100_000))?;
        Ok(page
            .events
            .into_iter()
            .filter(|e| e.socket_id == id)
            .filter_map(|e| match e.body {
                EventBody::Transition(t) => Some(t),
                _ => None,
            })
            .collect())
    }

    pub async fn stop(mut self) {
        // Bounded: a wedged WebDriver must not hang CI; stopping the driver
        // below ends the app either way.
        let closed =
            tokio::time::timeout(Duration::from_secs(20), self.client.clone().close()).await;
        if closed.is_err() {
            eprintln!("WebDriver did not close its session within 20 s");
        }
        terminate(&mut self.driver, "tauri-driver");
        if let Some(mut x) = self.xvfb.take() {
            terminate(&mut x, "Xvfb");
        }
    }
}
