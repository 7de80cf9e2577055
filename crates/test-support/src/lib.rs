//! Shared helpers of the integration-test binaries: bounded waits and
//! transcript normalisation. Nothing here sleeps; every wait is for an event,
//! bounded by a timeout.

use std::future::Future;
use std::time::Duration;

/// The bound every async test runs under unless it says otherwise.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `fut`, panicking with `what` if it does not finish within `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Wraps a whole async test body in [`TEST_TIMEOUT`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    within(TEST_TIMEOUT, "the test body", fut).await
}
