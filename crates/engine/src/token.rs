//! Where bearer tokens come from. The app supplies a [`TokenSource`]; the
//! engine asks it for a token before each connect and for a fresh one after a
//! 4001 close.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::Error;

/// A bearer token. It has no `Display` and no `Serialize`, and its `Debug`
/// is redacted, so it cannot reach a log line or an event by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Token {
        Token(secret.into())
    }

    /// The secret itself, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A boxed future, so that sources are object safe.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Token, Error>> + Send + 'a>>;

/// Supplies tokens for one socket.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The current token.
    fn token(&self) -> TokenFuture<'_>;

    /// A fresh token, after the server said the current one expired. The
    /// default asks [`TokenSource::token`] again, which suits sources that
    /// are updated from outside (an env var, a keyring entry).
    fn refresh(&self) -> TokenFuture<'_> {
        self.token()
    }

    /// Whether [`TokenSource::refresh`] can yield a different token.
    fn can_refresh(&self) -> bool {
        false
    }

    /// A description safe to record, e.g. `env:JOB_TOKEN`. Never the token.
    fn describe(&self) -> String;
}

/// A fixed token.
#[derive(Debug, Clone)]
pub struct StaticToken(Token);

impl StaticToken {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> StaticToken {
        StaticToken(Token::new(secret))
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }

    fn describe(&self) -> String {
        "static".to_owned()
    }
}

/// A token read from an environment variable at each connect.
#[derive(Debug, Clone)]
pub struct EnvToken {
    var: String,
}

impl EnvToken {
    /// Reads the variable `var`.
    pub fn new(var: impl Into<String>) -> EnvToken {
        EnvToken { var: var.into() }
    }
}

impl TokenSource for EnvToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            match std::env::var(&self.var) {
                Ok(v) if !v.is_empty() => Ok(Token::new(v)),
                Ok(_) => Err(self.unavailable("the variable is empty")),
                Err(_) => Err(self.unavailable("the variable is not set")),
            }
        })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("env:{}", self.var)
    }
}

impl EnvToken {
    fn unavailable(&self, reason: &str) -> Error {
        Error::TokenUnavailable {
            source_name: self.describe(),
            reason: reason.to_owned(),
        }
    }
}
