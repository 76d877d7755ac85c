"""Header parsing and checksums, as bpf/parsing.h, bpf/csum.h and bpf/reshape.h do them.

Offsets, not objects: the pipeline works on a bytearray and these helpers read
and write it at offsets, so that each C helper has a twin here with the same
name and the same return convention.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

ETH_HLEN = 14
ETH_ALEN = 6
VLAN_HLEN = 4
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IP_MF = 0x2000
IP_DF = 0x4000
IP_OFFSET = 0x1FFF
MAX_L3_OFF = 78  # L2 (18) + an outer IPv4 header (60): the programs' bound for inner headers
CSUM_MAX_BYTES = 4096  # csum_packet()'s most bytes (LB_CSUM_MAX_BYTES)...
CSUM_MAX_OFF = 128  # ...and furthest start (LB_CSUM_MAX_OFF)


@dataclass
class Frame:
    """Where the layers of one frame start (struct lb_frame)."""

    l3_off: int = 0
    l4_off: int = 0
    l3_len: int = 0


def mac_bytes(text: str) -> bytes:
    """'02:00:00:00:01:fe' -> its 6 bytes; ValueError for anything else."""
    raw = bytes.fromhex(text.replace(":", ""))
    if len(raw) != ETH_ALEN:
        raise ValueError(f"bad MAC address {text!r}")
    return raw


def parse_eth(data: bytes | bytearray, frame: Frame) -> int:
    """0 for IPv4 behind Ethernet and at most one VLAN tag (l3_off set); -1 otherwise."""
    if len(data) < ETH_HLEN:
        return -1
    proto = struct.unpack_from("!H", data, 12)[0]
    off = ETH_HLEN
    if proto in (ETH_P_8021Q, ETH_P_8021AD):
        if len(data) < ETH_HLEN + VLAN_HLEN:
            return -1
        proto = struct.unpack_from("!H", data, 16)[0]
        off += VLAN_HLEN
    if proto != ETH_P_IP:
        return -1
    frame.l3_off = off
    return 0


def ipv4_at(data: bytes | bytearray, off: int) -> bool:
    """Whether the fixed 20 bytes of an IPv4 header are there at off (off <= 18)."""
    return off <= 18 and off + 20 <= len(data)


def csum_fold(total: int) -> int:
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def csum_range(data: bytes | bytearray, off: int, length: int) -> int:
    """One's complement sum over length bytes at off, of native-order 16-bit words
    (as the C adds them); 0 when a checksum field in the range is right."""
    if off > MAX_L3_OFF:
        return 0xFFFF
    total = 0
    for i in range(38):
        if i * 2 >= length:
            break
        if off + i * 2 + 2 > len(data):
            return 0xFFFF
        total += int.from_bytes(data[off + i * 2:off + i * 2 + 2], sys.byteorder)
    return csum_fold(total)


def csum_packet(data: bytes | bytearray, off: int, length: int) -> int:
    """One's complement sum of `length` bytes at `off`, unfolded (an odd last byte padded with
    zero); -1 when out of the frame or beyond csum_packet()'s bounds."""
    if off > CSUM_MAX_OFF or length > CSUM_MAX_BYTES or off + length > len(data):
        return -1
    chunk = bytes(data[off:off + length]) + (b"\0" if length % 2 else b"")
    return sum(int.from_bytes(chunk[i:i + 2], sys.byteorder) for i in range(0, len(chunk), 2))


def pseudo_header_sum(data: bytes | bytearray, l3_off: int, l4_len: int) -> int:
    """The IPv4 pseudo-header's sum, folded, not inverted (what a sender that leaves the
    checksum to offload writes into the field), as a native-order word."""
    words = [int.from_bytes(data[l3_off + i:l3_off + i + 2], sys.byteorder) for i in (12, 14, 16, 18)]
    words.append(int.from_bytes(bytes([0, data[l3_off + 9]]), sys.byteorder))
    words.append(int.from_bytes((l4_len & 0xFFFF).to_bytes(2, "big"), sys.byteorder))
    return ~csum_fold(sum(words)) & 0xFFFF


def put_csum(data: bytearray, off: int, value: int) -> None:
    """Store a checksum computed by csum_range (native order, as the C stores it)."""
    data[off:off + 2] = value.to_bytes(2, sys.byteorder)


def check_ipv4(data: bytes | bytearray, off: int, frame: Frame) -> int:
    """0 for a valid IPv4 header at off (l4_off, l3_len set); -1 bad header or length; -2 bad checksum."""
    if off > MAX_L3_OFF or off + 20 > len(data):
        return -1
    version, hlen = data[off] >> 4, (data[off] & 0x0F) * 4
    tot_len = struct.unpack_from("!H", data, off + 2)[0]
    if version != 4 or hlen < 20:
        return -1
    if tot_len < hlen or off + tot_len > len(data):
        return -1
    if csum_range(data, off, hlen) != 0:
        return -2
    frame.l4_off = off + hlen
    frame.l3_len = tot_len
    return 0


def ipv4_is_fragment(data: bytes | bytearray, off: int) -> bool:
    return bool(struct.unpack_from("!H", data, off + 6)[0] & (IP_MF | IP_OFFSET))


def l4_check(data: bytes | bytearray, proto: int, frame: Frame, first_fragment: bool = False) -> int:
    """0 when a whole TCP or UDP header with consistent lengths lies in the packet (a first
    fragment's UDP length is the whole datagram's); -1 otherwise."""
    l4_len = frame.l3_len - (frame.l4_off - frame.l3_off)
    if frame.l4_off > MAX_L3_OFF:
        return -1
    if proto == IPPROTO_TCP:
        if frame.l4_off + 20 > len(data) or l4_len < 20:
            return -1
        doff = data[frame.l4_off + 12] >> 4
        if doff < 5 or doff * 4 > l4_len:
            return -1
        return 0
    if proto == IPPROTO_UDP:
        if frame.l4_off + 8 > len(data) or l4_len < 8:
            return -1
        ulen = struct.unpack_from("!H", data, frame.l4_off + 4)[0]
        if ulen < 8 or (ulen > l4_len and not first_fragment):
            return -1
        return 0
    return -1


def ipv4_set_checksum(data: bytearray, off: int) -> None:
    """Fill in the checksum of the 20-byte IPv4 header at off."""
    data[off + 10:off + 12] = b"\0\0"
    put_csum(data, off + 10, csum_range(data, off, 20))


def ipv4_decrease_ttl(data: bytearray, off: int) -> None:
    """TTL - 1 with the checksum patched exactly as the kernel's ip_decrease_ttl()."""
    check = int.from_bytes(data[off + 10:off + 12], sys.byteorder)
    check += int.from_bytes((0x0100).to_bytes(2, "big"), sys.byteorder)
    data[off + 10:off + 12] = ((check + (check >= 0xFFFF)) & 0xFFFF).to_bytes(2, sys.byteorder)
    data[off + 8] = (data[off + 8] - 1) & 0xFF


def trim_frame(data: bytearray, keep: int) -> None:
    """Cut everything behind the first keep bytes."""
    del data[keep:]


def move_l2_header(data: bytearray, l2_len: int, shift: int) -> bytearray:
    """Grow (shift < 0) or shrink (shift > 0) the frame at its front, the L2 header kept in front."""
    l2 = bytes(data[:l2_len])
    body = data[shift:] if shift > 0 else bytearray(-shift) + data
    body[:l2_len] = l2
    return bytearray(body)
