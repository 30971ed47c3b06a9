//! [`Inet`]: an `inet` or `cidr` value, address and prefix length.

use std::fmt;
use std::net::IpAddr;

use crate::error::ValueError;

/// An IP address with a network prefix length, as PostgreSQL's `inet` (a host in a
/// network: `10.1.2.3/24`) and `cidr` (a network: `10.1.2.0/24`) store it. std's
/// `IpAddr` converts to a full-length prefix (`/32`, `/128`) and back from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inet {
    addr: IpAddr,
    prefix: u8,
}

impl Inet {
    /// `addr/prefix`.
    ///
    /// # Errors
    /// [`ValueError::Unrepresentable`] for a prefix longer than the address (32 bits for
    /// IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, ValueError> {
        if prefix > max_prefix(addr) {
            return Err(ValueError::Unrepresentable { value: format!("{addr}/{prefix}"), target: "inet" });
        }
        Ok(Inet { addr, prefix })
    }

    /// `addr/prefix` from a source that already checked the prefix (a network type of
    /// another crate).
    #[cfg(feature = "ipnetwork")]
    pub(crate) fn new_unchecked(addr: IpAddr, prefix: u8) -> Self {
        Inet { addr, prefix }
    }

    /// The address.
    pub fn addr(self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// Whether the prefix covers the whole address (a single host).
    pub fn is_host(self) -> bool {
        self.prefix == max_prefix(self.addr)
    }
}

/// A single host: the full-length prefix.
impl From<IpAddr> for Inet {
    fn from(addr: IpAddr) -> Self {
        Inet { addr, prefix: max_prefix(addr) }
    }
}

impl fmt::Display for Inet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}
