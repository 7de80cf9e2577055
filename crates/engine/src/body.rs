//! HTTP response bodies read with a size cap: a server (or anything posing
//! as one) cannot make the client hold more than the cap.

/// The largest REST response body read: the job-state answer of a state
/// sync and the create-job answer are small JSON objects. 64 KiB.
pub const MAX_REST_BODY: usize = 64 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// Larger than the cap (by its `Content-Length`, or once that much came).
    TooLarge,
    /// The request's timeout ran out while reading.
    Timeout,
    /// The connection failed while reading.
    Io,
}

impl BodyFailure {
    /// A short stable name, e.g. `body_too_large`.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFailure::TooLarge => "body_too_large",
            BodyFailure::Timeout => "timeout",
            BodyFailure::Io => "body_read",
        }
    }
}

/// Reads `resp`'s body, refusing one larger than `limit` bytes: at once if
/// its `Content-Length` says so, else as soon as more than `limit` bytes
/// have come. At most `limit` bytes plus one network chunk are held.
pub async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyFailure> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyFailure::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            if e.is_timeout() {
                BodyFailure::Timeout
            } else {
                BodyFailure::Io
            }
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > limit {
            return Err(BodyFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
}
