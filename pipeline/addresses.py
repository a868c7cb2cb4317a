"""Which IP addresses may be fetched from: only globally routable ones (the SSRF guard's rule).

Pure: no network, no DNS. An address is refused when Python's `is_global` says it is not global, or when it
embeds an IPv4 address that is not (6to4, Teredo, NAT64, IPv4-mapped, IPv4-compatible, IPv4-translated): a
6to4 address wrapping 127.0.0.1 is "global" to Python but reaches loopback through a relay.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named ranges, for a message a user can act on; anything else that is not global is "non-global".
_NAMED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("100.64.0.0/10", "shared (carrier-grade NAT, RFC 6598)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("192.0.0.0/24", "IETF protocol assignment (RFC 6890)"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "private (unique local)"),
    ("2001:db8::/32", "documentation"),
    ("100::/64", "discard-only (RFC 6666)"),
)
_NAMED_NETWORKS = tuple((ipaddress.ip_network(net), label) for net, label in _NAMED)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _label(ip: IPAddress) -> str:
    for network, label in _NAMED_NETWORKS:
        if ip.version == network.version and ip in network:
            return label
    for attr, label in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                        ("is_private", "private"), ("is_reserved", "reserved"), ("is_unspecified", "unspecified")):
        if getattr(ip, attr):
            return label
    return "non-global"


def embedded_ipv4(ip: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of the form that carries it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64):
        found.append(("NAT64", last32))
    elif ip in _IPV4_TRANSLATED:
        found.append(("IPv4-translated", last32))
    elif ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (deprecated); :: and ::1 are judged as they are
        found.append(("IPv4-compatible", last32))
    return found


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched from (e.g. 'loopback', '6to4 wrapping loopback 127.0.0.1'), or None when it
    is globally routable and embeds no address that is not."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # judged as the IPv4 address it is
    for form, inner in embedded_ipv4(ip):
        if not inner.is_global:
            return f"{form} wrapping {_label(inner)} {inner}"
    if not ip.is_global or ip.is_multicast:
        return _label(ip)
    return None
