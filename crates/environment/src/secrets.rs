//! Tokens in the OS keyring: Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows, through the `keyring` crate.
//!
//! Each job's token is one entry: service `sockscope`, user the job id.
//! [`KeyringToken`] reads it at each connect (so a token updated in the
//! keyring is picked up at the next connect or after a 4001), and
//! [`remove_socket`] deletes it when the job's socket is removed.
//!
//! Where no keyring is reachable (headless CI, a container, a locked
//! store), nothing is stored in its place: [`choose`] probes once and, if
//! the keyring is unreachable, hands back the fallback the *caller* chose
//! (an [`EnvToken`](sockscope_engine::EnvToken) or a
//! [`StaticToken`](sockscope_engine::StaticToken)), with the typed reason,
//! and logs a warning that says so. The socket's `SocketAdded` event then
//! shows the fallback's description (`env:JOB_TOKEN`), never `keyring:`.
//!
//! Keyring calls block (D-Bus round trips, Keychain prompts), so each runs
//! on tokio's blocking pool.

use std::sync::Arc;

use sockscope_engine::{Engine, SocketId, Token, TokenFuture, TokenSource};

use crate::Error;
use crate::error::KeyringUnavailable;

/// The keyring service name of every entry.
pub const SERVICE: &str = "sockscope";

/// The user name of the entry [`probe`] looks up; it never exists.
const PROBE_USER: &str = "sockscope-probe-entry";

/// A job's token in the OS keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringToken {
    job: String,
}

impl KeyringToken {
    /// The entry of job `job` (service `sockscope`, user `job`).
    pub fn new(job: impl Into<String>) -> KeyringToken {
        KeyringToken { job: job.into() }
    }

    /// The job id.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Stores `token` as the job's token, replacing any.
    pub async fn store(&self, token: &Token) -> Result<(), Error> {
        let secret = token.expose().to_owned();
        self.blocking(move |e| e.set_password(&secret)).await
    }

    /// Reads the job's token.
    pub async fn read(&self) -> Result<Token, Error> {
        self.blocking(|e| e.get_password()).await.map(Token::new)
    }

    /// Deletes the job's token; `false` if there was none.
    pub async fn delete(&self) -> Result<bool, Error> {
        match self.blocking(|e| e.delete_credential()).await {
            Ok(()) => Ok(true),
            Err(Error::NoToken { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let job = self.job.clone();
        let out = tokio::task::spawn_blocking(move || {
            let entry = keyring::Entry::new(SERVICE, &job)?;
            f(&entry)
        })
        .await
        .map_err(|e| Error::KeyringUnavailable {
            reason: KeyringUnavailable::Platform,
            detail: format!("keyring call panicked or was cancelled: {e}"),
        })?;
        out.map_err(|e| classify(&self.job, e))
    }
}

impl TokenSource for KeyringToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            self.read()
                .await
                .map_err(|e| sockscope_engine::Error::TokenUnavailable {
                    source_name: self.describe(),
                    reason: e.to_string(),
                })
        })
    }

    /// The entry may have been updated from outside; read it again.
    fn can_refresh(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("keyring:{SERVICE}/{}", self.job)
    }
}

