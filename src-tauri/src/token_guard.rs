//! Which token sources the webview may name in `add_socket`, and where
//! their tokens may go.
//!
//! A page could otherwise ask for any environment variable or file
//! (`$AWS_SECRET_ACCESS_KEY`) to be sent as a bearer to any host. So a
//! source other than "none" is accepted only for a host the user allowed
//! it for, outside the webview's reach:
//! - every socket of the sockets file the app started with allows its own
//!   source for its own host;
//! - the file `token-sources` in the config dir (`~/.config/sockscope`)
//!   holds one `SOURCE HOST` pair a line (`env:JOB_TOKEN api.example.com`,
//!   `file:/run/secrets/job 10.0.0.5`, `keyring:j-42 api.example.com`);
//!   `*` as the host allows any host; `#` starts a comment.
//!
//! Anything else is refused with `token_source_not_allowed`, naming the
//! pair to add. No command writes either file.

use std::path::Path;

use sockscope_core::{Config, TokenSpec};

use crate::error::UiError;
use crate::transfer::TokenRef;

/// The file name of the allowlist in the config dir.
pub const ALLOWLIST_FILE: &str = "token-sources";

/// The allowed (source, host) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenGuard {
    allowed: Vec<(String, String)>,
}

impl TokenGuard {
    /// The pairs of `config`'s sockets and of the allowlist `file` (a
    /// missing file allows nothing more; unreadable lines are skipped).
    pub fn load(config: Option<&Config>, file: &Path) -> TokenGuard {
        let mut guard = TokenGuard::default();
        for s in config.map(|c| c.sockets.as_slice()).unwrap_or_default() {
            if let (Some(src), Some(host)) = (spec_source(&s.token), host_of(&s.url)) {
                guard.allow(src, host);
            }
        }
        if let Ok(text) = std::fs::read_to_string(file) {
            guard.allow_lines(&text);
        }
        guard
    }

    /// Adds the `SOURCE HOST` lines of `text`.
    pub fn allow_lines(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            if let (Some(src), Some(host), None) = (words.next(), words.next(), words.next()) {
                self.allow(src.to_owned(), host.to_owned());
            }
        }
    }

    fn allow(&mut self, source: String, host: String) {
        self.allowed.push((source, host.to_ascii_lowercase()));
    }

    /// Whether `token` may be read and sent to the host of `url`.
    pub fn check(&self, token: &TokenRef, url: &str) -> Result<(), UiError> {
        let Some(source) = ref_source(token) else {
            return Ok(());
        };
        let host = host_of(url).unwrap_or_default();
        let ok = self
            .allowed
            .iter()
            .any(|(s, h)| *s == source && (h == "*" || *h == host));
        if ok {
            return Ok(());
        }
        Err(UiError::new(
            "token_source_not_allowed",
            format!(
                "the token source `{source}` is not allowed for host `{host}`: add the line \
                 `{source} {host}` to {ALLOWLIST_FILE} in the config dir, or configure the \
                 socket in sockets.toml"
            ),
        ))
    }
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url.trim())
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

fn ref_source(token: &TokenRef) -> Option<String> {
    match token {
        TokenRef::None => None,
        TokenRef::Env { name } => Some(format!("env:{name}")),
        TokenRef::File { path } => Some(file_source(path)),
        TokenRef::Keyring { job_id } => Some(format!("keyring:{job_id}")),
    }
}

fn spec_source(token: &TokenSpec) -> Option<String> {
    match token {
        TokenSpec::Env(name) => Some(format!("env:{name}")),
        TokenSpec::File(path) => Some(file_source(path)),
        TokenSpec::Keyring { job_id } => Some(format!("keyring:{job_id}")),
        TokenSpec::None | TokenSpec::Inline(_) => None,
    }
}

fn file_source(path: &Path) -> String {
    format!("file:{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> TokenRef {
        TokenRef::Env { name: name.into() }
    }

    #[test]
    fn a_source_the_user_did_not_allow_is_refused() {
        let mut guard = TokenGuard::default();
        guard.allow_lines(
            "# mine\nenv:JOB_TOKEN api.example.com\nfile:/run/secrets/job *\nbroken line here x\n",
        );
        let url = "wss://api.example.com/ws/progress?jobId=j";
        assert_eq!(
            guard.check(&TokenRef::None, "wss://evil.example/ws"),
            Ok(())
        );
        assert_eq!(guard.check(&env("JOB_TOKEN"), url), Ok(()));
        assert_eq!(
            guard.check(&env("JOB_TOKEN"), "wss://API.example.com/x"),
            Ok(())
        );
        let file = TokenRef::File {
            path: "/run/secrets/job".into(),
        };
        assert_eq!(guard.check(&file, "wss://anywhere.example/ws"), Ok(()));
        for (token, url) in [
            (env("AWS_SECRET_ACCESS_KEY"), url),
            (env("JOB_TOKEN"), "wss://evil.example/ws"),
            (
                TokenRef::File {
                    path: "/home/me/.ssh/id_ed25519".into(),
                },
                url,
            ),
            (
                TokenRef::Keyring {
                    job_id: "j-1".into(),
                },
                url,
            ),
            (env("JOB_TOKEN"), "not a url"),
        ] {
            let e = guard.check(&token, url).unwrap_err();
            assert_eq!(e.code, "token_source_not_allowed", "{token:?} {url}");
        }
    }

    #[test]
    fn the_sockets_file_allows_its_own_sources_for_their_hosts() {
        let config = Config::parse(
            "[[socket]]\nurl = \"wss://api.example.com/ws?jobId=j\"\ntoken = { env = \"JOB_TOKEN\" }\n",
            Path::new("sockets.toml"),
        )
        .unwrap();
        let guard = TokenGuard::load(Some(&config), Path::new("/nonexistent/token-sources"));
        assert_eq!(
            guard.check(&env("JOB_TOKEN"), "wss://api.example.com/other"),
            Ok(())
        );
        assert!(
            guard
                .check(&env("JOB_TOKEN"), "wss://evil.example/")
                .is_err()
        );
        assert!(guard.check(&env("HOME"), "wss://api.example.com/").is_err());
    }
}
