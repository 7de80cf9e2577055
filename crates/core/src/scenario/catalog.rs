//! The catalog: one entry per race class.

use sockscope_engine::event::FindingClass;

/// Sockets in the reconnect storm.
pub const STORM_SOCKETS: usize = 1000;

/// A catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Kebab-case id, as given to `sockscope scenario run`.
    pub id: &'static str,
    /// The race, in a sentence.
    pub race: &'static str,
    /// The seed document(s) in `shared/seeds/` the race comes from.
    pub seed: &'static str,
    /// Findings the engine must produce; the scenario fails without them.
    pub expected: &'static [FindingClass],
}

use FindingClass as F;

const CATALOG: &[ScenarioInfo] = &[
    ScenarioInfo {
        id: "send-before-handshake",
        race: "the app sends while the WebSocket handshake is still in flight",
        seed: "000",
        expected: &[F::SendBeforeReadyQueued],
    },
    ScenarioInfo {
        id: "accepted-but-deaf",
        race: "the server accepted the socket but is not listening yet",
        seed: "001, 004",
        expected: &[F::ReadyTimeout, F::ReadyResent],
    },
    ScenarioInfo {
        id: "send-after-close",
        race: "the app sends after the job closed the socket",
        seed: "003",
        expected: &[F::SendAfterClosePrevented],
    },
    ScenarioInfo {
        id: "broadcast-to-closing",
        race: "a broadcast reaches a socket that is closing",
        seed: "003",
        expected: &[F::BroadcastSkippedClosing],
    },
    ScenarioInfo {
        id: "peer-frames-after-close",
        race: "the server keeps sending after its own close frame",
        seed: "003",
        expected: &[F::PeerFrameAfterClose],
    },
    ScenarioInfo {
        id: "abrupt-drop-then-resume",
        race: "the connection drops with no close frame mid-job; the reconnect must resume",
        seed: "002",
        expected: &[F::AbnormalClose],
    },
    ScenarioInfo {
        id: "resume-impossible-sync-5xx",
        race: "after a drop the server cannot replay; the state sync gets a 503, then succeeds",
        seed: "002",
        expected: &[F::AbnormalClose, F::ResyncRequired, F::StateSyncRetry],
    },
    ScenarioInfo {
        id: "half-open-stall",
        race: "the link goes half-open: TCP looks alive, nothing moves",
        seed: "001",
        expected: &[F::HeartbeatLost],
    },
    ScenarioInfo {
        id: "expired-token-on-reconnect",
        race: "the token expires while the socket waits to reconnect",
        seed: "002",
        expected: &[F::AbnormalClose, F::TokenRefreshed],
    },
    ScenarioInfo {
        id: "queued-sends-vs-app-ready",
        race: "app sends made after the handshake but before ready_ack race the adapter's ready",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued, F::ReadyTimeout, F::ReadyResent],
    },
    ScenarioInfo {
        id: "cancel-during-backoff",
        race: "the user cancels while a reconnect is scheduled",
        seed: "002",
        expected: &[F::AbnormalClose],
    },
    ScenarioInfo {
        id: "reconnect-storm-1000",
        race: "a server restart closes 1,000 sockets at once; jitter must spread the reconnects",
        seed: "002",
        expected: &[],
    },
    ScenarioInfo {
        id: "duplicate-seq-and-gap",
        race: "the server sends a seq twice, then skips two",
        seed: "002",
        expected: &[F::DuplicateSeq, F::SeqGap],
    },
    ScenarioInfo {
        id: "socketio-namespace-ack-late",
        race: "a Socket.IO server's namespace middleware awaits before its CONNECT ack; the app emits in the window",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued],
    },
    ScenarioInfo {
        id: "graphql-ws-ack-late",
        race: "a graphql-ws server acks late; a subscribe in the window would be closed with 4401",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued],
    },
    ScenarioInfo {
        id: "phoenix-push-before-join",
        race: "a Phoenix channel replies to the join late; a push in the window gets \"unmatched topic\"",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued],
    },
    ScenarioInfo {
        id: "signalr-invoke-before-handshake",
        race: "a SignalR hub answers the handshake late; an invocation in the window is read as the handshake",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued],
    },
];

/// Every scenario, in catalog order.
pub fn catalog() -> &'static [ScenarioInfo] {
    CATALOG
}

/// The catalog entry with this id.
pub fn info(id: &str) -> Option<&'static ScenarioInfo> {
    CATALOG.iter().find(|s| s.id == id)
}
