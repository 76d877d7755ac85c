"""Cutting a TCP super-packet into segments, as the kernel's GSO would have before sending.

A packet socket receives what the stack holds: with GRO on the interface, or a sender on
the same host whose veth does TSO, that is one IPv4 packet of up to 64 KB carrying many TCP
segments. The live Python data plane forwards frames one by one, each at most the MTU, so
it cuts such a packet first, as tcp_gso_segment() does: the same headers on each piece,
sequence numbers moved on, IP ids counting up, FIN and PSH on the last piece only, CWR on
the first only, every checksum complete. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct

from pyvs.packet.headers import IPPROTO_TCP

TCP_FIN, TCP_PSH, TCP_CWR = 0x01, 0x08, 0x80


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _checksum(data: bytes) -> int:
    """The Internet checksum of `data` (RFC 1071), as a number to store big-endian."""
    total = _sum16(data)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def l2_len(frame: bytes) -> int:
    """14, or 18 behind one 802.1Q or 802.1ad tag."""
    return 18 if frame[12:14] in (b"\x81\x00", b"\x88\xa8") else 14


def segments(frame: bytes, l3_off: int, mtu: int) -> list[bytes] | None:
    """The frame's IPv4 TCP packet cut into packets of at most `mtu` bytes, each behind the
    frame's L2 header; None when it is not a TCP packet over `mtu` that can be cut."""
    ip = frame[l3_off:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != IPPROTO_TCP:
        return None
    ihl = (ip[0] & 0x0F) * 4
    tot_len = struct.unpack_from("!H", ip, 2)[0]
    frag = struct.unpack_from("!H", ip, 6)[0]
    if tot_len > len(ip) or tot_len <= mtu or frag & 0x3FFF or len(ip) < ihl + 20:  # (a fragment: never)
        return None
    doff = (ip[ihl + 12] >> 4) * 4
    headers = ihl + doff
    mss = mtu - headers
    if doff < 20 or headers >= tot_len or mss <= 0:
        return None
    l2, ip_header, tcp_header = frame[:l3_off], ip[:ihl], ip[ihl:headers]
    payload = ip[headers:tot_len]
    ip_id = struct.unpack_from("!H", ip, 4)[0]
    seq = struct.unpack_from("!I", tcp_header, 4)[0]
    flags = tcp_header[13]
    pieces = []
    for n, start in enumerate(range(0, len(payload), mss)):
        chunk = payload[start:start + mss]
        last = start + mss >= len(payload)
        tcp = bytearray(tcp_header)
        struct.pack_into("!I", tcp, 4, (seq + start) & 0xFFFFFFFF)
        tcp[13] = flags & ~((0 if last else TCP_FIN | TCP_PSH) | (0 if n == 0 else TCP_CWR))
        tcp[16:18] = b"\0\0"
        pseudo = ip_header[12:20] + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp) + len(chunk))
        struct.pack_into("!H", tcp, 16, _checksum(pseudo + bytes(tcp) + chunk))
        header = bytearray(ip_header)
        struct.pack_into("!HH", header, 2, ihl + len(tcp) + len(chunk), (ip_id + n) & 0xFFFF)
        header[10:12] = b"\0\0"
        struct.pack_into("!H", header, 10, _checksum(bytes(header)))
        pieces.append(l2 + bytes(header) + bytes(tcp) + chunk)
    return pieces
