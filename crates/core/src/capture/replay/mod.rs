//! Replay: the server side of a recorded connection, served again. Any
//! session works (the engine's own sockets, an imported HAR, a recording
//! proxy's lanes): the socket's frames from the server, with their
//! timing, become a [`Script`], and a [`ReplayServer`] serves it to
//! whatever client connects, the engine or any other.
//!
//! - **Timing.** Each server frame keeps its recorded gaps, scaled by the
//!   speed. With [`Timing::Client`] (the default) a frame that followed
//!   client frames in the recording waits until the new client has sent as
//!   many data frames, then keeps its gap after the last of them; every
//!   frame also keeps its gap after the frame before it. So a reply never
//!   comes before its request, and a slow client slows the replay. With
//!   [`Timing::Open`] each frame is due at its recorded time from the
//!   upgrade's answer, whatever the client does.
//! - **Attempts.** Each connection to the replay gets the next recorded
//!   attempt (attempts of all the named sockets, in the order they
//!   started); once all are served the replay ends, and a later connection
//!   gets 503. With [`ReplayOptions::attempt`] every connection gets that
//!   one attempt, until the replay is stopped. A request that is not a
//!   WebSocket upgrade uses none.
//! - **Ends.** A recorded refusal (`http_401`) is answered with its status;
//!   an attempt that got no answer is closed at once. A server close frame
//!   goes out with its code; a server whose TCP ended with no close frame
//!   is a cut. Otherwise (the client closed, or a HAR, which holds no
//!   close frames) the connection stays open after the last frame until
//!   the client ends it.
//! - **What was stored is what is served.** Payloads were scrubbed and cut
//!   at the recorder's cap, binary payloads and pings' are not stored (zero
//!   bytes of the recorded size; an empty ping): [`ScriptNotes`] counts them.

mod script;
mod server;
mod timing;

pub use script::{
    Act, Answer, AttemptScript, Script, ScriptBuilder, ScriptNotes, ServerFrame, Step,
};
pub use server::{ReplayServer, Served, ServedEnd, serve_attempt};
pub use timing::{AttemptRun, Due, Timing};

use std::path::Path;

use sockscope_recorder::WindowQuery;

use crate::CoreError;
use crate::history::History;

/// How to replay. `ReplayOptions::default()`: the recorded pace, timed
/// from the client's frames, each attempt once in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOptions {
    /// How much faster than recorded: 2.0 halves every gap. Above 0 and at
    /// most [`MAX_SPEED`]. Default 1.0.
    pub speed: f64,
    /// What a frame's time is measured from. Default [`Timing::Client`].
    pub timing: Timing,
    /// Serve this attempt (0-based, in [`Script::attempts`]) on every
    /// connection, instead of each attempt once in order. Default `None`.
    pub attempt: Option<usize>,
    /// Connections served at once; more are closed unanswered. Default 64.
    pub max_connections: usize,
}

/// The most text payload a script holds in memory: 256 MiB.
pub const MAX_SCRIPT_BYTES: usize = 256 << 20;

/// The largest speed-up: past it, gaps of a fast recording round to nothing.
pub const MAX_SPEED: f64 = 1000.0;

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: 1.0,
            timing: Timing::Client,
            attempt: None,
            max_connections: 64,
        }
    }
}

impl ReplayOptions {
    /// Checks the options against the script they are for.
    pub fn check(&self, script: &Script) -> Result<(), CoreError> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= MAX_SPEED) {
            return Err(CoreError::Replay(format!(
                "speed {} is not above 0 and at most {MAX_SPEED}",
                self.speed
            )));
        }
        if let Some(a) = self.attempt
            && a >= script.attempts.len()
        {
            return Err(CoreError::Replay(format!(
                "there is no attempt {}: the recording has {}",
                a + 1,
                script.attempts.len()
            )));
        }
        Ok(())
    }
}

/// The script of `sockets` (names or ids) of `session` in the database at
/// `db`: their attempts, in the order they started, within
/// [`MAX_SCRIPT_BYTES`]. Blocking (SQLite).
pub fn load_script(db: &Path, session: i64, sockets: &[String]) -> Result<Script, CoreError> {
    load_script_within(db, session, sockets, MAX_SCRIPT_BYTES)
}

/// [`load_script`], refusing sockets whose server payloads pass `max_bytes`.
pub fn load_script_within(
    db: &Path,
    session: i64,
    sockets: &[String],
    max_bytes: usize,
) -> Result<Script, CoreError> {
    let history = History::open(db)?;
    let summary = history.session(session)?;
    if summary.end_state == "running" {
        return Err(CoreError::Replay(format!(
            "session {session} is still being recorded; replay it once it has ended"
        )));
    }
    if sockets.is_empty() {
        let names: Vec<String> = history.socket_names(session)?.into_values().collect();
        return Err(CoreError::Replay(format!(
            "name a socket to replay; session {session} has: {}",
            names.join(", ")
        )));
    }
    let ids = history.pick_sockets(session, sockets)?.unwrap_or_default();
    let mut builder = ScriptBuilder::new();
    let query = WindowQuery {
        sockets: Some(ids),
        ..WindowQuery::whole_session(session, 4096)
    };
    history.for_each(query, |e| {
        builder.event(&e);
        if builder.bytes() > max_bytes {
            return Err(CoreError::Replay(format!(
                "socket {} of session {session} holds over {} of server payloads, the most a replay keeps in memory; replay fewer sockets",
                sockets.join(", "),
                size_words(max_bytes)
            )));
        }
        Ok(())
    })?;
    let script = builder.build();
    let what = format!("socket {} of session {session}", sockets.join(", "));
    if script.attempts.is_empty() {
        return Err(CoreError::Replay(format!("{what} never connected")));
    }
    let served = script
        .attempts
        .iter()
        .any(|a| a.frames() > 0 || matches!(a.answer, Answer::Refuse(_)));
    if !served {
        return Err(CoreError::Replay(format!(
            "{what} has no frames from the server to replay"
        )));
    }
    Ok(script)
}

/// `256 MiB` for whole MiB, else bytes.
fn size_words(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests;
