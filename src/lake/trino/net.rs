//! IP and URL functions: `contains` (CIDR test, substring and — since Trino overloads the one
//! name — array membership), `is_private_ip`, `ipaddress`/`ipprefix` (cast emulation),
//! `ip_prefix`, `is_subnet_of`, `ip_subnet_min`/`max`, and the `url_extract_*` / `url_encode` /
//! `url_decode` family with its `java.net.URI`-like parser. Kept together because both parse
//! network identifiers out of VARCHAR with small hand-written parsers that mirror Java's behaviour.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{make_comparator, Array, ArrayRef, AsArray, BooleanArray, GenericListArray, OffsetSizeTrait};
use datafusion::arrow::compute::{cast, SortOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_datafusion_err, exec_err, Result};
use datafusion::logical_expr::ColumnarValue;

use super::catalogue::list_field;
use super::columns::StrCol;

// ---------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------

/// Parses an IP address, canonicalising IPv4-mapped IPv6 to IPv4 (as Trino's
/// IPADDRESS type does on output). Accepts surrounding whitespace and `[v6]`.
pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let ip = IpAddr::from_str(s).ok()?;
    Some(canonical_ip(ip))
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

pub(super) fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || o[0] == 127
                || (o[0] == 169 && o[1] == 254)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6 == Ipv6Addr::LOCALHOST
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xfe00) == 0xfc00 // ULA fc00::/7
        }
    }
}

/// 128-bit value of an address in the IPv4-mapped IPv6 space.
fn ip_bits_mapped(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

fn mask128(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len.min(128))
    }
}

/// A network prefix; `addr` is canonical (IPv4 or non-mapped IPv6) and `len`
/// is relative to the address family.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prefix {
    pub(super) addr: IpAddr,
    len: u8,
}

impl Prefix {
    pub(super) fn new_masked(ip: IpAddr, len: u8) -> Self {
        let addr = match ip {
            IpAddr::V4(v4) => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
            }
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(u32::from(len)))),
        };
        Prefix { addr, len }
    }

    pub(super) fn len_mapped(&self) -> u32 {
        u32::from(self.len) + if self.addr.is_ipv4() { 96 } else { 0 }
    }

    /// Trino `contains(cidr, ip)`: same family required.
    fn contains_same_family(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let m = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len)) };
                (u32::from(net) & m) == (u32::from(*a) & m)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let m = mask128(u32::from(self.len));
                (u128::from(net) & m) == (u128::from(*a) & m)
            }
            _ => false,
        }
    }

    /// Trino IPPREFIX semantics: compare in the IPv4-mapped IPv6 space.
    pub(super) fn contains_mapped(&self, ip: &IpAddr) -> bool {
        let m = mask128(self.len_mapped());
        (ip_bits_mapped(&self.addr) & m) == (ip_bits_mapped(ip) & m)
    }

    pub(super) fn first(&self) -> IpAddr {
        self.addr
    }

    pub(super) fn last(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => {
                let host = if self.len >= 32 { 0 } else { u32::MAX >> u32::from(self.len) };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) | host))
            }
            IpAddr::V6(v6) => {
                let host = !mask128(u32::from(self.len));
                canonical_ip(IpAddr::V6(Ipv6Addr::from(u128::from(v6) | host)))
            }
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Result of classifying the first argument of `contains(varchar, varchar)`.
pub(super) enum CidrClass {
    /// Not of the form `<ip>/<digits>`: use substring semantics.
    NotCidr,
    /// Looks like a CIDR but Trino would reject it.
    Invalid,
    Cidr(Prefix),
}

pub(super) fn classify_cidr(s: &str) -> CidrClass {
    let Some((addr, len)) = s.trim().split_once('/') else {
        return CidrClass::NotCidr;
    };
    let Some(ip) = parse_ip(addr) else {
        return CidrClass::NotCidr;
    };
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return CidrClass::Invalid;
    }
    let Ok(len) = len.parse::<u32>() else {
        return CidrClass::Invalid;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return CidrClass::Invalid;
    }
    let p = Prefix::new_masked(ip, len as u8);
    if ip.is_ipv4() && p.addr != ip {
        // Trino: "Invalid CIDR" when IPv4 host bits are set
        return CidrClass::Invalid;
    }
    CidrClass::Cidr(p)
}

