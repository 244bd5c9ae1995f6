//! Which IP addresses an outbound call may reach: only public unicast ones.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A class of non-public address that outbound calls refuse (spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Unspecified,
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16 (cloud metadata services live at 169.254.169.254) and fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedCgnat,
    Multicast,
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// 0/8, 192.0.0/24, 198.18/15 (benchmarking), 240/4 and IPv6 ranges that are not global.
    Reserved,
}

impl AddressClass {
    /// A short human name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique-local",
            Self::SharedCgnat => "shared (CGNAT)",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class that makes `ip` unreachable for outbound calls, or `None` when it is public.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    let class = if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        AddressClass::SharedCgnat
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_documentation() {
        AddressClass::Documentation
    } else if a == 0 || a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b & 0xfe) == 18) {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if let Some(embedded) = embedded_v4(ip) {
        return classify_v4(embedded);
    }
    let seg = ip.segments();
    let class = if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unicast_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_unique_local() {
        AddressClass::UniqueLocal
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        AddressClass::Documentation
    } else if (seg[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        || (seg[0] & 0xe000) != 0x2000
    // only 2000::/3 is global unicast
    {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// The IPv4 address an IPv6 form carries, for the forms that route to it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = ip.segments();
    let octets = ip.octets();
    let tail = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    if seg[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(tail);
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(text: &str) -> Option<AddressClass> {
        classify(text.parse().unwrap())
    }

    #[test]
    fn every_refused_class_is_recognised() {
        let cases = [
            ("0.0.0.0", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.255.254", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("169.254.0.1", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("febf::1", AddressClass::LinkLocal),
            ("fc00::1", AddressClass::UniqueLocal),
            ("fd12:3456::1", AddressClass::UniqueLocal),
            ("100.64.0.1", AddressClass::SharedCgnat),
            ("100.127.255.255", AddressClass::SharedCgnat),
            ("224.0.0.1", AddressClass::Multicast),
            ("239.255.255.250", AddressClass::Multicast),
            ("ff02::1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("192.0.2.1", AddressClass::Documentation),
            ("198.51.100.7", AddressClass::Documentation),
            ("203.0.113.9", AddressClass::Documentation),
            ("2001:db8::1", AddressClass::Documentation),
            ("0.1.2.3", AddressClass::Reserved),
            ("192.0.0.8", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("198.19.255.255", AddressClass::Reserved),
            ("240.0.0.1", AddressClass::Reserved),
            ("fec0::1", AddressClass::Reserved),
            ("100::1", AddressClass::Reserved),
        ];
        for (text, expected) in cases {
            assert_eq!(class_of(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("::ffff:100.64.0.1", AddressClass::SharedCgnat),
            ("::ffff:0.0.0.0", AddressClass::Unspecified),
            ("::ffff:224.0.0.1", AddressClass::Multicast),
            ("::ffff:192.0.2.1", AddressClass::Documentation),
            ("::192.168.0.1", AddressClass::Private),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("2002:7f00:1::", AddressClass::Loopback),
        ];
        for (text, expected) in cases {
            assert_eq!(class_of(text), Some(expected), "{text}");
        }
        assert_eq!(class_of("::ffff:8.8.8.8"), None);
        assert_eq!(class_of("2002:0808:0808::1"), None);
    }

    #[test]
    fn public_addresses_pass() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.255.255",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:81c::200e",
        ] {
            assert_eq!(class_of(text), None, "{text}");
        }
    }

    #[test]
    fn class_names_read_well_in_messages() {
        assert_eq!(AddressClass::LinkLocal.to_string(), "link-local");
        assert_eq!(AddressClass::SharedCgnat.to_string(), "shared (CGNAT)");
    }
}
