//! OpenTelemetry: an OTLP tracer provider (gRPC or HTTP/protobuf) with a
//! batch processor, the live per-socket traces built on it, and a
//! `tracing` layer on the same provider for the app's own spans.
//!
//! Socket traces are built with the OpenTelemetry API directly, not through
//! `tracing`: their spans carry explicit start and end times taken from the
//! events, and deterministic ids (see [`crate::trace`]) so that a live trace
//! and an export of the same session from SQLite agree. The ids are handed
//! to the SDK through an id generator that takes them from a thread-local
//! slot while a socket span is built, and is random otherwise.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, SdkTracer,
    SdkTracerProvider,
};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use sockscope_engine::Event;
use tokio::sync::{mpsc, watch};

use crate::record::{EventRecord, wall_ns};
use crate::store::SessionTag;
use crate::trace::{AttrValue, MAX_EVENTS_PER_SPAN, SpanRecord, TraceBuilder};
use crate::{Error, redact};

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
}

/// OpenTelemetry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Transport. Default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else HTTP/protobuf (the OTel default).
    pub protocol: OtlpProtocol,
    /// Collector endpoint. `None` (the default) leaves it to the exporter,
    /// which reads `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, else uses localhost:4317 or
    /// http://localhost:4318/v1/traces. Headers and timeout come from the
    /// standard variables too. For HTTP, give the full `/v1/traces` URL.
    pub endpoint: Option<String>,
    /// `service.name`. Default: `OTEL_SERVICE_NAME`, else `sockscope`.
    pub service_name: String,
    /// How often the batch processor exports. Default 1 s, so a transition
    /// reaches the collector well within 5 s; `OTEL_BSP_SCHEDULE_DELAY`
    /// (ms) may lower it, and is capped at 4 s.
    pub scheduled_delay: Duration,
    /// Spans the batch processor holds before it drops. Default 65 536
    /// (`OTEL_BSP_MAX_QUEUE_SIZE` may change it).
    pub max_queue_size: usize,
}

/// Default `service.name`.
pub const DEFAULT_SERVICE_NAME: &str = "sockscope";

/// Upper bound on the export delay, to keep the 5 s promise.
const MAX_SCHEDULED_DELAY: Duration = Duration::from_secs(4);

impl TelemetryConfig {
    /// Settings from the standard environment variables.
    pub fn from_env() -> TelemetryConfig {
        TelemetryConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Settings from `lookup` (a stand-in for the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> TelemetryConfig {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let protocol = match get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            Some("grpc") => OtlpProtocol::Grpc,
            Some("http/protobuf") | None => OtlpProtocol::HttpProtobuf,
            Some(other) => {
                tracing::warn!(
                    protocol = other,
                    "unsupported OTLP protocol; using http/protobuf"
                );
                OtlpProtocol::HttpProtobuf
            }
        };
        let scheduled_delay = get("OTEL_BSP_SCHEDULE_DELAY")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(1))
            .min(MAX_SCHEDULED_DELAY);
        TelemetryConfig {
            protocol,
            endpoint: None,
            service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
            scheduled_delay,
            max_queue_size: get("OTEL_BSP_MAX_QUEUE_SIZE")
                .and_then(|v| v.parse().ok())
                .unwrap_or(65_536),
        }
    }
}

thread_local! {
    static NEXT_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Random ids, except for a socket span being built on this thread.
#[derive(Debug, Default)]
struct SocketIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for SocketIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        match NEXT_IDS.with(|c| c.get()) {
            Some((t, _)) => t,
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match NEXT_IDS.with(|c| c.get()) {
            Some((_, s)) => s,
            None => self.random.new_span_id(),
        }
    }
}

/// What the exporter has done with the spans handed to it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Spans the collector accepted.
    pub delivered: u64,
    /// Spans in exports that failed (unreachable, refused, timed out).
    pub failed: u64,
    /// The first failure, scrubbed.
    pub first_error: Option<String>,
}

/// The OTLP exporter, counting what it delivers.
#[derive(Debug)]
struct CountingExporter {
    inner: opentelemetry_otlp::SpanExporter,
    delivery: watch::Sender<Delivery>,
}

impl SpanExporter for CountingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.len() as u64;
        let sent = self.inner.export(batch);
        let delivery = self.delivery.clone();
        async move {
            let result = sent.await;
            delivery.send_modify(|d| match &result {
                Ok(()) => d.delivered += n,
                Err(e) => {
                    d.failed += n;
                    if d.first_error.is_none() {
                        d.first_error = Some(redact::free_text(&e.to_string()));
                    }
                }
            });
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// An installed OTLP tracer provider. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    service_name: Arc<str>,
    delivery: watch::Receiver<Delivery>,
}

