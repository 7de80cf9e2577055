//! The TOML file of job sockets (`docs/config.example.toml` shows every key).
//! Every error names the file and the line; an inline token is allowed but
//! warned about, and never repeated in a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sockscope_engine::dialect::{CloseRule, DialectOptions};
use sockscope_engine::{
    AdapterKind, HeartbeatPolicy, ReconnectPolicy, SocketConfig, StaticToken, Token, TokenFuture,
    TokenPlacement, TokenSource,
};
use sockscope_protocol::JobKind;
use toml::Spanned;

use crate::CoreError;

/// Where a socket's token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSpec {
    /// No token.
    None,
    /// Written in the config file. Works, and is warned about.
    Inline(Token),
    /// Read from this environment variable at each connect.
    Env(String),
    /// Read from this file at each connect (trailing whitespace trimmed; a
    /// regular file of at most [`FILE_TOKEN_MAX`] bytes).
    File(PathBuf),
    /// Read from the OS keyring entry of this job.
    Keyring {
        /// The job whose token it is.
        job_id: String,
    },
}

/// Ask a test backend to create the job (`POST /api/jobs`) when the socket
/// is added; its answer supplies the job id and the token.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJob {
    /// Job kind.
    pub kind: JobKind,
    /// Items.
    pub total_count: u64,
    /// Fault knobs for the simulator, as JSON.
    pub faults: Option<serde_json::Value>,
}

/// Makes the token source of a [`TokenSpec::Keyring`] entry for a job.
pub type KeyringSource<'a> = &'a dyn Fn(&str) -> Result<Arc<dyn TokenSource>, CoreError>;

/// One socket, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketSpec {
    /// Display name. Default: the job id.
    pub name: Option<String>,
    /// `ws://` or `wss://` URL, without a token.
    pub url: String,
    /// The protocol it speaks (its dialect). Default `job`.
    pub adapter: AdapterKind,
    /// The dialect's options. Defaults in [`DialectOptions`].
    pub dialect: DialectOptions,
    /// Job id (or `jobId=` in the URL, or `create`).
    pub job_id: Option<String>,
    /// Create the job first through `POST /api/jobs`.
    pub create: Option<CreateJob>,
    /// Token source. Default none.
    pub token: TokenSpec,
    /// Where the token travels. Default the `Authorization` header; a token
    /// taken out of the URL goes back where it was found (the query).
    pub token_placement: TokenPlacement,
    /// The query parameter of [`TokenPlacement::Query`]. Default `token`;
    /// a token taken out of the URL keeps its parameter's name.
    pub token_param: Option<String>,
    /// Reconnect policy. Default: 1 s doubling to 30 s, 5 retries, jitter.
    pub reconnect: ReconnectPolicy,
    /// Heartbeat. Default: ping every 15 s, 10 s to answer.
    pub heartbeat: HeartbeatPolicy,
    /// Line of the `[[socket]]` table in its file, for error messages.
    pub line: Option<usize>,
}

impl SocketSpec {
    /// A job socket with every default.
    pub fn job(url: impl Into<String>) -> SocketSpec {
        SocketSpec {
            name: None,
            url: url.into(),
            adapter: AdapterKind::Job,
            dialect: DialectOptions::default(),
            job_id: None,
            create: None,
            token: TokenSpec::None,
            token_placement: TokenPlacement::Header,
            token_param: None,
            reconnect: ReconnectPolicy::default(),
            heartbeat: HeartbeatPolicy::default(),
            line: None,
        }
    }

