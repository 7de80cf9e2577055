//! What the OS tells the engine: network changes, sleep and wake, and
//! tokens kept in the OS keyring.
//!
//! - [`network`]: a [`NetworkWatcher`] over `if-watch` that reports
//!   addresses coming and going.
//! - [`wake`]: a [`WakeDetector`] that compares a clock that stops during
//!   suspend with one that does not; the decision is the pure [`wake::detect`].
//! - [`react`]: an [`EnvironmentTask`] that, on each change, calls
//!   `network_changed()` on every socket of an engine (a backoff ends now; a
//!   live link is probed now) and publishes an [`Observed`] report.
//! - [`secrets`]: [`KeyringToken`], a `TokenSource` over the OS keyring
//!   (service `sockscope`, user the job id), the probe-and-fallback
//!   [`secrets::choose`], and [`secrets::remove_socket`] that deletes a job's
//!   entry with its socket.

mod error;
pub mod network;
pub mod react;
pub mod secrets;
pub mod wake;

pub use error::{Error, KeyringUnavailable};
pub use network::{AddressChange, NetworkChange, NetworkWatcher};
pub use react::{Change, EnvironmentTask, Observed, Sources};
pub use secrets::{KeyringToken, TokenChoice};
pub use wake::{BootClock, Sample, SystemBootClock, Wake, WakeDetector};
