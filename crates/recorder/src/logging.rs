//! The log subscriber both binaries install, so that no log line carries a
//! secret at any level.
//!
//! Two guards: the transport crates (tungstenite, hyper, reqwest, h2,
//! rustls, tonic, tower) are capped at `info` whatever `RUST_LOG` asks, as
//! at `trace` they dump raw upgrade requests and headers; and every line
//! goes through [`redact::free_text`] before it reaches stderr.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::redact;

/// Directives appended after `RUST_LOG`, so they always win for their
/// targets.
pub const TRANSPORT_CAPS: &[&str] = &[
    "tungstenite=info",
    "tokio_tungstenite=info",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
    "reqwest=info",
    "rustls=info",
    "tonic=info",
    "tower=info",
];

/// `RUST_LOG` (or `default` when it is unset or invalid) with the
/// [`TRANSPORT_CAPS`] on top.
pub fn filter(default: &str) -> EnvFilter {
    filter_from(std::env::var("RUST_LOG").ok().as_deref(), default)
}

/// [`filter`] over a given `RUST_LOG` value.
pub fn filter_from(rust_log: Option<&str>, default: &str) -> EnvFilter {
    let mut f = rust_log
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    for cap in TRANSPORT_CAPS {
        if let Ok(d) = cap.parse() {
            f = f.add_directive(d);
        }
    }
    f
}

/// The subscriber: `filter`, plain lines, each scrubbed, to `writer`.
pub fn subscriber<W>(
    filter: EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Scrubbed(writer))
        .finish()
}

/// Installs the scrubbed stderr subscriber (and the `log` bridge, so the
/// transport crates' `log` records are filtered too); a second call does
/// nothing.
pub fn init_stderr(default: &str) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = subscriber(filter(default), std::io::stderr).try_init();
}

/// Scrubs each line its inner writer gets. The fmt layer hands over one
/// whole event per write.
#[derive(Debug, Clone, Copy)]
pub struct Scrubbed<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbed<M> {
    type Writer = Scrubbed<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Scrubbed(self.0.make_writer())
    }
}

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = redact::free_text(&String::from_utf8_lossy(buf));
        self.0.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use sockscope_test_support::Captured;

    use super::*;

    #[test]
    fn at_trace_the_transport_crates_are_capped_and_every_line_is_scrubbed() {
        let out = Captured::default();
        let writer = out.clone();
        let sub = subscriber(filter_from(Some("trace"), "warn"), move || writer.clone());
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsb2cifQ.bG9nLXNpZ25hdHVyZQ";
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(
                target: "tungstenite::handshake::client",
                "Request: \"GET /ws HTTP/1.1\\r\\nauthorization: Bearer raw-upgrade-secret\""
            );
            tracing::trace!(target: "hyper_util::client", "headers: raw-upgrade-secret");
            tracing::trace!(target: "sockscope_engine::driver", "peer said {jwt}");
            tracing::info!(target: "tungstenite::protocol", "info still shows");
        });
        let text = out.text();
        assert!(!text.contains("raw-upgrade-secret"), "{text}");
        assert!(!text.contains(jwt), "{text}");
        assert!(text.contains("peer said [REDACTED]"), "{text}");
        assert!(text.contains("info still shows"), "{text}");
    }
}