    /// Moves a token found in the URL's query (`token=`, `access_token=`…,
    /// see [`sockscope_engine::URL_SECRET_PARAMS`]) into an in-memory
    /// source, so the URL that is kept, shown and recorded holds none.
    /// `placement` is where the token then travels; `None` keeps it in the
    /// query under the same name. Returns the one-line warning to show, or
    /// `None` when the URL held no token. A URL token beside another token
    /// source is refused: which one is meant is anyone's guess.
    pub fn take_url_token(
        &mut self,
        placement: Option<TokenPlacement>,
    ) -> Result<Option<String>, CoreError> {
        let Some(found) = sockscope_engine::take_url_token(&self.url)? else {
            return Ok(None);
        };
        if self.token != TokenSpec::None {
            return Err(sockscope_engine::Error::InvalidConfig {
                field: "url",
                reason: format!(
                    "holds a token in `{}=` and a token source is also given; keep one",
                    found.param
                ),
            }
            .into());
        }
        self.url = found.url;
        self.token = TokenSpec::Inline(found.token);
        self.token_placement = placement.unwrap_or(TokenPlacement::Query);
        let travels = match self.token_placement {
            TokenPlacement::Query => format!("sent as `{}=` at connect", found.param),
            TokenPlacement::Header => "sent as a bearer header".to_owned(),
        };
        self.token_param = Some(found.param);
        Ok(Some(format!(
            "the URL held a token in `{}=`: it is kept in memory only and {travels}; \
             pass it through a token source (--token-env, token = {{ env = \"VAR\" }}) instead",
            self.token_param.as_deref().unwrap_or("token")
        )))
    }

    /// The engine's config for this socket, with its token source resolved.
    /// `keyring` makes the source for [`TokenSpec::Keyring`].
    pub fn socket_config(&self, keyring: KeyringSource<'_>) -> Result<SocketConfig, CoreError> {
        let mut c = SocketConfig::job(self.url.clone());
        c.adapter = self.adapter;
        c.dialect = self.dialect.clone();
        c.name = self.name.clone();
        c.job_id = self.job_id.clone();
        c.token_placement = self.token_placement;
        if let Some(p) = &self.token_param {
            c.token_param = p.clone();
        }
        c.reconnect = self.reconnect.clone();
        c.heartbeat = self.heartbeat.clone();
        c.token = match &self.token {
            TokenSpec::None => None,
            TokenSpec::Inline(t) => Some(Arc::new(StaticToken::new(t.expose()))),
            TokenSpec::Env(var) => Some(Arc::new(sockscope_engine::EnvToken::new(var.clone()))),
            TokenSpec::File(path) => Some(Arc::new(FileToken::new(path.clone()))),
            TokenSpec::Keyring { job_id } => Some(keyring(job_id)?),
        };
        Ok(c)
    }
}

/// The largest token file read: 64 KiB. A token is a few hundred bytes; a
/// bigger file is a mistake (or `/dev/zero`), refused before it is read.
pub const FILE_TOKEN_MAX: u64 = 64 * 1024;

/// A token read from a file at each connect, so a rotated file is picked up.
/// Only a regular file (or a link to one) of at most [`FILE_TOKEN_MAX`]
/// bytes is read: a FIFO would park the reader until someone writes, a
/// device may never end.
#[derive(Debug, Clone)]
pub struct FileToken {
    path: PathBuf,
}

impl FileToken {
    /// Reads `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileToken {
        FileToken { path: path.into() }
    }
}

impl TokenSource for FileToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let unavailable = |reason: String| sockscope_engine::Error::TokenUnavailable {
                source_name: self.describe(),
                reason,
            };
            let text = read_token_file(&self.path).await.map_err(unavailable)?;
            let token = text.trim_end();
            if token.is_empty() {
                return Err(unavailable("the file is empty".into()));
            }
            Ok(Token::new(token))
        })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

/// Reads a token file: a regular file, at most [`FILE_TOKEN_MAX`] bytes,
/// UTF-8. The error says why not, never what the file holds.
async fn read_token_file(path: &Path) -> Result<String, String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_token_file_now(&path))
        .await
        .map_err(|e| format!("the read was cancelled ({e})"))?
}

