"""`pyvs realserver probe REAL VIP[:PORT]`: does the whole real-server path answer?

Run on another host, typically the director: it sends the real server what a
director sends, an IPIP packet (outer: this host -> REAL) around a packet to
the VIP (inner: this host -> VIP, an ICMP echo request, or a TCP SYN to PORT),
and waits for the real server's answer, sent from the VIP straight back to
this host (the echo reply, or the SYN-ACK; a RST means the path works but
nothing listens on PORT). The answer proves decapsulation, the VIP as a local
address, rp_filter and the route back, all at once; a SYN-ACK also shows the
MSS the real server advertises (the clamp of `up`).

Why not from the real server itself: a packet sent to one's own address goes
through lo. tunl0 would decapsulate it there, but the XDP decap program sits
on the physical interface and never sees it, and rp_filter on lo is not the
one that judges clients' packets.

The answer is read with an AF_PACKET socket: on the director, whose VIP is a
local address, the kernel drops a packet *from* the VIP as a martian before
any IP socket sees it. After a SYN-ACK the probe sends an encapsulated RST so
the real server does not keep the half-open connection.

Building and matching packets is pure (build_* and match_answer); `probe()`
does the I/O.
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import time
from dataclasses import dataclass

from pyvs.lab.ping import echo_request, internet_checksum
from pyvs.realserver.system import RealServerError

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
PROBE_MSS = 1460  # the MSS option of the probe's SYN: a client on a 1500-byte path


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back from the VIP: "echo reply", "SYN-ACK" or "RST"; a SYN-ACK's MSS option."""

    kind: str
    mss: int | None = None
    ack: int = 0  # a SYN-ACK's acknowledgment number, for the RST that closes it


def ipv4_header(src: str, dst: str, proto: int, payload_len: int, ident: int) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, 0x4000, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
                options: bytes = b"") -> bytes:
    offset = (20 + len(options)) // 4 << 4
    segment = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset, flags, 64240, 0, 0) + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, IPPROTO_TCP, len(segment))
    csum = internet_checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def build_echo(src: str, vip: str, ident: int, seq: int) -> bytes:
    """The inner packet of an ICMP probe: echo request src -> vip."""
    icmp = echo_request(ident, seq, b"pyvs-probe")
    return ipv4_header(src, vip, IPPROTO_ICMP, len(icmp), ident) + icmp


def build_syn(src: str, vip: str, sport: int, port: int, seq: int) -> bytes:
    """The inner packet of a TCP probe: SYN src:sport -> vip:port, MSS option PROBE_MSS."""
    segment = tcp_segment(src, vip, sport, port, seq, 0, TCP_SYN, struct.pack("!BBH", 2, 4, PROBE_MSS))
    return ipv4_header(src, vip, IPPROTO_TCP, len(segment), sport) + segment


def build_rst(src: str, vip: str, sport: int, port: int, seq: int) -> bytes:
    """The RST that closes the half-open connection a SYN-ACK left."""
    segment = tcp_segment(src, vip, sport, port, seq, 0, TCP_RST)
    return ipv4_header(src, vip, IPPROTO_TCP, len(segment), sport) + segment


def tcp_mss(options: bytes) -> int | None:
    """The MSS option's value in TCP options, or None."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        length = options[i + 1]
        if kind == 2 and length == 4 and i + 4 <= len(options):
            return int(struct.unpack("!H", options[i + 2:i + 4])[0])
        i += length
    return None


def match_answer(packet: bytes, *, vip: str, dst: str, port: int | None, ident: int) -> Answer | None:
    """The answer to our probe in an IPv4 packet (from `vip` to `dst`), or None when it is not one.

    `ident`: the echo identifier (ICMP probe) or our source port (TCP probe).
    """
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    proto = packet[9]
    if packet[12:16] != socket.inet_aton(vip) or packet[16:20] != socket.inet_aton(dst):
        return None
    body = packet[ihl:]
    if port is None:
        if proto != IPPROTO_ICMP or len(body) < 8:
            return None
        kind, _code, _csum, r_ident = struct.unpack("!BBHH", body[:6])
        return Answer("echo reply") if kind == 0 and r_ident == ident else None
    if proto != IPPROTO_TCP or len(body) < 20:
        return None
    sport, dport, _seq, ack, offset, flags = struct.unpack("!HHIIBB", body[:14])
    if sport != port or dport != ident:
        return None
    if flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK:
        return Answer("SYN-ACK", tcp_mss(body[20:(offset >> 4) * 4]), ack)
    if flags & TCP_RST:
        return Answer("RST")
    return None


def source_address(real: str) -> str:
    """This host's address toward `real` (the route's preferred source)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((real, 9))
        return str(sock.getsockname()[0])


def _send_ipip(real: str, inner: bytes) -> None:
    # The kernel writes the outer header (protocol 4, this host -> real).
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP) as sock:
        sock.sendto(inner, (real, 0))


def probe(
    real: str, vip: str, port: int | None, *, timeout: float = 2.0, src: str | None = None,
) -> Answer | None:
    """Send one encapsulated probe to `real` for `vip` (ICMP, or a TCP SYN to `port`); the answer or None."""
    try:
        src = src or source_address(real)
        ident = random.randint(1024, 65535) if port is not None else os.getpid() & 0xFFFF
        seq = random.getrandbits(32)
        inner = build_syn(src, vip, ident, port, seq) if port is not None else build_echo(src, vip, ident, 1)
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as tap:
            _send_ipip(real, inner)
            answer = _wait(tap, vip=vip, dst=src, port=port, ident=ident, timeout=timeout)
        if answer is not None and answer.kind == "SYN-ACK" and port is not None:
            _send_ipip(real, build_rst(src, vip, ident, port, answer.ack))
    except OSError as exc:
        raise RealServerError(f"probe of {real} for {vip}: {exc.strerror or exc}") from exc
    return answer


def _wait(
    tap: socket.socket, *, vip: str, dst: str, port: int | None, ident: int, timeout: float,
) -> Answer | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([tap], [], [], left)
        if not ready:
            break
        packet, address = tap.recvfrom(65535)
        if address[2] == PACKET_OUTGOING:
            continue
        answer = match_answer(packet, vip=vip, dst=dst, port=port, ident=ident)
        if answer is not None:
            return answer
    return None