impl Telemetry {
    /// Builds the exporter, batch processor and provider. Call inside a
    /// tokio runtime that outlives the provider (gRPC needs it). Does not
    /// connect: a collector that is down only costs dropped exports.
    pub fn install(config: &TelemetryConfig) -> Result<Telemetry, Error> {
        // The HTTP client (reqwest) needs a process-wide rustls provider; an
        // app that set one keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let err = |e: opentelemetry_otlp::ExporterBuildError| Error::Telemetry(e.to_string());
        let exporter = match config.protocol {
            OtlpProtocol::Grpc => {
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_protocol(Protocol::Grpc);
                if let Some(e) = &config.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                b.build().map_err(err)?
            }
            OtlpProtocol::HttpProtobuf => {
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary);
                if let Some(e) = &config.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                b.build().map_err(err)?
            }
        };
        let (delivery_tx, delivery) = watch::channel(Delivery::default());
        let exporter = CountingExporter {
            inner: exporter,
            delivery: delivery_tx,
        };
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(config.scheduled_delay)
            .with_max_queue_size(config.max_queue_size)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .with_id_generator(SocketIdGenerator::default())
            .with_max_events_per_span(MAX_EVENTS_PER_SPAN as u32)
            .build();
        let tracer = provider.tracer("sockscope");
        Ok(Telemetry {
            provider,
            tracer,
            service_name: config.service_name.as_str().into(),
            delivery,
        })
    }

    /// Watches what the exporter has delivered, and its first failure.
    pub fn watch_delivery(&self) -> watch::Receiver<Delivery> {
        self.delivery.clone()
    }

    /// The provider, e.g. to install as the global one.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The service name spans are exported under.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// A `tracing` layer exporting the app's own spans through this
    /// provider.
    pub fn tracing_layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("sockscope.app"))
    }

    /// Turns a lossless subscription into live socket traces until the
    /// channel closes; then ends the open intervals (marked
    /// `sockscope.unfinished`) and returns how many spans it made.
    pub fn spawn_live_traces(
        &self,
        session: SessionTag,
        events: mpsc::Receiver<Arc<Event>>,
    ) -> tokio::task::JoinHandle<u64> {
        self.spawn_live_traces_from(TraceBuilder::new(session), events, std::future::pending())
    }

    /// [`Telemetry::spawn_live_traces`] with a builder of one's own, e.g.
    /// one [`TraceBuilder::resume`]d with the sockets already running, and
    /// a `stop`: once it completes, the channel is closed, so the events it
    /// already holds still become spans but the task need not wait for
    /// every sender to go (an engine's subscription outlives one export).
    pub fn spawn_live_traces_from(
        &self,
        mut builder: TraceBuilder,
        mut events: mpsc::Receiver<Arc<Event>>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<u64> {
        let telemetry = self.clone();
        tokio::spawn(async move {
            let mut spans = Vec::new();
            let mut made = 0u64;
            let mut buf = Vec::with_capacity(256);
            tokio::pin!(stop);
            let mut stopping = false;
            loop {
                tokio::select! {
                    biased;
                    () = &mut stop, if !stopping => {
                        stopping = true;
                        events.close();
                        continue;
                    }
                    n = events.recv_many(&mut buf, 256) => if n == 0 { break },
                }
                for e in buf.drain(..) {
                    // Payloads never go to traces.
                    builder.push(&EventRecord::from_event(&e, None), &mut spans);
                }
                for sp in spans.drain(..) {
                    telemetry.emit(&sp);
                    made += 1;
                }
            }
            builder.finish_all(wall_ns(SystemTime::now()), &mut spans);
            for sp in spans.drain(..) {
                telemetry.emit(&sp);
                made += 1;
            }
            made
        })
    }

    /// Hands one finished span to the batch processor.
    pub fn emit(&self, sp: &SpanRecord) {
        let trace_id = TraceId::from_bytes(sp.trace_id);
        let mut builder = self.tracer.span_builder(sp.name.clone());
        builder.start_time = Some(time(sp.start_ns));
        builder.attributes = Some(sp.attributes.iter().map(|(k, v)| kv(k, v)).collect());
        builder.events = Some(
            sp.events
                .iter()
                .map(|e| {
                    opentelemetry::trace::Event::new(
                        e.name,
                        time(e.time_ns),
                        e.attributes.iter().map(|(k, v)| kv(k, v)).collect(),
                        0,
                    )
                })
                .collect(),
        );
        let cx = match sp.parent {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(p),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        NEXT_IDS.with(|c| c.set(Some((trace_id, SpanId::from_bytes(sp.span_id)))));
        let mut span = self.tracer.build_with_context(builder, &cx);
        NEXT_IDS.with(|c| c.set(None));
        if let Some(e) = &sp.error {
            span.set_status(Status::error(e.clone()));
        }
        span.end_with_timestamp(time(sp.end_ns));
    }

    /// Exports what is queued now.
    pub fn flush(&self) -> Result<(), Error> {
        self.provider
            .force_flush()
            .map_err(|e| Error::Telemetry(e.to_string()))
    }

    /// Flushes and shuts the provider down. Blocks: from async code, call
    /// it in `spawn_blocking`.
    pub fn shutdown(&self) -> Result<(), Error> {
        self.provider
            .shutdown()
            .map_err(|e| Error::Telemetry(e.to_string()))
    }
}

fn time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

fn kv(k: &'static str, v: &AttrValue) -> KeyValue {
    match v {
        AttrValue::Str(s) => KeyValue::new(k, s.clone()),
        AttrValue::Int(i) => KeyValue::new(k, *i),
        AttrValue::Bool(b) => KeyValue::new(k, *b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_variables_are_honoured() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let d = TelemetryConfig::from_lookup(env(&[]));
        assert_eq!(d.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(d.service_name, "sockscope");
        assert_eq!(d.scheduled_delay, Duration::from_secs(1));
        let c = TelemetryConfig::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "monitor-7"),
            ("OTEL_BSP_SCHEDULE_DELAY", "30000"),
        ]));
        assert_eq!(c.protocol, OtlpProtocol::Grpc);
        assert_eq!(c.service_name, "monitor-7");
        assert_eq!(c.scheduled_delay, MAX_SCHEDULED_DELAY);
        let g = TelemetryConfig::from_lookup(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
        assert_eq!(g.protocol, OtlpProtocol::Grpc);
    }
}
