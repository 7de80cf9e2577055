//! The crate's one error type.

use std::fmt;

/// Why no OS keyring could be used. Each reason says what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyringUnavailable {
    /// No D-Bus session bus to talk to (headless CI, a service account, a
    /// container): `DBUS_SESSION_BUS_ADDRESS` is unset or points nowhere.
    NoSessionBus,
    /// A session bus exists but nothing on it provides
    /// `org.freedesktop.secrets` (no gnome-keyring, KeePassXC, KWallet...).
    NoSecretService,
    /// The store answered but would not serve: locked, no default
    /// collection, a prompt dismissed, or access denied.
    Locked,
    /// The platform store failed in another way.
    Platform,
}

impl KeyringUnavailable {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyringUnavailable::NoSessionBus => "no_session_bus",
            KeyringUnavailable::NoSecretService => "no_secret_service",
            KeyringUnavailable::Locked => "locked",
            KeyringUnavailable::Platform => "platform",
        }
    }
}

impl fmt::Display for KeyringUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyringUnavailable::NoSessionBus => "no D-Bus session bus",
            KeyringUnavailable::NoSecretService => "no Secret Service on the session bus",
            KeyringUnavailable::Locked => {
                "the keyring is locked, has no default collection, or refused access"
            }
            KeyringUnavailable::Platform => "the platform credential store failed",
        })
    }
}

/// Everything that can go wrong watching the OS or reading the keyring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS refused the interface watch (no netlink or route socket).
    /// Fatal for the network watcher; wake detection and the engine go on.
    #[error("cannot watch network interfaces: {0}")]
    WatchSetup(#[source] std::io::Error),
    /// The interface watch stream broke. Retryable: start a new watcher.
    #[error("the network watch ended: {0}")]
    WatchEnded(#[source] std::io::Error),
    /// No OS keyring is reachable. Retryable once one is (a desktop session
    /// starts, the keyring is unlocked); until then the caller falls back
    /// to a source of its choice (see [`crate::secrets::choose`]).
    #[error("no OS keyring is reachable ({reason}): {detail}")]
    KeyringUnavailable {
        /// Why, as a type.
        reason: KeyringUnavailable,
        /// The platform's words. Never holds a secret.
        detail: String,
    },
    /// The keyring has no token for this job. Retryable once one is stored.
    #[error("the keyring has no token for job `{job}`")]
    NoToken {
        /// The job id (the entry's user name).
        job: String,
    },
    /// The keyring refused this entry (bad encoding, ambiguous, too long).
    /// Fatal for that job's entry: fix or delete it.
    #[error("the keyring entry of job `{job}` is unusable: {detail}")]
    BadEntry {
        /// The job id.
        job: String,
        /// Why. Never holds the secret.
        detail: String,
    },
    /// The engine refused a call. Fatal or retryable as the inner error says.
    #[error(transparent)]
    Engine(#[from] sockscope_engine::Error),
}
