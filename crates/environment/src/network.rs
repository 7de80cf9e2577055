//! Interface and address changes, from the OS.
//!
//! Built on `if-watch` (libp2p's watcher: rtnetlink on Linux, the route
//! socket on macOS, `NotifyIpInterfaceChange` on Windows). It reports
//! addresses coming and going, which is what a new Wi-Fi, a VPN up or down,
//! a DHCP renewal onto another subnet or a cable unplugged look like from
//! here. It does not report a link losing carrier while keeping its
//! address; the heartbeat catches that.
//!
//! `if-watch` first reports every address that already exists as "up". The
//! watcher takes a snapshot of the addresses (`if-addrs`) before it starts
//! and swallows those, so only real changes come out of
//! [`NetworkWatcher::next`]; [`NetworkWatcher::start`] returns once the
//! initial report has been absorbed, so a change made after it is seen.

use std::collections::HashSet;
use std::fmt;
use std::future::poll_fn;
use std::net::IpAddr;
use std::time::Duration;

use if_watch::{IfEvent, IpNet};

use crate::Error;

/// How long [`NetworkWatcher::start`] waits for the OS's initial report.
const SETTLE: Duration = Duration::from_secs(2);

/// One address change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkChange {
    /// Added or removed.
    pub kind: AddressChange,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

/// Whether an address came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressChange {
    /// An address was added.
    Added,
    /// An address was removed.
    Removed,
}

impl fmt::Display for NetworkChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.kind {
            AddressChange::Added => "added",
            AddressChange::Removed => "removed",
        };
        write!(f, "address {}/{} {verb}", self.addr, self.prefix)
    }
}

impl NetworkChange {
    fn from_event(e: IfEvent) -> NetworkChange {
        let (kind, net) = match e {
            IfEvent::Up(n) => (AddressChange::Added, n),
            IfEvent::Down(n) => (AddressChange::Removed, n),
        };
        NetworkChange {
            kind,
            addr: net.addr(),
            prefix: net.prefix_len(),
        }
    }
}

/// Watches the OS for address changes.
pub struct NetworkWatcher {
    inner: if_watch::tokio::IfWatcher,
    /// Changes seen while settling, not yet handed out.
    pending: std::collections::VecDeque<NetworkChange>,
}

impl fmt::Debug for NetworkWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkWatcher")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl NetworkWatcher {
    /// Starts watching; returns once the OS's report of the addresses that
    /// already exist has been absorbed (bounded by two seconds).
    pub async fn start() -> Result<NetworkWatcher, Error> {
        let mut inner = if_watch::tokio::IfWatcher::new().map_err(Error::WatchSetup)?;
        let mut baseline: HashSet<IpNet> = match if_addrs::get_if_addrs() {
            Ok(ifs) => ifs.iter().filter_map(|i| net_of(&i.addr)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list addresses; the first changes may be spurious");
                HashSet::new()
            }
        };
        let mut pending = std::collections::VecDeque::new();
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        while !baseline.is_empty() {
            tokio::select! {
                e = poll_fn(|cx| inner.poll_if_event(cx)) => {
                    let e = e.map_err(Error::WatchEnded)?;
                    match e {
                        IfEvent::Up(net) if baseline.remove(&net) => {}
                        other => pending.push_back(NetworkChange::from_event(other)),
                    }
                }
                () = &mut settle => {
                    tracing::debug!(left = baseline.len(), "initial address report incomplete; going on");
                    break;
                }
            }
        }
        Ok(NetworkWatcher { inner, pending })
    }

    /// Waits for the next address change. Cancel-safe.
    pub async fn next(&mut self) -> Result<NetworkChange, Error> {
        if let Some(c) = self.pending.pop_front() {
            return Ok(c);
        }
        let e = poll_fn(|cx| self.inner.poll_if_event(cx))
            .await
            .map_err(Error::WatchEnded)?;
        Ok(NetworkChange::from_event(e))
    }

    /// The addresses the watcher knows of now.
    pub fn addresses(&self) -> Vec<(IpAddr, u8)> {
        let mut all: Vec<_> = self
            .inner
            .iter()
            .map(|n| (n.addr(), n.prefix_len()))
            .collect();
        all.sort();
        all
    }
}

fn net_of(addr: &if_addrs::IfAddr) -> Option<IpNet> {
    match addr {
        if_addrs::IfAddr::V4(a) => if_watch::Ipv4Net::new(a.ip, a.prefixlen)
            .ok()
            .map(IpNet::V4),
        if_addrs::IfAddr::V6(a) => if_watch::Ipv6Net::new(a.ip, a.prefixlen)
            .ok()
            .map(IpNet::V6),
    }
}
