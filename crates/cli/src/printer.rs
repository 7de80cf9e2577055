//! Prints engine events as one line each, for `demo` and `watch`.

use std::collections::HashMap;

use sockscope_engine::event::{EventKind, Finding, MessageStage, StateSyncOutcome};
use sockscope_engine::{Event, Mono, SocketId};
use sockscope_protocol::JobStatus;

/// Turns events into lines, with times relative to the first one.
#[derive(Debug, Default)]
pub struct EventPrinter {
    names: HashMap<SocketId, String>,
    start: Option<Mono>,
}

impl EventPrinter {
    /// The line for `event`, or `None` for events too fine to print.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        if let EventKind::SocketAdded(info) = &event.kind {
            self.names.insert(event.socket, info.name.clone());
        }
        let start = *self.start.get_or_insert(event.mono);
        let name = self.names.get(&event.socket).map_or("?", String::as_str);
        let t = event.mono.since(start).as_secs_f64();
        let what = match &event.kind {
            EventKind::Transition { from, to, cause } => {
                format!("{} -> {to}  ({cause:?})", from.as_str())
            }
            EventKind::Finding(Finding { class, detail, .. }) => {
                format!("! {}: {detail}", class.as_str())
            }
            EventKind::BackoffPlanned { attempt, delay, .. } => {
                format!("  backoff #{attempt} planned: {delay:.0?}")
            }
            EventKind::StateSync(r) => match &r.outcome {
                StateSyncOutcome::Requested => format!("  state sync try {}", r.try_no),
                StateSyncOutcome::Synced {
                    processed, total, ..
                } => format!("  state synced: {processed}/{total}"),
                StateSyncOutcome::Failed { error, .. } => format!("  state sync failed: {error}"),
            },
            EventKind::Message {
                id,
                stage: MessageStage::Written,
            } => format!("  message {id} written"),
            EventKind::Progress(p) if p.status == Some(JobStatus::Complete) => {
                format!("  progress {}/{}", p.processed, p.total)
            }
            _ => return None,
        };
        Some(format!("{t:>8.3}s  {name:<15} {what}"))
    }
}
