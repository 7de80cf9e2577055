//! Per-socket configuration, checked when the socket is created.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::Error;
use crate::dialect::DialectOptions;
use crate::event::{AdapterKind, Endpoint, SocketInfo};
use crate::token::{Token, TokenSource};

/// Query parameters whose value is a secret (matched without regard to
/// case): `token`, `access_token`, `id_token`, `auth`, `auth_token`,
/// `jwt`, `apikey`, `api_key`, `api-key`, `key`, `sig`, `signature`,
/// `secret` and `password`. [`take_url_token`] moves such a value out of a
/// URL; [`SocketConfig::validate`] refuses a URL that still holds one.
pub const URL_SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "auth",
    "auth_token",
    "jwt",
    "apikey",
    "api_key",
    "api-key",
    "key",
    "sig",
    "signature",
    "secret",
    "password",
];

fn is_secret_param(name: &str) -> bool {
    URL_SECRET_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// `url` without any [`URL_SECRET_PARAMS`] in its query, and whether it
/// had one. Each value taken out is remembered by [`crate::secret`], so it
/// is scrubbed wherever else it shows up. For URLs seen, not used (a
/// capture's): any number of secrets is fine.
pub fn scrub_url_secrets(url: &str) -> (String, bool) {
    let Ok(mut parsed) = Url::parse(url) else {
        return (url.to_owned(), false);
    };
    let secret = take_secret_params(&mut parsed);
    if secret.is_empty() {
        return (url.to_owned(), false);
    }
    (parsed.into(), true)
}

/// Takes every [`URL_SECRET_PARAMS`] entry out of `parsed`'s query, and
/// remembers each value as a secret at once.
fn take_secret_params(parsed: &mut Url) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let (secret, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| is_secret_param(k));
    for (_, v) in &secret {
        crate::secret::remember(v);
    }
    if !secret.is_empty() {
        if rest.is_empty() {
            parsed.set_query(None);
        } else {
            parsed
                .query_pairs_mut()
                .clear()
                .extend_pairs(rest.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
    }
    secret
}

/// A token found in a URL's query, and the URL without it.
#[derive(Debug, Clone)]
pub struct UrlToken {
    /// The URL with the parameter removed.
    pub url: String,
    /// The parameter's name as written, e.g. `access_token`.
    pub param: String,
    /// Its value, already remembered by [`crate::secret`].
    pub token: Token,
}

/// Moves a token out of `url`'s query (a URL pasted from a log or a HAR
/// file): `Ok(None)` when the query holds no [`URL_SECRET_PARAMS`] entry
/// or the text is not a URL (validation reports that), an error when it
/// holds more than one (which one is the token is anyone's guess). The
/// value is remembered as a secret at once, so nothing prints it.
pub fn take_url_token(url: &str) -> Result<Option<UrlToken>, Error> {
    let Ok(mut parsed) = Url::parse(url) else {
        return Ok(None);
    };
    let secret = take_secret_params(&mut parsed);
    let (param, value) = match secret.as_slice() {
        [] => return Ok(None),
        [one] => (one.0.clone(), one.1.clone()),
        many => {
            let names: Vec<&str> = many.iter().map(|(k, _)| k.as_str()).collect();
            return Err(Error::InvalidConfig {
                field: "url",
                reason: format!(
                    "holds several secret parameters ({}); keep one, or give the token \
                     through a token source",
                    names.join(", ")
                ),
            });
        }
    };
    if value.is_empty() {
        return Err(Error::InvalidConfig {
            field: "url",
            reason: format!("holds an empty `{param}=`"),
        });
    }
    Ok(Some(UrlToken {
        url: parsed.into(),
        param,
        token: Token::new(value),
    }))
}

/// Where the token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenPlacement {
    /// `Authorization: Bearer <token>`. The default.
    #[default]
    Header,
    /// `token=` query parameter, for legacy backends that cannot read headers.
    Query,
}

/// Reconnect policy (PROTOCOL.md rule 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// First delay ceiling. Default 1 s.
    pub base: Duration,
    /// Growth factor of the ceiling per retry. Default 2.
    pub factor: u32,
    /// Largest ceiling. Default 30 s.
    pub cap: Duration,
    /// Retries after a failed attempt before giving up. Default 5.
    pub max_attempts: u32,
    /// Full jitter: the delay is drawn uniformly from `[0, ceiling]`.
    /// Default on; off gives the ceiling itself.
    pub jitter: bool,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_secs(1),
            factor: 2,
            cap: Duration::from_secs(30),
            max_attempts: 5,
            jitter: true,
        }
    }
}