/// Trino `CAST(varchar AS IPPREFIX)` semantics: host bits are cleared.
/// (`contains` instead uses [`classify_cidr`], which rejects IPv4 host bits.)
pub(super) fn parse_prefix(s: &str) -> Option<Prefix> {
    match classify_cidr(s) {
        CidrClass::Cidr(p) => Some(p),
        CidrClass::Invalid => {
            let (addr, len) = s.trim().split_once('/')?;
            let ip = parse_ip(addr)?;
            let len: u32 = len.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (len <= max).then(|| Prefix::new_masked(ip, len as u8))
        }
        _ => None,
    }
}

/// `contains(cidr_or_string, ip_or_substring)` for one row (see [`super::catalogue::Kind::Contains`]).
fn contains_str(class: &CidrClass, hay: &str, needle: &str) -> Option<bool> {
    match class {
        CidrClass::NotCidr => Some(hay.contains(needle)),
        CidrClass::Invalid => None,
        CidrClass::Cidr(p) => {
            if needle.contains('/') {
                let sub = parse_prefix(needle)?;
                Some(p.contains_same_family(&sub.addr) && sub.len >= p.len)
            } else {
                Some(p.contains_same_family(&parse_ip(needle)?))
            }
        }
    }
}

pub(super) fn eval_contains(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let t0 = a[0].data_type();
    if list_field(&t0).is_some() {
        let list = a[0].to_array(n)?;
        let needle = a[1].to_array(n)?;
        return match list.data_type() {
            DataType::List(_) => list_contains(list.as_list::<i32>(), &needle, name),
            DataType::LargeList(_) => list_contains(list.as_list::<i64>(), &needle, name),
            DataType::FixedSizeList(f, _) => {
                let l = cast(&list, &DataType::List(Arc::clone(f)))?;
                list_contains(l.as_list::<i32>(), &needle, name)
            }
            other => exec_err!("{name}: unexpected argument type {other}"),
        };
    }
    let hay = StrCol::new(&a[0])?;
    let needle = StrCol::new(&a[1])?;
    let const_class = if hay.is_const() { hay.get(0).map(classify_cidr) } else { None };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let v = match (hay.get(i), needle.get(i)) {
            (Some(h), Some(x)) => match &const_class {
                Some(c) => contains_str(c, h, x),
                None if h.contains('/') => contains_str(&classify_cidr(h), h, x),
                None => Some(h.contains(x)),
            },
            _ => None,
        };
        out.push(v);
    }
    Ok(Arc::new(BooleanArray::from(out)))
}

/// Trino `contains(array, element)` with three-valued logic.
fn list_contains<O: OffsetSizeTrait>(list: &GenericListArray<O>, needle: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let values = list.values();
    let needle = if needle.data_type() != values.data_type() {
        cast(needle, values.data_type()).map_err(|e| exec_datafusion_err!("{name}: cannot compare element types: {e}"))?
    } else {
        Arc::clone(needle)
    };
    let scalar_needle = needle.len() == 1;
    let cmp = make_comparator(values.as_ref(), needle.as_ref(), SortOptions::default()).map_err(|e| exec_datafusion_err!("{name}: {e}"))?;
    let offsets = list.value_offsets();
    let mut out = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        let ni = if scalar_needle { 0 } else { row };
        if list.is_null(row) || ni >= needle.len() || needle.is_null(ni) {
            out.push(None);
            continue;
        }
        let start = offsets[row].as_usize();
        let end = offsets[row + 1].as_usize();
        let mut found = false;
        let mut saw_null = false;
        for j in start..end {
            if values.is_null(j) {
                saw_null = true;
            } else if cmp(j, ni).is_eq() {
                found = true;
                break;
            }
        }
        out.push(if found {
            Some(true)
        } else if saw_null {
            None
        } else {
            Some(false)
        });
    }
    Ok(Arc::new(BooleanArray::from(out)))
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

pub(super) struct UrlParts<'a> {
    pub(super) scheme: Option<&'a str>,
    pub(super) host: Option<&'a str>,
    pub(super) port: Option<i64>,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) fragment: Option<&'a str>,
}

