//! [`IpNet`]: an address and a prefix length, one host or a CIDR range, as a ban
//! names them; see the parent module for how mapped IPv6 addresses count.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP address and a prefix length: one host, or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// The first address of the range (no bits set after the prefix); never an
    /// IPv4-mapped IPv6 address.
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The range `addr/prefix`. Refuses a prefix longer than the address and an
    /// address with bits set after the prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, String> {
        let (addr, prefix) = match addr {
            // `::ffff:a.b.c.d/N` with N >= 96 is the IPv4 range `a.b.c.d/(N-96)`.
            IpAddr::V6(v6) if (96..=128).contains(&prefix) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let max = max_prefix(addr);
        if prefix > max {
            return Err(format!(
                "bad prefix length /{prefix} for {addr}: at most /{max}"
            ));
        }
        let net = IpNet { addr, prefix };
        let first = net.first();
        if first != addr {
            let wanted = IpNet {
                addr: first,
                prefix,
            };
            return Err(format!(
                "\"{addr}/{prefix}\" has bits set after the prefix: did you mean {wanted}?"
            ));
        }
        Ok(net)
    }

    /// The one host `addr`.
    pub fn host(addr: IpAddr) -> IpNet {
        let addr = addr.to_canonical();
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// The range's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length: 32 or 128 for a single host.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is a single address rather than a wider range.
    pub fn is_host(&self) -> bool {
        self.prefix == max_prefix(self.addr)
    }

    /// Whether `ip` is in the range (an IPv4-mapped `ip` counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }

    /// `addr` with the bits after the prefix cleared.
    fn first(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// `203.0.113.5`, `203.0.113.0/24`, `2001:db8::/32`; see [`IpNet::new`].
    fn from_str(text: &str) -> Result<IpNet, String> {
        let bad = || {
            format!(
                "bad address {text:?}: expected an IP address or a CIDR range like 203.0.113.0/24"
            )
        };
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| bad())?;
        match prefix_text {
            None => Ok(IpNet::host(addr)),
            Some(prefix) => {
                // Plain digits only: `u8::from_str` would accept `+24`.
                let prefix = prefix
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| prefix.parse::<u8>().ok())
                    .flatten()
                    .ok_or_else(bad)?;
                IpNet::new(addr, prefix)
            }
        }
    }
}

impl fmt::Display for IpNet {
    /// A single host without its prefix (`203.0.113.5`), a range with it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn nets_parse_and_display() {
        for (text, shown, prefix) in [
            ("203.0.113.5", "203.0.113.5", 32),
            ("203.0.113.5/32", "203.0.113.5", 32),
            ("203.0.113.0/24", "203.0.113.0/24", 24),
            ("10.0.0.0/8", "10.0.0.0/8", 8),
            ("0.0.0.0/0", "0.0.0.0/0", 0),
            ("2001:db8::/32", "2001:db8::/32", 32),
            ("2001:DB8::7", "2001:db8::7", 128),
            ("::/0", "::/0", 0),
            // IPv4-mapped IPv6 is the IPv4 address (or range) it maps.
            ("::ffff:1.2.3.4", "1.2.3.4", 32),
            ("::ffff:1.2.3.0/120", "1.2.3.0/24", 24),
            ("::ffff:0:0/96", "0.0.0.0/0", 0),
        ] {
            let parsed = net(text);
            assert_eq!(parsed.to_string(), shown, "{text}");
            assert_eq!(parsed.prefix(), prefix, "{text}");
            assert_eq!(net(shown), parsed, "{shown} reads back");
        }
        assert!(net("1.2.3.4").is_host());
        assert!(!net("1.2.3.0/24").is_host());
    }

    #[test]
    fn bad_nets_are_refused_with_a_reason() {
        let expected = "expected an IP address or a CIDR range like 203.0.113.0/24";
        for bad in [
            "",
            "troll",
            "1.2.3",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "1.2.3.4/-1",
            "1.2.3.4/8/8",
            "01.2.3.4",
            " 1.2.3.4",
            "fe80::1%eth0",
            "1.2.3.4/999",
        ] {
            assert_eq!(
                bad.parse::<IpNet>().unwrap_err(),
                format!("bad address {bad:?}: {expected}")
            );
        }
        assert_eq!(
            "1.2.3.4/33".parse::<IpNet>().unwrap_err(),
            "bad prefix length /33 for 1.2.3.4: at most /32"
        );
        assert_eq!(
            "2001:db8::/129".parse::<IpNet>().unwrap_err(),
            "bad prefix length /129 for 2001:db8::: at most /128"
        );
        assert_eq!(
            "203.0.113.5/24".parse::<IpNet>().unwrap_err(),
            "\"203.0.113.5/24\" has bits set after the prefix: did you mean 203.0.113.0/24?"
        );
        assert_eq!(
            "2001:db8::1/32".parse::<IpNet>().unwrap_err(),
            "\"2001:db8::1/32\" has bits set after the prefix: did you mean 2001:db8::/32?"
        );
    }

    #[test]
    fn ranges_match_v4_v6_and_mapped_addresses() {
        let v4 = net("203.0.113.0/24");
        assert!(v4.contains(ip("203.0.113.0")));
        assert!(v4.contains(ip("203.0.113.255")));
        assert!(!v4.contains(ip("203.0.114.0")));
        assert!(!v4.contains(ip("203.0.112.255")));
        // A client reaching a dual-stack socket over IPv4 has a mapped address.
        assert!(v4.contains(ip("::ffff:203.0.113.9")));
        assert!(!v4.contains(ip("::ffff:203.0.114.9")));
        assert!(!v4.contains(ip("2001:db8::1")));

        let host = net("198.51.100.7");
        assert!(host.contains(ip("198.51.100.7")));
        assert!(host.contains(ip("::ffff:198.51.100.7")));
        assert!(!host.contains(ip("198.51.100.8")));
        assert!(net("::ffff:198.51.100.7").contains(ip("198.51.100.7")));

        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8::1")));
        assert!(v6.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!v6.contains(ip("2001:db9::")));
        assert!(!v6.contains(ip("203.0.113.1")));

        assert!(net("0.0.0.0/0").contains(ip("1.1.1.1")));
        assert!(net("0.0.0.0/0").contains(ip("::ffff:1.1.1.1")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("::/0").contains(ip("::1")));
        assert!(!net("::/0").contains(ip("127.0.0.1")));
        assert!(net("2001:db8::7").contains(ip("2001:db8::7")));
        assert!(!net("2001:db8::7").contains(ip("2001:db8::8")));
    }
}
