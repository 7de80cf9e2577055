//! `environment`: an engine-wide change (network, wake, a failed
//! recording), in `environment` (schema version 2).

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::EnvironmentChange;

use super::{Insert, Kind};
use crate::redact;

/// An engine-wide change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// `address_added`, `address_removed`, `wake` or `recording_failed`
    /// (the recorder stopped for good; the reason in `detail`).
    pub change: String,
    /// The address with its prefix, or the time suspended.
    pub detail: String,
}

impl EnvironmentRecord {
    pub(crate) fn new(change: &EnvironmentChange) -> EnvironmentRecord {
        match change {
            EnvironmentChange::Address {
                added,
                addr,
                prefix,
            } => EnvironmentRecord {
                change: if *added {
                    "address_added"
                } else {
                    "address_removed"
                }
                .to_owned(),
                detail: format!("{addr}/{prefix}"),
            },
            EnvironmentChange::Wake { suspended } => EnvironmentRecord {
                change: "wake".to_owned(),
                detail: format!("suspended {:.3} s", suspended.as_secs_f64()),
            },
        }
    }

    pub(crate) fn recording_failed(reason: &str) -> EnvironmentRecord {
        EnvironmentRecord {
            change: "recording_failed".to_owned(),
            detail: redact::free_text(reason),
        }
    }
}

/// Engine-wide changes (network, wake), drawn on every lane.
const ENVIRONMENT_V2: &str = r#"
CREATE TABLE environment (
    event_id INTEGER PRIMARY KEY REFERENCES events(id),
    change   TEXT NOT NULL,   -- address_added | address_removed | wake
    detail   TEXT NOT NULL    -- 10.0.0.1/24, or 'suspended 3600.000 s'
);
"#;

impl Kind for EnvironmentRecord {
    fn line(&self) -> String {
        format!("environment {}: {}", self.change, self.detail)
    }

    const KIND: &'static str = "environment";
    const SCHEMA: &'static [(i64, &'static str)] = &[(2, ENVIRONMENT_V2)];
    const INSERT: &'static str =
        "INSERT INTO environment (event_id, change, detail) VALUES (?1, ?2, ?3)";
    const SELECT: &'static str =
        "SELECT event_id, change, detail FROM environment WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![at.event_id, self.change, self.detail])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<EnvironmentRecord> {
        Ok(EnvironmentRecord {
            change: r.get(1)?,
            detail: r.get(2)?,
        })
    }
}