/// Whether an OS keyring is reachable: looks up an entry that never
/// exists. `Ok` when the store answered (with "no such entry").
pub async fn probe() -> Result<(), Error> {
    match KeyringToken::new(PROBE_USER).read().await {
        Ok(_) | Err(Error::NoToken { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Where a socket's tokens come from, and why.
#[derive(Debug, Clone)]
pub enum TokenChoice {
    /// The OS keyring.
    Keyring(Arc<KeyringToken>),
    /// The caller's fallback, because no keyring was reachable.
    Fallback {
        /// The fallback source.
        source: Arc<dyn TokenSource>,
        /// Why the keyring was not used.
        reason: KeyringUnavailable,
        /// The platform's words.
        detail: String,
    },
}

impl TokenChoice {
    /// The chosen source, for [`sockscope_engine::SocketConfig::token`].
    pub fn source(&self) -> Arc<dyn TokenSource> {
        match self {
            TokenChoice::Keyring(k) => k.clone(),
            TokenChoice::Fallback { source, .. } => source.clone(),
        }
    }
}

/// The keyring entry of `job` if a keyring is reachable, else `fallback`,
/// with the reason, logged as a warning. Only "unreachable" falls back: a
/// keyring that answers is used even if it holds no token yet.
pub async fn choose(job: &str, fallback: Arc<dyn TokenSource>) -> TokenChoice {
    match probe().await {
        Ok(()) => TokenChoice::Keyring(Arc::new(KeyringToken::new(job))),
        Err(Error::KeyringUnavailable { reason, detail }) => {
            tracing::warn!(
                job,
                reason = reason.as_str(),
                detail = %detail,
                fallback = %fallback.describe(),
                "no OS keyring is reachable; tokens come from the fallback source"
            );
            TokenChoice::Fallback {
                source: fallback,
                reason,
                detail,
            }
        }
        Err(other) => {
            let detail = other.to_string();
            tracing::warn!(job, detail = %detail, fallback = %fallback.describe(),
                "the OS keyring failed its probe; tokens come from the fallback source");
            TokenChoice::Fallback {
                source: fallback,
                reason: KeyringUnavailable::Platform,
                detail,
            }
        }
    }
}

/// Removes socket `id` from `engine` and, if its tokens came from the
/// keyring, deletes its job's entry. Returns whether an entry was deleted.
pub async fn remove_socket(engine: &Engine, id: SocketId) -> Result<bool, Error> {
    let handle = engine
        .socket(id)
        .ok_or(sockscope_engine::Error::UnknownSocket(id))?;
    let info = handle.info();
    let entry = info
        .job_id
        .as_ref()
        .map(KeyringToken::new)
        .filter(|k| info.token_source.as_deref() == Some(k.describe().as_str()));
    engine.remove_socket(id).await?;
    match entry {
        Some(k) => k.delete().await,
        None => Ok(false),
    }
}

/// Maps the keyring crate's error to ours, naming why a store is
/// unreachable. The Secret Service reports through D-Bus error text, so
/// that text is read for the well-known names.
fn classify(job: &str, e: keyring::Error) -> Error {
    let unavailable = |reason, detail: String| Error::KeyringUnavailable { reason, detail };
    match e {
        keyring::Error::NoEntry => Error::NoToken {
            job: job.to_owned(),
        },
        keyring::Error::NoStorageAccess(inner) => {
            unavailable(KeyringUnavailable::Locked, inner.to_string())
        }
        keyring::Error::PlatformFailure(inner) => {
            let detail = inner.to_string();
            let reason = platform_reason(&detail);
            unavailable(reason, detail)
        }
        e @ (keyring::Error::BadEncoding(_)
        | keyring::Error::TooLong(..)
        | keyring::Error::Invalid(..)
        | keyring::Error::Ambiguous(_)) => Error::BadEntry {
            job: job.to_owned(),
            // BadEncoding's Display does not print the bytes.
            detail: e.to_string(),
        },
        other => unavailable(KeyringUnavailable::Platform, other.to_string()),
    }
}

fn platform_reason(detail: &str) -> KeyringUnavailable {
    let d = detail.to_ascii_lowercase();
    // secret-service says "no secret service provider or dbus session
    // found" for both; the bus address tells them apart.
    if d.contains("no secret service provider")
        || d.contains("serviceunknown")
        || d.contains("namehasnoowner")
    {
        if session_bus_missing() {
            KeyringUnavailable::NoSessionBus
        } else {
            KeyringUnavailable::NoSecretService
        }
    } else if d.contains("locked") || d.contains("denied") || d.contains("prompt") {
        KeyringUnavailable::Locked
    } else {
        KeyringUnavailable::Platform
    }
}

/// Whether the session bus is certainly absent: its address is unset and
/// `$XDG_RUNTIME_DIR/bus` does not exist, or every address is a
/// `unix:path=` that does not exist. Other address kinds count as present.
fn session_bus_missing() -> bool {
    use std::path::Path;
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(addrs) => addrs.split(';').all(|a| {
            a.strip_prefix("unix:path=")
                .and_then(|rest| rest.split(',').next())
                .is_some_and(|p| !Path::new(p).exists())
        }),
        Err(_) => std::env::var_os("XDG_RUNTIME_DIR")
            .is_none_or(|dir| !Path::new(&dir).join("bus").exists()),
    }
}
