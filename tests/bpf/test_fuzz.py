"""Fuzzing the director and the decapsulation program with random and mutated frames.

Seeds: valid frames of every kind the programs handle (TCP and UDP to services, with and
without VLAN tags and IP options, first and later fragments, ICMP errors about a flow,
tunnel packets). Mutations: cuts at every header boundary and anywhere, length fields
(IPv4 total length and header length, TCP data offset, UDP length) set to other values,
checksums and random bytes changed, random frames. Properties, checked on each frame:

- a frame the director sends (TX, REDIRECT) is a whole IPIP packet whose inner packet is a
  valid IPv4 packet (header checksum, lengths) with a whole TCP or UDP header, or an ICMP
  error; the decapsulation hands its host's kernel, decapsulated, only whole IPv4 packets
  with valid headers, to a VIP;
- no flow but the frame's own changes (the flows seeded in the table stay byte for byte).

20,000 frames per program by default (PYVS_FUZZ_FRAMES), 1,000,000 with `pytest --long`.
"""

from __future__ import annotations

import ipaddress
import os
import random
import struct
from collections import Counter
from collections.abc import Callable

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from pyvs.model.enums import Action
from pyvs.packet import abi
from tests.bpf.conftest import DECAP_LOCAL as LOCAL
from tests.bpf.conftest import DECAP_VIP, Decap, Director
from tests.vectors.frames import CLIENT, DIRECTOR_MAC, REAL1, REAL2, ROUTER_MAC, VIP

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]

FRAMES = int(os.environ.get("PYVS_FUZZ_FRAMES", "20000"))
SEED = 11


def checksum_ok(header: bytes) -> bool:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def l2_length(frame: bytes) -> int:
    return 18 if frame[12:14] in (b"\x81\x00", b"\x88\xa8") else 14