/// RFC 3986 split approximating `java.net.URI` (which Trino uses): characters
/// that URI rejects (space, `"<>\^`{|}`, controls, malformed `%` escapes) make
/// the whole URL invalid.
pub(super) fn parse_url(s: &str) -> Option<UrlParts<'_>> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b <= 0x20 || b == 0x7f || b"\"<>\\^`{|}".contains(&b) {
            return None;
        }
        if b == b'%' && !(i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()) {
            return None;
        }
    }
    if s.is_empty() {
        return None;
    }
    let (rest, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    // scheme
    let mut scheme = None;
    let mut rest = rest;
    if let Some(colon) = rest.find(':') {
        let cand = &rest[..colon];
        let first_special = rest.find(['/', '?']).unwrap_or(usize::MAX);
        if colon < first_special {
            let valid = !cand.is_empty()
                && cand.as_bytes()[0].is_ascii_alphabetic()
                && cand
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
            if !valid {
                return None;
            }
            scheme = Some(cand);
            rest = &rest[colon + 1..];
        }
    }
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let mut host = None;
    let mut port = None;
    let path;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        let hostport = match authority.rfind('@') {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let (h, p) = if hostport.starts_with('[') {
            let close = hostport.find(']')?;
            let h = &hostport[..=close];
            let tail = &hostport[close + 1..];
            let p = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => return None,
            };
            // validate the IPv6 literal
            Ipv6Addr::from_str(&h[1..h.len() - 1]).ok()?;
            (h, p)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if let Some(p) = p {
            if !p.is_empty() {
                if !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                    return None;
                }
                port = p.parse::<i64>().ok();
            }
        }
        if !h.is_empty() {
            host = Some(h);
        }
    } else {
        path = rest;
    }
    if scheme.is_some() && !path.starts_with('/') && !rest.starts_with("//") {
        // opaque URI (mailto:x, urn:…): Java reports no path/host
        return Some(UrlParts {
            scheme,
            host: None,
            port: None,
            path: "",
            query: None,
            fragment,
        });
    }
    Some(UrlParts {
        scheme,
        host,
        port,
        path,
        query,
        fragment,
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding as `java.net.URI#getPath` does (invalid UTF-8 → U+FFFD).
pub(super) fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `java.net.URLDecoder` semantics: '+' is a space, `%XX` bytes are UTF-8;
/// malformed escapes → `None`.
pub(super) fn url_form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let h = hex_val(*b.get(i + 1)?)?;
                let l = hex_val(*b.get(i + 2)?)?;
                out.push(h * 16 + l);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Guava `urlFormParameterEscaper` semantics (used by Trino `url_encode`).
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

pub(super) fn url_parameter(url: &str, name: &str) -> Option<String> {
    let u = parse_url(url)?;
    let q = u.query?;
    for arg in q.split('&') {
        let (k, v) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        if k == name {
            return match v {
                Some(v) => url_form_decode(v),
                None => Some(String::new()),
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, row, rows};

    #[tokio::test]
    async fn cidr_contains() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT contains('10.0.0.0/8', '10.1.2.3'), contains('10.0.0.0/8', '11.0.0.1'), \
             contains('2001:db8::/32', '2001:db8::1'), contains('2001:db8::/32', '2001:db9::1'), \
             contains('10.0.0.0/8', '::ffff:10.9.9.9'), contains('10.0.0.0/8', '2001:db8::1'), \
             contains('0.0.0.0/0', '8.8.8.8'), contains('192.168.1.0/24', '192.168.1.255'), \
             contains('192.168.1.0/24', '192.168.2.0')",
        )
        .await;
        assert_eq!(r, ["true", "false", "true", "false", "true", "false", "true", "true", "false"]);
        // garbage / nulls / invalid cidr
        let r = row(
            &ctx,
            "SELECT contains('10.0.0.0/8', 'not-an-ip'), contains('10.0.0.0/8', CAST(NULL AS VARCHAR)), \
             contains(CAST(NULL AS VARCHAR), '1.2.3.4'), contains('10.1.0.0/8', '10.1.2.3'), \
             contains('10.0.0.0/33', '10.1.2.3'), contains('10.0.0.0/8', '10.2.0.0/16')",
        )
        .await;
        assert_eq!(r, ["NULL", "NULL", "NULL", "NULL", "NULL", "true"]);
    }

    #[tokio::test]
    async fn contains_substring_and_array() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT contains('/usr/bin/curl', 'curl'), contains('powershell.exe', 'shell'), \
             contains('abc', 'x'), contains(arrow_cast('abc', 'Utf8View'), 'b')",
        )
        .await;
        assert_eq!(r, ["true", "true", "false", "true"]);
        let r = row(
            &ctx,
            "SELECT contains([1, 2, 3], 2), contains([1, 2, 3], 5), contains([1, NULL], 5), \
             contains([1, NULL], 1), contains([1, 2], CAST(NULL AS BIGINT)), \
             contains(['a', 'b'], 'b'), contains(make_array(), 1)",
        )
        .await;
        assert_eq!(r, ["true", "false", "NULL", "true", "NULL", "true", "false"]);
    }

    #[tokio::test]
    async fn contains_on_columns() {
        let ctx = ctx();
        let r = rows(
            &ctx,
            "SELECT contains(net, ip), contains(tags, 'x') FROM (VALUES \
               ('10.0.0.0/8', '10.0.0.1', ['x', 'y']), \
               ('fd00::/8', 'fd12::1', ['y']), \
               ('/tmp/x', 'tmp', ['x']), \
               (NULL, '1.1.1.1', NULL)) AS t(net, ip, tags)",
        )
        .await;
        assert_eq!(
            r,
            vec![
                vec!["true", "true"],
                vec!["true", "false"],
                vec!["true", "true"],
                vec!["NULL", "NULL"],
            ]
        );
        // scalar CIDR against an ip column (the common security-query shape)
        let r = rows(
            &ctx,
            "SELECT contains('172.16.0.0/12', ip) FROM (VALUES ('172.31.255.255'), ('172.32.0.0'), ('junk'), (NULL)) AS t(ip)",
        )
        .await;
        assert_eq!(r, vec![vec!["true"], vec!["false"], vec!["NULL"], vec!["NULL"]]);
    }

    #[tokio::test]
    async fn private_ip_and_ip_helpers() {
        let ctx = ctx();
        let r = rows(
            &ctx,
            "SELECT is_private_ip(ip) FROM (VALUES ('10.1.2.3'), ('172.20.0.1'), ('192.168.0.1'), \
             ('127.0.0.1'), ('169.254.1.1'), ('8.8.8.8'), ('172.32.0.1'), ('::1'), ('fe80::1'), \
             ('fd00::1'), ('2001:4860::8888'), ('::ffff:192.168.1.1'), ('garbage'), (NULL)) AS t(ip)",
        )
        .await;
        let got: Vec<String> = r.into_iter().map(|mut v| v.remove(0)).collect();
        assert_eq!(
            got,
            ["true", "true", "true", "true", "true", "false", "false", "true", "true", "true", "false", "true", "NULL", "NULL"]
        );
        let r = row(
            &ctx,
            "SELECT ipaddress('::ffff:1.2.3.4'), ipaddress('2001:DB8:0:0:0:0:0:1'), ipaddress('x'), \
             ipprefix('192.168.255.255/9'), ip_prefix('10.1.2.3', 16), \
             is_subnet_of('10.0.0.0/8', '10.1.2.3'), is_subnet_of('10.0.0.0/8', '10.1.0.0/16'), \
             is_subnet_of('10.1.0.0/16', '10.0.0.0/8'), ip_subnet_min('192.168.0.0/16'), \
             ip_subnet_max('192.168.0.0/16'), ip_subnet_max('2001:db8::/32')",
        )
        .await;
        assert_eq!(
            r,
            [
                "1.2.3.4",
                "2001:db8::1",
                "NULL",
                "192.128.0.0/9",
                "10.1.0.0/16",
                "true",
                "true",
                "false",
                "192.168.0.0",
                "192.168.255.255",
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            ]
        );
    }

    #[tokio::test]
    async fn url_functions() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT url_extract_host('https://user:pw@Example.com:8443/a%20b/c?q=1&x=a+b%21#frag'), \
             url_extract_port('https://example.com:8443/'), url_extract_port('https://example.com/'), \
             url_extract_protocol('https://example.com/'), \
             url_extract_path('https://example.com/a%20b/c?q=1'), \
             url_extract_query('https://example.com/p?q=1&r=2#f'), \
             url_extract_fragment('https://example.com/p#sec'), \
             url_extract_parameter('https://example.com/p?q=1&x=a+b%21&flag', 'x'), \
             url_extract_parameter('https://example.com/p?q=1&flag', 'flag'), \
             url_extract_parameter('https://example.com/p?q=1', 'nope'), \
             url_extract_host('http://[2001:db8::1]:80/'), url_extract_host('not a url'), \
             url_extract_host('/relative/path'), url_encode('a b&c/é'), url_decode('a+b%26c%2F%C3%A9'), \
             url_decode('%zz')",
        )
        .await;
        assert_eq!(
            r,
            [
                "Example.com",
                "8443",
                "NULL",
                "https",
                "/a b/c",
                "q=1&r=2",
                "sec",
                "a b!",
                "",
                "NULL",
                "[2001:db8::1]",
                "NULL",
                "",
                "a+b%26c%2F%C3%A9",
                "a b&c/é",
                "NULL"
            ]
        );
    }
}
