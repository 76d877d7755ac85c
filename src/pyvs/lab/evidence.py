"""The seed document's evidence, checked on tcpdump text. Pure: no I/O.

Input is what `tcpdump -n -S -r FILE` prints, one packet per line. An IPIP packet
prints as its outer addresses followed by the inner packet,
    12:00:00.1 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [S], ... length 0
and older tcpdump versions append " (ipip-proto-4)". Lines that are not IPv4
(ARP, IP6, headers) parse to None.

The checks (names as the lab prints them):
  (a) every plain client packet to the VIP on the director's link has an
      encapsulated twin from the director to a real server;
  (b) the replies from the VIP to the client appear on a real server's link;
  (c) no packet from the VIP appears on the director's link;
  (d) the client got the page.
Twins must print identically after the outer addresses: the lab reads its
captures with -S (absolute sequence numbers), since relative numbers restart
per printed flow and would make the same packet print differently twice.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPIP_SUFFIX = " (ipip-proto-4)"
PORT_NAMES = {"http": 80, "https": 443, "domain": 53, "ssh": 22}

_LINE = re.compile(r"^(?P<time>\S+) IP (?P<rest>.*)$")
_ENDPOINT = r"[0-9.]+(?:\.[0-9a-z-]+)?"  # address, or address.port (port may be a name)
_ADDRESSES = re.compile(rf"^(?P<src>{_ENDPOINT}) > (?P<dst>{_ENDPOINT}): (?P<detail>.*)$")
_FLAGS = re.compile(r"Flags \[([^\]]*)\]")
_LENGTH = re.compile(r"length (\d+)")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IPv4 address and, for TCP/UDP, a port (None for other protocols)."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}.{self.port}"


@dataclass(frozen=True, slots=True)
class Packet:
    """One IPv4 packet as tcpdump printed it; `outer` is (src, dst) of an IPIP outer header."""

    time: str
    src: Endpoint
    dst: Endpoint
    detail: str
    outer: tuple[str, str] | None = None

    @property
    def flags(self) -> str | None:
        found = _FLAGS.search(self.detail)
        return found.group(1) if found else None

    @property
    def length(self) -> int | None:
        found = _LENGTH.search(self.detail)
        return int(found.group(1)) if found else None

    def twin_key(self) -> tuple[Endpoint, Endpoint, str]:
        """What a packet and its encapsulated copy share: everything but the outer header."""
        return self.src, self.dst, self.detail

    def summary(self) -> str:
        inner = f"{self.src} > {self.dst}: {self.detail}"
        return inner if self.outer is None else f"{self.outer[0]} > {self.outer[1]}: IP {inner}"


def parse_endpoint(text: str) -> Endpoint:
    """'10.1.1.1.58749' -> Endpoint('10.1.1.1', 58749); '10.2.2.3.http' -> port 80."""
    parts = text.split(".")
    if len(parts) == 5:
        port = parts[4]
        return Endpoint(".".join(parts[:4]), int(port) if port.isdigit() else PORT_NAMES.get(port))
    return Endpoint(text)


def _parse_ip(time: str, rest: str, outer: tuple[str, str] | None = None) -> Packet | None:
    found = _ADDRESSES.match(rest)
    if not found:
        return None
    src, dst, detail = found.group("src", "dst", "detail")
    if outer is None and detail.startswith("IP "):
        inner = detail[3:].removesuffix(IPIP_SUFFIX)
        return _parse_ip(time, inner, (parse_endpoint(src).host, parse_endpoint(dst).host))
    return Packet(time, parse_endpoint(src), parse_endpoint(dst), detail.removesuffix(IPIP_SUFFIX), outer)


def parse_line(line: str) -> Packet | None:
    """One tcpdump line -> Packet, or None when it is not an IPv4 packet line."""
    found = _LINE.match(line.strip())
    return _parse_ip(found.group("time"), found.group("rest")) if found else None


def parse_lines(lines: Iterable[str]) -> list[Packet]:
    return [p for p in map(parse_line, lines) if p is not None]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict of the lab: name, pass/fail and a sentence saying why."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def client_packets(packets: Sequence[Packet], client: str, vip: str, port: int) -> list[Packet]:
    """Plain (not encapsulated) packets from the client to vip:port."""
    return [p for p in packets if p.outer is None and p.src.host == client and p.dst == Endpoint(vip, port)]


def check_encapsulated_twins(
    director_link: Sequence[Packet], *, client: str, vip: str, port: int, director: str, reals: Sequence[str],
) -> Check:
    """(a) Each plain client packet on the director's link has an IPIP twin director -> real server."""
    name = "(a) director's link: every client packet also leaves encapsulated"
    plain = client_packets(director_link, client, vip, port)
    twins = [
        p for p in director_link
        if p.outer is not None and p.outer[0] == director and p.outer[1] in reals
        and p.src.host == client and p.dst == Endpoint(vip, port)
    ]
    if not plain:
        return Check(name, False, f"no packet {client} > {vip}.{port} on the director's link")
    if not any(p.flags == "S" for p in plain):
        return Check(name, False, f"no SYN from {client} to {vip}.{port} on the director's link")
    missing = Counter(p.twin_key() for p in plain) - Counter(p.twin_key() for p in twins)
    if missing:
        shown = "; ".join(f"{s} > {d}: {detail}" for s, d, detail in list(missing)[:3])
        return Check(name, False, f"{sum(missing.values())} of {len(plain)} without an IPIP twin: {shown}")
    outers = sorted({f"{p.outer[0]} > {p.outer[1]}" for p in twins if p.outer is not None})
    return Check(name, True, f"{len(plain)} client packets, each also as IPIP {', '.join(outers)}")


def check_direct_replies(
    real_links: Sequence[Packet], *, client: str, vip: str, port: int, client_ports: Iterable[int | None],
) -> Check:
    """(b) Replies vip:port -> client:PORT appear on a real server's link, SYN-ACK and data included."""
    name = "(b) real server's link: replies go from the VIP straight to the client"
    ports = set(client_ports)
    replies = [
        p for p in real_links
        if p.outer is None and p.src == Endpoint(vip, port) and p.dst.host == client and p.dst.port in ports
    ]
    if not ports:
        return Check(name, False, "no client connection to look for")
    if not any(p.flags == "S." for p in replies):
        return Check(name, False, f"no SYN-ACK {vip}.{port} > {client} on the real server's link")
    if not any((p.length or 0) > 0 for p in replies):
        return Check(name, False, f"no reply carrying data {vip}.{port} > {client} on the real server's link")
    return Check(name, True, f"{len(replies)} replies {vip}.{port} > {client}, SYN-ACK and data included")


def check_no_vip_source(director_link: Sequence[Packet], *, vip: str) -> Check:
    """(c) No packet with the VIP as source (plain or inner) on the director's link."""
    name = "(c) director's link: no packet from the VIP"
    from_vip = [p for p in director_link if p.src.host == vip]
    if from_vip:
        return Check(name, False, f"{len(from_vip)} packets from {vip}, first: {from_vip[0].summary()}")
    return Check(name, True, f"no packet from {vip} among {len(director_link)} IPv4 packets")


def check_page(returncode: int, body: str, expected: str) -> Check:
    """(d) curl succeeded and its output contains `expected`."""
    name = "(d) the client got the page"
    if returncode != 0:
        return Check(name, False, f"curl exit status {returncode}")
    if expected not in body:
        return Check(name, False, f"{expected!r} not in curl's output {body.strip()!r}")
    return Check(name, True, repr(body.strip()))