def valid_ipv4(packet: bytes, *, with_l4: bool = True) -> str | None:
    """Why `packet` (from its IPv4 header on, to its end) is not a whole, valid IPv4 packet
    (`with_l4`: with a whole TCP or UDP header, or ICMP); None when it is."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[0] & 0x0F < 5:
        return "IPv4 header"
    hlen = (packet[0] & 0x0F) * 4
    tot_len = struct.unpack_from("!H", packet, 2)[0]
    if tot_len != len(packet) or tot_len < hlen:
        return "total length"
    if not checksum_ok(packet[:hlen]):
        return "header checksum"
    frag = struct.unpack_from("!H", packet, 6)[0]
    l4 = packet[hlen:]
    if frag & 0x1FFF or not with_l4:  # a later fragment has no L4 header to check
        return None
    if packet[9] == 6:
        if len(l4) < 20 or l4[12] >> 4 < 5 or (l4[12] >> 4) * 4 > len(l4):
            return "TCP header"
    elif packet[9] == 17:
        if len(l4) < 8 or struct.unpack_from("!H", l4, 4)[0] < 8:
            return "UDP header"
        if not frag & 0x2000 and struct.unpack_from("!H", l4, 4)[0] > len(l4):
            return "UDP length"
    elif packet[9] != 1:
        return "protocol"
    return None


def forwarded_problem(out: bytes) -> str | None:
    """Why an IPIP frame the director sent is not a whole tunnel packet around a valid one."""
    outer = out[l2_length(out):]
    if len(outer) < 20 or outer[9] != 4:
        return "not IPIP"
    hlen = (outer[0] & 0x0F) * 4
    if struct.unpack_from("!H", outer, 2)[0] != len(outer) or not checksum_ok(outer[:hlen]):
        return "outer header"
    return valid_ipv4(outer[hlen:])


def seeds() -> list[bytes]:
    eth = Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC)
    syn = IP(src=CLIENT, dst=VIP, id=7) / TCP(sport=40000, dport=80, flags="S")
    data = IP(src=CLIENT, dst=VIP, id=8) / TCP(sport=40001, dport=80, flags="PA") / Raw(b"x" * 300)
    opts = IP(src=CLIENT, dst=VIP, options=b"\x01\x01\x01\x00") / TCP(sport=40002, dport=80, flags="A")
    udp = IP(src=CLIENT, dst=VIP) / UDP(sport=5300, dport=53) / Raw(b"q" * 60)
    pieces = fragment(IP(src=CLIENT, dst=VIP, id=99, flags=0) / UDP(sport=5301, dport=53) / Raw(b"z" * 2500),
                      fragsize=1000)
    reply = IP(src=VIP, dst=CLIENT) / TCP(sport=80, dport=40000, flags="A") / Raw(b"r" * 40)
    error = IP(src="10.1.1.254", dst=VIP) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(reply)
    frames = [eth / syn, eth / data, eth / opts, eth / udp, eth / error, *(eth / p for p in pieces),
              Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC) / Dot1Q(vlan=7) / syn]
    return [bytes(f) for f in frames]


def tunnel_seeds() -> list[bytes]:
    eth = Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC)
    inner = IP(src=CLIENT, dst=str(DECAP_VIP)) / TCP(sport=40000, dport=80, flags="S")
    datagram = IP(src=CLIENT, dst=str(DECAP_VIP)) / UDP(sport=1, dport=53) / Raw(b"u" * 30)
    return [bytes(eth / IP(src="10.2.2.2", dst=str(LOCAL), proto=4) / packet) for packet in (inner, datagram)]


def boundaries(frame: bytes) -> list[int]:
    l2 = l2_length(frame)
    cuts = [14, l2, l2 + 1, l2 + 10, l2 + 19]  # (BPF_PROG_TEST_RUN takes no frame under 14 bytes)
    if len(frame) > l2 + 20:
        ihl = (frame[l2] & 0x0F) * 4
        cuts += [l2 + ihl, l2 + ihl + 4, l2 + ihl + 7, l2 + ihl + 8, l2 + ihl + 13, l2 + ihl + 19,
                 l2 + ihl + 20, l2 + ihl + 27, l2 + ihl + 28, l2 + ihl + 40]
    return [c for c in cuts if c < len(frame)]


def mutate(rng: random.Random, frame: bytes) -> tuple[str, bytes]:
    """One mutation of `frame`: (its kind, the frame)."""
    kind = rng.choice(["cut-boundary", "cut", "tot_len", "ihl", "doff", "ulen", "checksum", "bytes",
                       "bytes", "random", "intact"])
    data = bytearray(frame)
    l2 = l2_length(frame)
    ihl = (data[l2] & 0x0F) * 4 if len(data) > l2 else 20
    if kind == "cut-boundary":
        return kind, bytes(data[:rng.choice(boundaries(frame))])
    if kind == "cut":
        return kind, bytes(data[:rng.randrange(14, len(data))])
    if kind == "tot_len" and len(data) >= l2 + 4:
        struct.pack_into("!H", data, l2 + 2, rng.choice([0, 1, 19, 20, 21, len(data) - l2 - 1,
                                                        len(data) - l2 + 1, rng.randrange(65536)]))
    elif kind == "ihl" and len(data) > l2:
        data[l2] = (data[l2] & 0xF0) | rng.randrange(16)
    elif kind == "doff" and len(data) > l2 + ihl + 12:
        data[l2 + ihl + 12] = rng.randrange(16) << 4
    elif kind == "ulen" and len(data) > l2 + ihl + 6:
        struct.pack_into("!H", data, l2 + ihl + 4, rng.randrange(65536))
    elif kind == "checksum" and len(data) > l2 + 12:
        data[l2 + rng.choice([10, 11])] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "random":
        return kind, rng.randbytes(rng.randrange(14, 200))
    return kind, bytes(data)


def own_key(frame: bytes) -> bytes | None:
    """The lb_flows key a frame may legitimately touch (its own 5-tuple), as bytes."""
    l2 = l2_length(frame)
    if len(frame) < l2 + 20 or frame[l2 + 9] not in (6, 17):
        return None
    ihl = (frame[l2] & 0x0F) * 4
    if len(frame) < l2 + ihl + 4:
        return None
    sport, dport = struct.unpack_from("=HH", frame, l2 + ihl)
    key = abi.FlowKey(saddr=int.from_bytes(frame[l2 + 12:l2 + 16], "little"),
                      daddr=int.from_bytes(frame[l2 + 16:l2 + 20], "little"), sport=sport, dport=dport,
                      proto=frame[l2 + 9])
    return bytes(key)


Run = Callable[[bytes], tuple[Action, bytes]]
# a frame's output -> None when the program let nothing out of it, else what was wrong with it
# ("" when nothing): the property checked on each frame
Check = Callable[[Action, bytes, bytes], str | None]


def fuzz(run: Run, base: list[bytes], check: Check, what: str) -> Counter[str]:
    """FRAMES mutations of the frames in `base` through `run`, each output `check`ed;
    returns how many of each mutation got each action, and how many were let out (`what`)."""
    rng = random.Random(SEED)
    seen: Counter[str] = Counter()
    for _ in range(FRAMES):
        kind, frame = mutate(rng, rng.choice(base))
        action, out = run(frame)
        problem = check(action, frame, out)
        if problem is not None:
            assert problem == "", (kind, problem, frame.hex())
            seen[what] += 1
        seen[f"{kind} {action.name}"] += 1
    assert seen[what] > FRAMES // 20 and any(k.endswith("DROP") for k in seen), seen
    return seen


def test_the_director_never_forwards_an_invalid_frame_nor_changes_another_flow(director: Director) -> None:
    director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    director.add_service(udp=True, port=53, reals=((REAL1, 1), (REAL2, 1)))
    flows = director.dataplane.maps.flows
    for n in range(64):  # unrelated flows, alive: none of the mutations' 5-tuples
        director.run(bytes(Ether(src=ROUTER_MAC, dst=DIRECTOR_MAC)
                           / IP(src=str(ipaddress.IPv4Address("10.9.0.1") + n), dst=VIP)
                           / TCP(sport=1000 + n, dport=80, flags="S")))
    unrelated = {bytes(k): bytes(v) for k, v in flows.items()}
    assert len(unrelated) == 64

    def forwarded(action: Action, frame: bytes, out: bytes) -> str | None:
        l2 = l2_length(out)
        if action not in (Action.TX, Action.REDIRECT) or out[l2 + 9:l2 + 10] != b"\x04":
            return None
        return forwarded_problem(out) or ""

    seen = fuzz(director.run, seeds(), forwarded, "forwarded")
    after = {bytes(k): bytes(v) for k, v in flows.items()}
    assert {k for k in unrelated if after.get(k) != unrelated[k]} == set()
    print(f"\nfuzz (director): {FRAMES} frames, none invalid forwarded, no unrelated flow changed:",
          dict(seen.most_common()))


def test_the_decapsulation_passes_on_only_valid_inner_packets(decap: Decap) -> None:
    def decapsulated(action: Action, frame: bytes, out: bytes) -> str | None:
        if action != Action.PASS or out == frame:
            return None
        inner = out[l2_length(out):]
        if inner[16:20] != DECAP_VIP.packed:
            return "not to the VIP"
        return valid_ipv4(inner, with_l4=False) or ""  # its L4 header: its kernel checks it

    seen = fuzz(decap.run, tunnel_seeds(), decapsulated, "decapsulated")
    print(f"\nfuzz (decap): {FRAMES} frames, only valid inner packets passed on:", dict(seen.most_common()))