impl ReconnectPolicy {
    /// The delay ceiling before retry `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let growth = u64::from(self.factor).saturating_pow(attempt.saturating_sub(1));
        let nanos = u64::try_from(self.base.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(growth);
        Duration::from_nanos(nanos).min(self.cap)
    }
}

/// Liveness policy (PROTOCOL.md rule 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatPolicy {
    /// Time between WebSocket pings. Default 15 s.
    pub interval: Duration,
    /// Time a ping may wait for its pong. Default 10 s.
    pub timeout: Duration,
}

impl Default for HeartbeatPolicy {
    fn default() -> Self {
        HeartbeatPolicy {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Timeouts of the connection phases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP, TLS and the WebSocket handshake. Default 10 s.
    pub handshake: Duration,
    /// The longest wait from a `ready` to its `ready_ack` before `ready` is
    /// sent again. Default 5 s. An attempt waits `ready_resends + 1` of these
    /// in all before it fails.
    pub ready: Duration,
    /// The first wait for `ready_ack`; each later one doubles, up to
    /// `ready`. Default 250 ms.
    pub ready_first: Duration,
    /// From a close frame to the end of the transport. Default 5 s.
    pub close: Duration,
    /// First delay between state-sync tries; doubles. Default 500 ms.
    pub state_sync_retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            ready: Duration::from_secs(5),
            ready_first: Duration::from_millis(250),
            close: Duration::from_secs(5),
            state_sync_retry: Duration::from_millis(500),
        }
    }
}

/// A job socket, as the app describes it.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Display name, e.g. `csv_import`. Default: the job id or the host.
    pub name: Option<String>,
    /// `ws://` or `wss://` URL. Must not hold a token.
    pub url: String,
    /// The protocol it speaks (its dialect). Default `job`.
    pub adapter: AdapterKind,
    /// The dialect's options (event names, count pointers, subscription).
    pub dialect: DialectOptions,
    /// Job id, for the job adapter. Taken from the URL's `jobId` if unset.
    pub job_id: Option<String>,
    /// Where tokens come from. Default none (no auth).
    pub token: Option<Arc<dyn TokenSource>>,
    /// Where the token travels. Default the header.
    pub token_placement: TokenPlacement,
    /// The query parameter of [`TokenPlacement::Query`]. Default `token`.
    pub token_param: String,
    /// Job-state URL. Default: derived from `url` as
    /// `http(s)://host:port/api/job-state/{jobId}`.
    pub state_url: Option<String>,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
    /// Heartbeat policy.
    pub heartbeat: HeartbeatPolicy,
    /// Phase timeouts.
    pub timeouts: Timeouts,
    /// Sets the attempt's whole wait for `ready_ack`: `ready_resends + 1`
    /// ready timeouts. Default 2 (15 s with the default timeout).
    pub ready_resends: u32,
    /// Messages that may wait for Ready. Default 256.
    pub outbox_capacity: usize,
    /// Largest message accepted in either direction, in bytes. Default 1 MiB.
    /// Larger inbound frames are dropped and recorded; the connection is kept
    /// up to a hard cap of 16× this, beyond which the connection fails.
    pub max_message_size: usize,
    /// Seed of the jitter generator. Default: random.
    pub jitter_seed: Option<u64>,
}

impl SocketConfig {
    /// A job-adapter socket with every default.
    pub fn job(url: impl Into<String>) -> SocketConfig {
        SocketConfig {
            name: None,
            url: url.into(),
            adapter: AdapterKind::Job,
            dialect: DialectOptions::default(),
            job_id: None,
            token: None,
            token_placement: TokenPlacement::Header,
            token_param: "token".to_owned(),
            state_url: None,
            reconnect: ReconnectPolicy::default(),
            heartbeat: HeartbeatPolicy::default(),
            timeouts: Timeouts::default(),
            ready_resends: 2,
            outbox_capacity: 256,
            max_message_size: 1 << 20,
            jitter_seed: None,
        }
    }