fn read_token_file_now(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let kind = |e: std::io::Error| e.kind().to_string();
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    // Opening a FIFO for reading waits for a writer; non-blocking, it
    // returns at once and the check below refuses it. Regular files
    // ignore the flag.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = opts.open(path).map_err(kind)?;
    // What was opened, not what the path named a moment before.
    let meta = file.metadata().map_err(kind)?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, device or directory is refused)".into());
    }
    if meta.len() > FILE_TOKEN_MAX {
        return Err(format!(
            "the file is larger than {FILE_TOKEN_MAX} bytes; a token file holds only the token"
        ));
    }
    // The file may grow after the check: read one byte past the cap to tell.
    let mut bytes = Vec::new();
    file.take(FILE_TOKEN_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(kind)?;
    if bytes.len() as u64 > FILE_TOKEN_MAX {
        return Err(format!("the file is larger than {FILE_TOKEN_MAX} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}

/// A warning about a config that works but should not be left so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Line in the file.
    pub line: usize,
    /// What to change.
    pub message: String,
}

/// A loaded, checked config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The sockets, in file order.
    pub sockets: Vec<SocketSpec>,
    /// Things that work but should change.
    pub warnings: Vec<ConfigWarning>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    socket: Vec<Spanned<SocketShape>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SocketShape {
    name: Option<String>,
    url: Spanned<String>,
    #[serde(default)]
    adapter: Option<Spanned<String>>,
    #[serde(default)]
    dialect: Option<Spanned<toml::Value>>,
    job_id: Option<String>,
    create: Option<CreateShape>,
    token: Option<Spanned<TokenShape>>,
    token_placement: Option<Spanned<String>>,
    reconnect: Option<ReconnectShape>,
    heartbeat: Option<HeartbeatShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateShape {
    kind: JobKind,
    total_count: u64,
    faults: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenShape {
    Inline(String),
    Source(TokenSourceShape),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSourceShape {
    env: Option<String>,
    file: Option<PathBuf>,
    keyring: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconnectShape {
    base_ms: Option<u64>,
    cap_ms: Option<u64>,
    factor: Option<u32>,
    max_attempts: Option<u32>,
    jitter: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatShape {
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, CoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io {
            what: format!("reading config {}", path.display()),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Checks `text`, as read from `path` (named in errors only).
    pub fn parse(text: &str, path: &Path) -> Result<Config, CoreError> {
        let err = |span: Option<std::ops::Range<usize>>, message: String| CoreError::Config {
            path: path.to_owned(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            message,
        };
        let shape: FileShape = toml::from_str(text).map_err(|e| {
            // The parser's message may quote the offending text, which could
            // be an inline token: keep only its description line.
            // The first line may still quote a bad value (`invalid type:
            // string "…"`): it goes through the scrubber too.
            let message = sockscope_recorder::redact::free_text(
                e.message().lines().next().unwrap_or("invalid TOML"),
            );
            err(e.span(), message)
        })?;
        let mut sockets = Vec::new();
        let mut warnings = Vec::new();
        for entry in shape.socket {
            let span = entry.span();
            let line = line_of(text, span.start);
            let s = entry.into_inner();
            let at = |sp: std::ops::Range<usize>, m: String| err(Some(sp), m);
            let mut spec = SocketSpec::job(s.url.get_ref().clone());
            spec.line = Some(line);
            spec.name = s.name;
            spec.job_id = s.job_id;
            if let Some(a) = &s.adapter {
                spec.adapter = parse_dialect_name(a.get_ref()).map_err(|m| at(a.span(), m))?;
            }
            if let Some(d) = &s.dialect {
                if s.adapter.is_some() {
                    return Err(at(
                        d.span(),
                        "give either adapter or dialect, not both".into(),
                    ));
                }
                (spec.adapter, spec.dialect) =
                    parse_dialect(d.get_ref()).map_err(|m| at(d.span(), m))?;
            }
            if let Some(p) = &s.token_placement {
                spec.token_placement = match p.get_ref().as_str() {
                    "header" => TokenPlacement::Header,
                    "query" => TokenPlacement::Query,
                    other => {
                        return Err(at(
                            p.span(),
                            format!("token_placement must be `header` or `query`, not `{other}`"),
                        ));
                    }
                };
            }
            let url_line = line_of(text, s.url.span().start);
            if let Some(t) = s.token {
                let tspan = t.span();
                spec.token = match t.into_inner() {
                    TokenShape::Inline(secret) => {
                        warnings.push(ConfigWarning {
                            line: line_of(text, tspan.start),
                            message: "a token is written in the file; use { env = \"VAR\" }, \
                                      { file = \"PATH\" } or { keyring = \"JOB\" } instead"
                                .into(),
                        });
                        TokenSpec::Inline(Token::new(secret))
                    }
                    TokenShape::Source(src) => match (src.env, src.file, src.keyring) {
                        (Some(v), None, None) => TokenSpec::Env(v),
                        (None, Some(f), None) => TokenSpec::File(f),
                        (None, None, Some(k)) => TokenSpec::Keyring { job_id: k },
                        _ => {
                            return Err(at(
                                tspan,
                                "token takes exactly one of env, file or keyring".into(),
                            ));
                        }
                    },
                };
            }
            let placement = s.token_placement.is_some().then_some(spec.token_placement);
            match spec.take_url_token(placement) {
                Ok(Some(message)) => warnings.push(ConfigWarning {
                    line: url_line,
                    message,
                }),
                Ok(None) => {}
                Err(CoreError::Engine(sockscope_engine::Error::InvalidConfig {
                    field,
                    reason,
                })) => {
                    return Err(at(s.url.span(), format!("{field}: {reason}")));
                }
                Err(e) => return Err(e),
            }
            if let Some(c) = s.create {
                let faults = match c.faults {
                    Some(t) => Some(
                        serde_json::to_value(t)
                            .map_err(|e| err(Some(span.clone()), format!("create.faults: {e}")))?,
                    ),
                    None => None,
                };
                spec.create = Some(CreateJob {
                    kind: c.kind,
                    total_count: c.total_count,
                    faults,
                });
            }
            if let Some(r) = s.reconnect {
                let d = ReconnectPolicy::default();
                spec.reconnect = ReconnectPolicy {
                    base: r.base_ms.map_or(d.base, Duration::from_millis),
                    cap: r.cap_ms.map_or(d.cap, Duration::from_millis),
                    factor: r.factor.unwrap_or(d.factor),
                    max_attempts: r.max_attempts.unwrap_or(d.max_attempts),
                    jitter: r.jitter.unwrap_or(d.jitter),
                };
            }
            if let Some(h) = s.heartbeat {
                let d = HeartbeatPolicy::default();
                spec.heartbeat = HeartbeatPolicy {
                    interval: h.interval_ms.map_or(d.interval, Duration::from_millis),
                    timeout: h.timeout_ms.map_or(d.timeout, Duration::from_millis),
                };
            }
            // The engine's own check, with a placeholder job id for sockets
            // whose job is created when they are added.
            let mut check = spec.clone();
            if check.create.is_some() && check.job_id.is_none() {
                check.job_id = Some("to-be-created".into());
            }
            let placeholder = |_: &str| -> Result<Arc<dyn TokenSource>, CoreError> {
                Ok(Arc::new(StaticToken::new("placeholder")))
            };
            let cfg = check.socket_config(&placeholder)?;
            if let Err(sockscope_engine::Error::InvalidConfig { field, reason }) = cfg.validate() {
                let sp = if field == "url" {
                    s.url.span()
                } else {
                    span.clone()
                };
                return Err(at(sp, format!("{field}: {reason}")));
            }
            sockets.push(spec);
        }
        Ok(Config { sockets, warnings })
    }
}

fn parse_dialect_name(name: &str) -> Result<AdapterKind, String> {
    AdapterKind::parse(name).ok_or_else(|| {
        let all: Vec<&str> = AdapterKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("dialect must be one of {}, not `{name}`", all.join(", "))
    })
}

/// `dialect = "socketio"`, or a table: `kind` plus the dialect's options.
fn parse_dialect(v: &toml::Value) -> Result<(AdapterKind, DialectOptions), String> {
    let mut o = DialectOptions::default();
    let table = match v {
        toml::Value::String(name) => return Ok((parse_dialect_name(name)?, o)),
        toml::Value::Table(t) => t,
        _ => return Err("dialect must be a name or a table with `kind`".into()),
    };
    let text = |key: &str, v: &toml::Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("dialect.{key} must be a string"))
    };
    let mut kind = None;
    for (key, value) in table {
        match key.as_str() {
            "kind" => kind = Some(parse_dialect_name(&text(key, value)?)?),
            "namespace" => o.namespace = text(key, value)?,
            "progress_event" => o.progress_event = text(key, value)?,
            "complete_event" => o.complete_event = text(key, value)?,
            "failed_event" => o.failed_event = text(key, value)?,
            "processed" => o.processed = Some(text(key, value)?),
            "total" => o.total = Some(text(key, value)?),
            "query" => o.query = Some(text(key, value)?),
            "type" => o.type_field = Some(text(key, value)?),
            "topic" => o.topic = Some(text(key, value)?),
            "params" => {
                o.params = Some(match value {
                    toml::Value::String(s) => s.clone(),
                    other => {
                        serde_json::to_string(other).map_err(|e| format!("dialect.params: {e}"))?
                    }
                })
            }
            "ready" => o.ready = Some(text(key, value)?),
            "ready_ack" => o.ready_ack = Some(text(key, value)?),
            "failed_code" => o.failed_code = Some(text(key, value)?),
            "seq" => o.seq = Some(text(key, value)?),
            "resume_query" => o.resume_query = Some(text(key, value)?),
            "ping" => o.ping = Some(text(key, value)?),
            "pong" => o.pong = Some(text(key, value)?),
            "close_codes" => {
                let t = value
                    .as_table()
                    .ok_or("dialect.close_codes must be a table of code = \"rule\"")?;
                for (code, rule) in t {
                    let code: u16 = code.parse().map_err(|_| {
                        format!("dialect.close_codes: `{code}` is not a close code")
                    })?;
                    let name = rule.as_str().unwrap_or_default();
                    let rule = CloseRule::parse(name).ok_or_else(|| {
                        let all: Vec<&str> = CloseRule::ALL.iter().map(|(_, n)| *n).collect();
                        format!(
                            "dialect.close_codes.{code} must be one of {}, not `{name}`",
                            all.join(", ")
                        )
                    })?;
                    o.close_codes.push((code, rule));
                }
            }
            "variables" => {
                o.variables = Some(match value {
                    toml::Value::String(s) => s.clone(),
                    other => serde_json::to_string(other)
                        .map_err(|e| format!("dialect.variables: {e}"))?,
                })
            }
            other => {
                return Err(format!(
                    "unknown dialect option `{other}` (known: kind, namespace, progress_event, \
                     complete_event, failed_event, processed, total, query, variables, type, \
                     ready, ready_ack, failed_code, seq, close_codes, resume_query, ping, pong, \
                     topic, params)"
                ));
            }
        }
    }
    let kind = kind.ok_or("the dialect table needs `kind`, e.g. kind = \"socketio\"")?;
    Ok((kind, o))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where the database lives unless told otherwise: the platform data dir
/// (`~/.local/share/sockscope/sockscope.db` on Linux).
pub fn default_db_path() -> Result<PathBuf, CoreError> {
    let dirs = directories::ProjectDirs::from("", "", "sockscope").ok_or(CoreError::NoDataDir)?;
    Ok(dirs.data_dir().join("sockscope.db"))
}
