"""Handing an IP packet the pipeline passed back (XDP_PASS of a changed frame) to the kernel.

The XDP program passes an encapsulated packet to the kernel when the next
hop's MAC is unknown, or when it is too big and may be fragmented; the kernel
then routes it, resolves ARP and fragments it. The live Python data plane
does the same through a raw socket (IPPROTO_RAW, so the IP header is ours),
with one difference the kernel imposes: a raw socket refuses a packet longer
than the output device's MTU (EMSGSIZE) instead of fragmenting it, so such a
packet, when its DF bit is clear, is fragmented here first (`fragment_ipv4`)
to the route's MTU.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from typing import Protocol

IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFSET = 0x1FFF


def ipv4_checksum(header: bytes) -> int:
    """The Internet checksum of an IPv4 header whose checksum field is zero."""
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def fragment_ipv4(packet: bytes, mtu: int) -> list[bytes]:
    """RFC 791 fragments of `packet`, each at most `mtu` bytes (the packet itself if it fits).

    Every fragment repeats the header (with its options, if any), with
    tot_len, the MF bit, the offset and the checksum set for it.
    Raises ValueError for a DF packet that does not fit or an MTU too small.
    """
    ihl = (packet[0] & 0x0F) * 4
    tot_len, frag = struct.unpack_from("!H2xH", packet, 2)
    if tot_len <= mtu:
        return [packet]
    if frag & IP_DF:
        raise ValueError("DF set: the packet may not be fragmented")
    step = (mtu - ihl) // 8 * 8
    if step <= 0:
        raise ValueError(f"MTU {mtu} leaves no room for data")
    payload = packet[ihl:tot_len]
    first_offset, more = frag & IP_OFFSET, frag & IP_MF
    fragments = []
    for start in range(0, len(payload), step):
        chunk = payload[start:start + step]
        last = start + step >= len(payload)
        header = bytearray(packet[:ihl])
        flags = (0 if last else IP_MF) | more | (first_offset + start // 8)
        struct.pack_into("!H", header, 2, ihl + len(chunk))
        struct.pack_into("!H", header, 6, flags)
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, ipv4_checksum(bytes(header)))
        fragments.append(bytes(header) + chunk)
    return fragments


class RawSender(Protocol):
    def sendto(self, data: bytes, address: tuple[str, int], /) -> int: ...

    def close(self) -> None: ...


def raw_ip_socket() -> socket.socket:
    """socket(AF_INET, SOCK_RAW, IPPROTO_RAW): send-only, IP_HDRINCL implied."""
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


class KernelHandoff:
    """Sends IP packets (headers included) into this namespace's kernel to be routed out.

    `route_mtu(dst, length)` says the MTU of the route toward dst when a
    packet of `length` bytes does not fit, else None (KernelFib answers it).
    """

    def __init__(self, sender: RawSender,
                 route_mtu: Callable[[ipaddress.IPv4Address, int], int | None]) -> None:
        self.sender = sender
        self.route_mtu = route_mtu

    def send(self, packet: bytes) -> int:
        """Send the packet, fragmented if it must be; returns how many packets left."""
        dst = ipaddress.IPv4Address(packet[16:20])
        mtu = self.route_mtu(dst, len(packet))
        pieces = [packet] if mtu is None else fragment_ipv4(packet, mtu)
        for piece in pieces:
            self.sender.sendto(piece, (str(dst), 0))
        return len(pieces)

    def close(self) -> None:
        self.sender.close()

