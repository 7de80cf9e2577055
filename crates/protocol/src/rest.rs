//! JSON bodies of the HTTP endpoints.

use serde::{Deserialize, Serialize};

/// The three job kinds of the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A CSV import.
    CsvImport,
    /// A bookshelf scan.
    BookshelfScan,
    /// A background enrichment job.
    Enrichment,
}

impl JobKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::CsvImport => "csv_import",
            JobKind::BookshelfScan => "bookshelf_scan",
            JobKind::Enrichment => "enrichment",
        }
    }
}

/// `status` of `GET /api/job-state/{jobId}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a client's first `ready`.
    Queued,
    /// Running.
    Running,
    /// Finished.
    Complete,
    /// Failed.
    Failed,
    /// Cancelled by a client.
    Canceled,
}

impl JobStatus {
    /// The job has ended and will send no more progress.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// Body of `POST /api/jobs`. Faults are the simulator's business and travel as
/// an opaque object here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    /// Job kind.
    pub kind: JobKind,
    /// Items the job processes.
    pub total_count: u64,
    /// Fault knobs for a test backend; see PROTOCOL.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<serde_json::Value>,
}

/// Answer to `POST /api/jobs`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobResponse {
    /// New job id.
    pub job_id: String,
    /// A bearer token for the job. Secret.
    pub token: String,
    /// WebSocket URL (without the token).
    pub ws_url: String,
    /// Job-state URL.
    pub state_url: String,
}

impl std::fmt::Debug for CreateJobResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateJobResponse")
            .field("job_id", &self.job_id)
            .field("token", &"<redacted>")
            .field("ws_url", &self.ws_url)
            .field("state_url", &self.state_url)
            .finish()
    }
}

/// Answer to `POST /admin/jobs/{jobId}/token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The fresh token. Secret.
    pub token: String,
    /// Its lifetime in milliseconds, if it expires.
    pub ttl_ms: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<redacted>")
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

/// Answer to `GET /api/job-state/{jobId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// Job id.
    pub job_id: String,
    /// Job kind.
    pub kind: JobKind,
    /// Status.
    pub status: JobStatus,
    /// Items processed.
    pub processed_count: u64,
    /// Items in all.
    pub total_count: u64,
    /// Highest seq produced.
    pub last_seq: u64,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}
