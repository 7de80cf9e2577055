//! A stand-in desktop for the app under Xvfb: a private D-Bus session bus
//! on which this test owns the notification daemon
//! (`org.freedesktop.Notifications`) and the tray host
//! (`org.kde.StatusNotifierWatcher`). The app talks to them exactly as it
//! would to a real desktop's, so the tests see what a person would see:
//! each notification's title and body, and the tray item's label and menu.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, interface};

/// One notification as the daemon received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub summary: String,
    pub body: String,
}

/// What the desktop has seen so far; every change bumps `changed`.
#[derive(Default)]
struct Seen {
    notifications: Vec<Shown>,
    /// The registered tray item: its bus name and object path.
    tray_item: Option<(String, String)>,
}

pub struct Desktop {
    /// The bus address, for the app's `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    daemon: Child,
    conn: Connection,
    seen: Arc<Mutex<Seen>>,
    changed: watch::Receiver<u64>,
}

struct Notifications {
    seen: Arc<Mutex<Seen>>,
    changed: watch::Sender<u64>,
}

#[interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.seen.lock().unwrap();
        seen.notifications.push(Shown { summary, body });
        self.changed.send_modify(|n| *n += 1);
        seen.notifications.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "sockscope-e2e".into(),
            "sockscope".into(),
            "0".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

struct TrayHost {
    seen: Arc<Mutex<Seen>>,
    changed: watch::Sender<u64>,
}

#[interface(name = "org.kde.StatusNotifierWatcher")]
impl TrayHost {
    async fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        // The item names either its object path (on the caller's
        // connection) or a bus name (at the default path).
        let (bus, path) = if service.starts_with('/') {
            (sender, service)
        } else {
            (service, "/StatusNotifierItem".to_owned())
        };
        let id = format!("{bus}{path}");
        self.seen.lock().unwrap().tray_item = Some((bus, path));
        self.changed.send_modify(|n| *n += 1);
        Self::status_notifier_item_registered(&emitter, &id).await?;
        Ok(())
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.tray_item
            .iter()
            .map(|(b, p)| format!("{b}{p}"))
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

impl Desktop {
    /// Starts `dbus-daemon --session` and takes the two names on it.
    pub async fn start() -> anyhow::Result<Desktop> {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("dbus-daemon: {e} (apt-get install dbus; scripts/test.sh does)")
            })?;
        let stdout = daemon.stdout.take().expect("piped stdout");
        // It prints its address once it listens.
        let address = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await??
        .trim()
        .to_owned();
        anyhow::ensure!(!address.is_empty(), "dbus-daemon printed no address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, changed) = watch::channel(0u64);
        let conn = zbus::connection::Builder::address(address.as_str())?
            .name("org.freedesktop.Notifications")?
            .name("org.kde.StatusNotifierWatcher")?
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications {
                    seen: seen.clone(),
                    changed: tx.clone(),
                },
            )?
            .serve_at(
                "/StatusNotifierWatcher",
                TrayHost {
                    seen: seen.clone(),
                    changed: tx,
                },
            )?
            .build()
            .await?;
        Ok(Desktop {
            address,
            daemon,
            conn,
            seen,
            changed,
        })
    }

    /// Waits, change by change, until `find` finds what it looks for in
    /// what the desktop has seen; `None` once `deadline` has passed.
    async fn wait_seen<T>(
        &self,
        deadline: Instant,
        find: impl Fn(&Seen) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.changed.clone();
        loop {
            let found = find(&self.seen.lock().unwrap());
            if found.is_some() {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, changed.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// Waits until the notifications shown so far satisfy `pred`.
    pub async fn wait_notifications(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Shown]) -> bool,
    ) -> anyhow::Result<Vec<Shown>> {
        let deadline = Instant::now() + timeout;
        let found = self
            .wait_seen(deadline, |s| {
                pred(&s.notifications).then(|| s.notifications.clone())
            })
            .await;
        found.ok_or_else(|| {
            let shown = self.seen.lock().unwrap().notifications.clone();
            anyhow::anyhow!("timed out after {timeout:?} waiting for {what}; shown: {shown:?}")
        })
    }

    /// Waits for the tray item to register, then until its label (what the
    /// tray shows next to the icon) satisfies `pred`; returns the label.
    pub async fn wait_tray_label(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        let (bus, path) = self
            .wait_seen(deadline, |s| s.tray_item.clone())
            .await
            .ok_or_else(|| anyhow::anyhow!("no tray item registered within {timeout:?}"))?;
        let item = self.tray_item(&bus, &path).await?;
        // Subscribe before reading, so no change falls in between.
        let mut relabelled = item.receive_signal("XAyatanaNewLabel").await?;
        loop {
            let label = item.get_property::<String>("XAyatanaLabel").await?;
            if pred(&label) {
                return Ok(label);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, relabelled.next()).await {
                Ok(Some(_)) => {}
                Ok(None) => anyhow::bail!("the tray item left the bus; last label {label:?}"),
                Err(_) => {
                    anyhow::bail!("tray label never matched within {timeout:?}; last: {label:?}")
                }
            }
        }
    }

    /// The labels of the tray item's menu entries.
    pub async fn tray_menu(&self) -> anyhow::Result<Vec<String>> {
        let (bus, path) = self
            .seen
            .lock()
            .unwrap()
            .tray_item
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no tray item"))?;
        let item = self.tray_item(&bus, &path).await?;
        let menu_path: zbus::zvariant::OwnedObjectPath = item.get_property("Menu").await?;
        let menu = zbus::Proxy::new(
            &self.conn,
            bus.as_str(),
            menu_path.as_str(),
            "com.canonical.dbusmenu",
        )
        .await?;
        type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);
        let (_rev, (_id, _props, children)): (u32, Layout) = menu
            .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .await?;
        let mut labels = Vec::new();
        for child in children {
            let (_id, props, _): Layout = child.try_into()?;
            if let Some(l) = props.get("label") {
                labels.push(String::try_from(l.try_clone()?)?);
            }
        }
        Ok(labels)
    }

    /// A proxy to the tray item that reads properties afresh each time:
    /// the item announces a new label by its own signal, not by
    /// PropertiesChanged, so a cached value would go stale.
    async fn tray_item(&self, bus: &str, path: &str) -> anyhow::Result<zbus::Proxy<'static>> {
        Ok(zbus::proxy::Builder::new(&self.conn)
            .destination(bus.to_owned())?
            .path(path.to_owned())?
            .interface("org.kde.StatusNotifierItem")?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?)
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
