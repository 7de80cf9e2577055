//! A real OTLP receiver for the tests: rotel-agent (`pip install rotel`),
//! started on free ports, printing every span it receives to stdout, and a
//! parser for what it prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A running rotel-agent. Killed on drop.
#[derive(Debug)]
pub struct Rotel {
    child: Child,
    lines: Receiver<String>,
    /// Everything it printed so far, ANSI codes removed.
    pub output: Vec<String>,
    /// OTLP/gRPC address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address.
    pub http: SocketAddr,
    _dir: tempfile::TempDir,
    marks: u64,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// rotel-agent from PATH; else `ROTEL_AGENT`; else the binary inside the
/// installed `rotel` Python package (pip does not link it onto PATH).
fn rotel_agent() -> PathBuf {
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("rotel-agent"))
        .find(|p| p.is_file())
    {
        return p;
    }
    if let Some(p) = std::env::var_os("ROTEL_AGENT")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return p;
    }
    let from_python = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    from_python.unwrap_or_else(|| {
        panic!("rotel-agent (the OTLP receiver these tests need) is not on PATH: install it with `pip install rotel`")
    })
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Rotel {
    /// Starts rotel-agent and waits until both receivers accept connections.
    pub fn start() -> Rotel {
        let dir = tempfile::tempdir().unwrap();
        let (grpc, http) = (free_port(), free_port());
        let mut child = Command::new(rotel_agent())
            .arg("start")
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args([
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log-verbosity",
                "detailed",
            ])
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotel-agent starts");
        let (tx, lines) = channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(strip_ansi(&line)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut rotel = Rotel {
            child,
            lines,
            output: Vec::new(),
            grpc,
            http,
            _dir: dir,
            marks: 0,
        };
        rotel.wait_for_line("rotel to start", Duration::from_secs(10), |l| {
            l.contains("Starting Rotel")
        });
        // The log line may precede the bind: wait until both ports accept.
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in [grpc, http] {
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "rotel-agent never listened on {addr}"
                );
                std::thread::yield_now();
            }
        }
        rotel
    }

    /// Reads output until a line satisfies `pred`, or panics after `limit`.
    pub fn wait_for_line(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) {
        if self.output.iter().any(|l| pred(l)) {
            return;
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.output.push(line);
                    if hit {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out after {limit:?} waiting for {what}; rotel printed:\n{}",
                    self.output.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "rotel-agent exited while waiting for {what}:\n{}",
                        self.output.join("\n")
                    )
                }
            }
        }
    }

    /// Everything printed so far, as one string.
    pub fn text(&self) -> String {
        self.output.join("\n")
    }

    /// Waits until everything rotel received before this call is printed:
    /// sends a marker span (service [`MARK_SERVICE`]) over OTLP/HTTP JSON
    /// and waits for it, as rotel prints in order.
    pub fn wait_for_everything(&mut self) {
        self.marks += 1;
        let name = format!("sockscope-test-mark-{}", self.marks);
        let body = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{MARK_SERVICE}"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"5eed0000000000000000000000000001","spanId":"{:016x}","name":"{name}","kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#,
            self.marks
        );
        let mut stream = TcpStream::connect_timeout(&self.http, Duration::from_secs(5))
            .expect("connect to rotel's OTLP/HTTP receiver");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /v1/traces HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.http,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "rotel refused the marker span: {answer}"
        );
        self.wait_for_line(&name, Duration::from_secs(10), span_line(&name));
    }
}

/// `service.name` of the spans [`Rotel::wait_for_everything`] sends.
pub const MARK_SERVICE: &str = "sockscope-test-mark";

/// Matches the line rotel prints for a span named `name`.
pub fn span_line(name: &str) -> impl FnMut(&str) -> bool + use<> {
    let want = format!("Name           : {name}");
    move |l: &str| l.trim() == want
}

/// Runs blocking receiver work (the waits above) off the async threads.
pub async fn on_rotel<T: Send + 'static>(
    mut rotel: Rotel,
    f: impl FnOnce(&mut Rotel) -> T + Send + 'static,
) -> (Rotel, T) {
    tokio::task::spawn_blocking(move || {
        let t = f(&mut rotel);
        (rotel, t)
    })
    .await
    .unwrap()
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A span as rotel printed it.
#[derive(Debug, Clone, Default)]
pub struct SeenSpan {
    /// `service.name` of its resource.
    pub service: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex parent id, empty for a root.
    pub parent_id: String,
    /// Hex span id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `STATUS_CODE_...`.
    pub status: String,
    /// Attributes, values as printed (`Str(x)`, `Int(3)`).
    pub attrs: Vec<(String, String)>,
    /// Events: name and attributes.
    pub events: Vec<(String, Vec<(String, String)>)>,
}

impl SeenSpan {
    /// An attribute's printed value.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses rotel's detailed trace output.
pub fn parse_spans(text: &str) -> Vec<SeenSpan> {
    #[derive(PartialEq)]
    enum In {
        Resource,
        Span,
        Event,
        Other,
    }
    let mut spans: Vec<SeenSpan> = Vec::new();
    let mut service = String::new();
    let mut state = In::Other;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("ResourceSpans #") {
            state = In::Resource;
            service.clear();
        } else if t.starts_with("Span #") {
            spans.push(SeenSpan {
                service: service.clone(),
                ..SeenSpan::default()
            });
            state = In::Span;
        } else if t.starts_with("SpanEvent #") {
            if let Some(s) = spans.last_mut() {
                s.events.push((String::new(), Vec::new()));
            }
            state = In::Event;
        } else if t.starts_with("ScopeSpans #") {
            state = In::Other;
        } else if let Some(kv) = t.strip_prefix("-> ") {
            let Some((k, v)) = kv.split_once(": ").or_else(|| kv.split_once(":")) else {
                continue;
            };
            let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
            match state {
                In::Resource if k == "service.name" => {
                    service = v
                        .trim_start_matches("Str(")
                        .trim_end_matches(')')
                        .to_owned()
                }
                In::Span => {
                    if let Some(s) = spans.last_mut() {
                        s.attrs.push((k, v));
                    }
                }
                In::Event => {
                    if let Some((name, attrs)) = spans.last_mut().and_then(|s| s.events.last_mut())
                    {
                        if k == "Name" {
                            *name = v;
                        } else if !matches!(k.as_str(), "Timestamp" | "DroppedAttributesCount")
                            && !k.starts_with("Attributes")
                        {
                            attrs.push((k, v));
                        }
                    }
                }
                _ => {}
            }
        } else if let Some((k, v)) = t.split_once(':') {
            let Some(s) = spans.last_mut() else { continue };
            if state != In::Span {
                continue;
            }
            let v = v.trim().to_owned();
            match k.trim() {
                "Trace ID" => s.trace_id = v,
                "Parent ID" => s.parent_id = v,
                "ID" => s.id = v,
                "Name" => s.name = v,
                "Status code" => s.status = v,
                _ => {}
            }
        }
    }
    spans
}