    /// A raw-adapter socket with every default.
    pub fn raw(url: impl Into<String>) -> SocketConfig {
        SocketConfig {
            adapter: AdapterKind::Raw,
            ..SocketConfig::job(url)
        }
    }

    /// Checks everything; the error names the field.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let bad = |field: &'static str, reason: &str| Error::InvalidConfig {
            field,
            reason: reason.to_owned(),
        };
        // The URL may hold a token, so parse errors never echo it.
        let url = Url::parse(&self.url).map_err(|e| bad("url", &format!("not a URL ({e})")))?;
        if url.scheme() != "ws" && url.scheme() != "wss" {
            return Err(bad(
                "url",
                &format!("scheme must be ws or wss, not {}", url.scheme()),
            ));
        }
        // RFC 6455 §3: a WebSocket URI has no fragment; the handshake would
        // refuse it at every attempt. Not echoed: it may hold a token.
        if url.fragment().is_some() {
            return Err(bad(
                "url",
                "has a #fragment, which a WebSocket URL cannot carry (RFC 6455); remove it",
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| bad("url", "has no host"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("url", "has no port"))?;
        // One walk of the query: a secret refused, the first jobId kept.
        let mut url_job = None;
        for (k, v) in url.query_pairs() {
            if is_secret_param(&k) {
                return Err(bad(
                    "url",
                    &format!(
                        "holds a {k}= parameter; give the token through a token source instead \
                         (token_placement = query puts it on the URL at connect time)"
                    ),
                ));
            }
            if url_job.is_none() && k == "jobId" {
                url_job = Some(v.into_owned());
            }
        }
        let url_has_job = url_job.is_some();
        if self.token_param.is_empty() || self.token_param == "jobId" {
            return Err(bad(
                "token_param",
                "must be a non-empty name other than jobId",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("url", "holds credentials; use a token source"));
        }
        let job_id = match (&self.job_id, url_job) {
            (Some(a), Some(b)) if *a != b => {
                return Err(bad(
                    "job_id",
                    &format!("`{a}` differs from the URL's jobId `{b}`"),
                ));
            }
            (Some(a), _) => Some(a.clone()),
            (None, b) => b,
        };
        if let Some(id) = &job_id
            && (id.is_empty() || id.chars().any(|c| c.is_control() || c == '/'))
        {
            return Err(bad("job_id", "must be non-empty, without '/' or controls"));
        }
        let endpoint = Endpoint {
            scheme: url.scheme().to_owned(),
            host,
            port,
            path: url.path().to_owned(),
        };
        let mut ws_url = url;
        if self.adapter == AdapterKind::Job {
            let Some(id) = &job_id else {
                return Err(bad(
                    "job_id",
                    "the job adapter needs a job id (job_id, or jobId= in the URL)",
                ));
            };
            if !url_has_job {
                ws_url.query_pairs_mut().append_pair("jobId", id);
            }
        }
        match self.adapter {
            AdapterKind::SocketIo => {
                // Engine.IO's endpoint, over WebSocket only.
                if ws_url.path().is_empty() || ws_url.path() == "/" {
                    ws_url.set_path("/socket.io/");
                }
                if !ws_url.query_pairs().any(|(k, _)| k == "EIO") {
                    ws_url
                        .query_pairs_mut()
                        .append_pair("EIO", "4")
                        .append_pair("transport", "websocket");
                }
                let nsp = &self.dialect.namespace;
                if !(nsp.is_empty() || nsp.starts_with('/')) || nsp.contains(',') {
                    return Err(bad(
                        "dialect.namespace",
                        "must start with '/' and hold no ','",
                    ));
                }
            }
            AdapterKind::GraphqlWs => {
                if self.dialect.query.as_deref().is_none_or(str::is_empty) {
                    return Err(bad(
                        "dialect.query",
                        "graphql-ws needs the subscription document",
                    ));
                }
                if let Some(vars) = &self.dialect.variables {
                    let filled = vars.replace("{job_id}", job_id.as_deref().unwrap_or_default());
                    if !serde_json::from_str::<serde_json::Value>(&filled)
                        .is_ok_and(|v| v.is_object())
                    {
                        return Err(bad("dialect.variables", "must be a JSON object"));
                    }
                }
            }
            AdapterKind::Phoenix => {
                // The socket's WebSocket endpoint and the v2 serializer.
                let path = ws_url.path().trim_end_matches('/').to_owned();
                if !path.ends_with("/websocket") {
                    let base = if path.is_empty() { "/socket" } else { &path };
                    ws_url.set_path(&format!("{base}/websocket"));
                }
                if !ws_url.query_pairs().any(|(k, _)| k == "vsn") {
                    ws_url.query_pairs_mut().append_pair("vsn", "2.0.0");
                }
                if let Some(params) = &self.dialect.params {
                    let filled = params.replace("{job_id}", job_id.as_deref().unwrap_or_default());
                    if !serde_json::from_str::<serde_json::Value>(&filled)
                        .is_ok_and(|v| v.is_object())
                    {
                        return Err(bad("dialect.params", "must be a JSON object"));
                    }
                }
            }
            AdapterKind::Json => {
                let d = &self.dialect;
                if d.ping.is_some() && d.pong.as_deref().is_none_or(str::is_empty) {
                    return Err(bad(
                        "dialect.pong",
                        "an app-level ping needs the type of its answer",
                    ));
                }
                if d.ready.is_some() && d.ready_ack.as_deref().is_none_or(str::is_empty) {
                    return Err(bad(
                        "dialect.ready_ack",
                        "a ready message needs the type of its ack",
                    ));
                }
                if let Some(ready) = &d.ready {
                    let filled = ready.replace("{job_id}", "j").replace("{resume_from}", "1");
                    if serde_json::from_str::<serde_json::Value>(&filled).is_err() {
                        return Err(bad(
                            "dialect.ready",
                            "must be JSON once {job_id} and {resume_from} are filled in",
                        ));
                    }
                }
            }
            AdapterKind::Job | AdapterKind::Raw | AdapterKind::SignalR => {}
        }
        for (field, pointer) in [
            ("dialect.processed", &self.dialect.processed),
            ("dialect.total", &self.dialect.total),
            ("dialect.type_field", &self.dialect.type_field),
            ("dialect.failed_code", &self.dialect.failed_code),
            ("dialect.seq", &self.dialect.seq),
        ] {
            if let Some(p) = pointer
                && !p.is_empty()
                && !p.starts_with('/')
            {
                return Err(bad(
                    field,
                    "must be a JSON Pointer: empty, or starting with '/'",
                ));
            }
        }
        let state_url = match &self.state_url {
            Some(s) => {
                let u = Url::parse(s).map_err(|e| bad("state_url", &format!("not a URL ({e})")))?;
                if u.scheme() != "http" && u.scheme() != "https" {
                    return Err(bad("state_url", "scheme must be http or https"));
                }
                StateUrl::Given(u)
            }
            // Derived when first needed: most sockets never sync.
            None if self.adapter == AdapterKind::Job && job_id.is_some() => StateUrl::Derived,
            None => StateUrl::None,
        };
        let r = &self.reconnect;
        if r.base.is_zero() || r.cap < r.base {
            return Err(bad("reconnect", "needs 0 < base <= cap"));
        }
        if r.factor == 0 {
            return Err(bad("reconnect.factor", "must be at least 1"));
        }
        if self.heartbeat.interval.is_zero() || self.heartbeat.timeout.is_zero() {
            return Err(bad("heartbeat", "interval and timeout must be positive"));
        }
        let t = &self.timeouts;
        if t.handshake.is_zero()
            || t.ready.is_zero()
            || t.ready_first.is_zero()
            || t.close.is_zero()
        {
            return Err(bad("timeouts", "must be positive"));
        }
        if self.outbox_capacity == 0 {
            return Err(bad("outbox_capacity", "must be at least 1"));
        }
        if self.max_message_size < 1024 {
            return Err(bad("max_message_size", "must be at least 1024 bytes"));
        }
        let name = self
            .name
            .clone()
            .or_else(|| job_id.clone())
            .unwrap_or_else(|| endpoint.host.clone());
        let info_job_id = job_id.clone();
        Ok(ValidConfig {
            info: Arc::new(SocketInfo {
                name,
                endpoint,
                adapter: self.adapter,
                job_id,
                token_source: self.token.as_ref().map(|t| t.describe()),
            }),
            ws_url,
            state_url,
            token: self.token.clone(),
            token_placement: self.token_placement,
            token_param: self.token_param.clone(),
            machine: Arc::new(MachineConfig {
                adapter: self.adapter,
                dialect: self.dialect.clone(),
                has_token: self.token.is_some(),
                job_id: info_job_id,
                reconnect: self.reconnect.clone(),
                heartbeat: self.heartbeat.clone(),
                timeouts: self.timeouts.clone(),
                ready_resends: self.ready_resends,
                outbox_capacity: self.outbox_capacity,
                max_message_size: self.max_message_size,
                can_refresh_token: self.token.as_ref().is_some_and(|t| t.can_refresh()),
                jitter_seed: self.jitter_seed.unwrap_or_else(|| fastrand::u64(..)),
            }),
        })
    }
}

/// A checked configuration. Only [`SocketConfig::validate`] makes one.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    /// What may be recorded.
    pub info: Arc<SocketInfo>,
    /// The URL to connect to, with `jobId` and without any token.
    pub(crate) ws_url: Url,
    state_url: StateUrl,
    pub(crate) token: Option<Arc<dyn TokenSource>>,
    pub(crate) token_placement: TokenPlacement,
    pub(crate) token_param: String,
    /// What the state machine needs.
    pub machine: Arc<MachineConfig>,
}

/// Where a socket's job state is read.
#[derive(Debug, Clone)]
enum StateUrl {
    /// None: not the job adapter, or no job id.
    None,
    /// `SocketConfig::state_url`, checked.
    Given(Url),
    /// `http(s)://host:port/api/job-state/{jobId}`, from the socket's URL.
    Derived,
}

impl ValidConfig {
    /// The job-state URL, if the socket has one. Holds no token.
    pub fn state_url(&self) -> Option<Url> {
        match &self.state_url {
            StateUrl::None => None,
            StateUrl::Given(u) => Some(u.clone()),
            StateUrl::Derived => {
                let e = &self.info.endpoint;
                let scheme = if e.scheme == "wss" { "https" } else { "http" };
                // `host` keeps an IPv6 address in its brackets.
                let text = format!("{scheme}://{}:{}/api/job-state/", e.host, e.port);
                let mut u = Url::parse(&text).ok()?;
                u.path_segments_mut()
                    .ok()?
                    .pop_if_empty()
                    .push(self.info.job_id.as_deref()?);
                Some(u)
            }
        }
    }
}

/// The part of the configuration the state machine reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Protocol adapter (dialect).
    pub adapter: AdapterKind,
    /// The dialect's options.
    pub dialect: DialectOptions,
    /// A token source exists: dialects that authenticate in-band put the
    /// token slot in their first frame.
    pub has_token: bool,
    /// The job id, for dialects that name it in a frame.
    pub job_id: Option<String>,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
    /// Heartbeat policy.
    pub heartbeat: HeartbeatPolicy,
    /// Phase timeouts.
    pub timeouts: Timeouts,
    /// Sets an attempt's whole wait for `ready_ack`: `ready_resends + 1` ready timeouts.
    pub ready_resends: u32,
    /// Outbox capacity.
    pub outbox_capacity: usize,
    /// Largest message, bytes.
    pub max_message_size: usize,
    /// Whether a 401 or 4001 can be answered with a fresh token.
    pub can_refresh_token: bool,
    /// Seed of the jitter generator.
    pub jitter_seed: u64,
}

impl MachineConfig {
    /// Defaults for the given adapter, for tests of the machine alone.
    pub fn new(adapter: AdapterKind) -> MachineConfig {
        let c = SocketConfig::job("ws://127.0.0.1:1/?jobId=j");
        MachineConfig {
            adapter,
            dialect: DialectOptions::default(),
            has_token: false,
            job_id: None,
            reconnect: c.reconnect,
            heartbeat: c.heartbeat,
            timeouts: c.timeouts,
            ready_resends: c.ready_resends,
            outbox_capacity: c.outbox_capacity,
            max_message_size: c.max_message_size,
            can_refresh_token: false,
            jitter_seed: 1,
        }
    }
}
