//! "record…": the core's recording proxy (`sockscope record`) run from the
//! window, one at a time. Its connections are lanes of a session of their
//! own in the app's database, and its live events reach the window through
//! the same per-frame batches as the session's (`live::stream`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sockscope_core::capture::ImportOptions;
use sockscope_core::capture::fault::Fault;
use sockscope_core::capture::recording_proxy::{RecordOptions, RecordingProxy};
use sockscope_engine::AdapterKind;
use tauri::ipc::Channel;
use tokio::sync::Mutex;

use crate::error::UiError;
use crate::live::{self, Feed};
use crate::transfer::{LiveBatch, RecordRequest, RecordingEnded, RecordingStarted};

/// The running recording, if any.
#[derive(Debug, Default)]
pub struct Recording(Mutex<Option<RecordingProxy>>);

impl Recording {
    /// Starts the proxy and streams its events to `channel` until it stops.
    pub async fn start(
        &self,
        db: &std::path::Path,
        request: RecordRequest,
        channel: Channel<LiveBatch>,
    ) -> Result<RecordingStarted, UiError> {
        let mut slot = self.0.lock().await;
        if let Some(running) = slot.as_ref() {
            return Err(UiError::new(
                "recording",
                format!(
                    "a recording is already running on {} (session {}): stop it first",
                    running.local_addr(),
                    running.session_id()
                ),
            ));
        }
        let (listen, options) = options(&request)?;
        let proxy = RecordingProxy::start(listen, request.upstream.trim(), db, options).await?;
        let feed = Feed {
            events: proxy.subscribe_live(),
            first: None,
            missed: 0,
        };
        let started = RecordingStarted {
            session_id: proxy.session_id(),
            listen: proxy.local_addr().to_string(),
            upstream: proxy.upstream().to_owned(),
            now: proxy.now().0,
        };
        // The recording's clock, for the batches' "now".
        let origin = Instant::now() - Duration::from_nanos(started.now);
        let now = move || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Its lanes are not the session's sockets: no socket list.
        tauri::async_runtime::spawn(live::stream(feed, |_| true, move || (now(), None), channel));
        *slot = Some(proxy);
        Ok(started)
    }

    /// Stops the proxy and waits for its session to be written.
    pub async fn stop(&self) -> Result<RecordingEnded, UiError> {
        let proxy = self
            .0
            .lock()
            .await
            .take()
            .ok_or_else(|| UiError::new("recording", "no recording is running"))?;
        Ok(proxy.finish().await?.into())
    }

    /// Stops a running recording, if any (the app is exiting).
    pub async fn stop_if_running(&self) {
        if self.0.lock().await.is_some()
            && let Err(e) = self.stop().await
        {
            tracing::warn!("stopping the recording: {e}");
        }
    }
}

/// The request's address and options, or what is wrong with them.
fn options(request: &RecordRequest) -> Result<(SocketAddr, RecordOptions), UiError> {
    let listen = request.listen.trim();
    let listen: SocketAddr = listen.parse().map_err(|_| {
        UiError::new(
            "bad_request",
            format!("listen `{listen}` is not an address such as 127.0.0.1:9000"),
        )
    })?;
    let dialect = match request.dialect.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(
            AdapterKind::parse(name)
                .ok_or_else(|| UiError::new("bad_request", format!("unknown dialect `{name}`")))?,
        ),
    };
    let faults = request
        .faults
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .map(Fault::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        listen,
        RecordOptions {
            dialect: ImportOptions {
                dialect,
                ..ImportOptions::default()
            },
            faults,
            upstream_ca: request
                .upstream_ca
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from),
            ..RecordOptions::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::options;
    use crate::transfer::RecordRequest;

    fn request(
        listen: &str,
        dialect: Option<&str>,
        faults: &[&str],
        ca: Option<&str>,
    ) -> RecordRequest {
        RecordRequest {
            listen: listen.into(),
            upstream: "ws://127.0.0.1:9".into(),
            dialect: dialect.map(str::to_owned),
            faults: faults.iter().map(|f| f.to_string()).collect(),
            upstream_ca: ca.map(str::to_owned),
        }
    }

    #[test]
    fn a_bad_request_is_refused_with_what_is_wrong() {
        let e = options(&request("localhost", None, &[], None)).unwrap_err();
        assert_eq!(e.code, "bad_request");
        assert!(e.message.contains("`localhost`"), "{e}");
        let e = options(&request("127.0.0.1:0", Some("shout"), &[], None)).unwrap_err();
        assert!(e.message.contains("unknown dialect `shout`"), "{e}");
        let e = options(&request(
            "127.0.0.1:0",
            None,
            &["in:/type=x:close=1006"],
            None,
        ))
        .unwrap_err();
        assert_eq!(e.code, "fault_spec");
        assert!(e.message.contains("close=1006"), "{e}");
        let (addr, o) = options(&request(
            "127.0.0.1:0",
            Some("job"),
            &["in:*:drop:nth=2", " "],
            Some(" /etc/own-ca.pem "),
        ))
        .unwrap();
        assert_eq!(addr.port(), 0);
        assert_eq!(o.faults.len(), 1);
        assert!(o.dialect.dialect.is_some());
        assert_eq!(
            o.upstream_ca.as_deref(),
            Some(std::path::Path::new("/etc/own-ca.pem"))
        );
        let (_, o) = options(&request("127.0.0.1:0", None, &[], Some(" "))).unwrap();
        assert_eq!(o.upstream_ca, None, "a blank CA field is no CA file");
    }
}
