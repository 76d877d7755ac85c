"""ctypes mirrors of the structs in bpf/lb_shared.h.

Field names equal the C names and each class names its C twin in `_c_name_`;
tests/abi checks sizes and offsets against the BTF of the compiled objects.
Byte order is converted here and nowhere else: fields that are __be* in C
are filled only by the `from_*` constructors and read back by the `to_*` ones.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct
import sys

from pyvs.model.enums import FwdMethod, Protocol
from pyvs.model.service import RealServer, ServiceKey

_u8, _u16, _u32, _u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


def be32(address: ipaddress.IPv4Address) -> int:
    """An IPv4 address as the integer whose memory holds it in network order."""
    return socket.htonl(int(address))


def from_be32(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value.to_bytes(4, sys.byteorder))


def be16(port: int) -> int:
    return socket.htons(port)


def from_be16(value: int) -> int:
    return socket.ntohs(value)


class SvcKey(ctypes.Structure):
    _c_name_ = "lb_svc_key"
    _fields_ = [("addr", _u32), ("port", _u16), ("proto", _u8), ("pad", _u8)]

    @classmethod
    def from_model(cls, key: ServiceKey) -> SvcKey:
        return cls(addr=be32(key.address), port=be16(key.port), proto=int(key.protocol))

    def to_model(self) -> ServiceKey:
        return ServiceKey(Protocol(self.proto), from_be32(self.addr), from_be16(self.port))


class Svc(ctypes.Structure):
    _c_name_ = "lb_svc"
    _fields_ = [
        ("id", _u32),
        ("flags", _u32),
        ("timeout", _u32),
        ("sched", _u8),
        ("bank", _u8),
        ("sched_len", _u16),
        ("sched_start", _u32),
        ("sched_state", _u32),
        ("table", _u32),
        ("netmask", _u32),
    ]


class Real(ctypes.Structure):
    _c_name_ = "lb_real"
    _fields_ = [
        ("addr", _u32),
        ("port", _u16),
        ("fwd", _u8),
        ("pad", _u8),
        ("svc_id", _u32),
        ("weight", _u32),
        ("gen", _u32),
        ("saddr", _u32),
        ("last_weight", _u32),
        ("u_threshold", _u32),
        ("l_threshold", _u32),
        ("overload_epoch", _u32),
    ]

    @classmethod
    def from_model(cls, real: RealServer, *, svc_id: int, gen: int, saddr: int, last_weight: int,
                   overload_epoch: int = 1) -> Real:
        """`saddr` as the field holds it (be32() of the source address, 0 for none)."""
        return cls(addr=be32(real.address), port=be16(real.port), fwd=int(real.fwd),
                   svc_id=svc_id, weight=real.weight, gen=gen, saddr=saddr, last_weight=last_weight,
                   u_threshold=real.u_threshold, l_threshold=real.l_threshold, overload_epoch=overload_epoch)

    def to_model(self) -> RealServer:
        return RealServer(from_be32(self.addr), from_be16(self.port), self.weight, FwdMethod(self.fwd),
                          self.u_threshold, self.l_threshold)


class FlowKey(ctypes.Structure):
    _c_name_ = "lb_flow_key"
    _fields_ = [
        ("saddr", _u32),
        ("daddr", _u32),
        ("sport", _u16),
        ("dport", _u16),
        ("proto", _u8),
        ("pad", _u8 * 3),
    ]


class Flow(ctypes.Structure):
    _c_name_ = "lb_flow"
    _fields_ = [
        ("last_seen_ns", _u64),
        ("real_id", _u32),
        ("real_gen", _u32),
        ("svc_id", _u32),
        ("state", _u8),
        ("counted", _u8),
        ("pad", _u8 * 2),
    ]


class FragKey(ctypes.Structure):
    """The fragments of one IPv4 datagram (key of lb_frags)."""

    _c_name_ = "lb_frag_key"
    _fields_ = [("saddr", _u32), ("daddr", _u32), ("id", _u16), ("proto", _u8), ("pad", _u8)]


class Frag(ctypes.Structure):
    """The real server a datagram's first fragment went to (value of lb_frags)."""

    _c_name_ = "lb_frag"
    _fields_ = [("seen_ns", _u64), ("real_id", _u32), ("real_gen", _u32), ("svc_id", _u32), ("pad", _u32)]


class Conns(ctypes.Structure):
    """A real server's connections as IPVS counts them (value of lb_conns)."""

    _c_name_ = "lb_conns"
    _fields_ = [("active", _u32), ("inactive", _u32), ("overload", _u32), ("pad", _u32)]


class Rate(ctypes.Structure):
    """Value of lb_svc_rates and lb_real_rates: IPVS's rate estimator of one service or real server."""

    _c_name_ = "lb_rate"
    _fields_ = [(name, _u64) for name in (
        "last_conns", "last_inpkts", "last_outpkts", "last_inbytes", "last_outbytes",
        "cps", "inpps", "outpps", "inbps", "outbps")]


class Estimator(ctypes.Structure):
    """Value of lb_estimator: the timer (opaque here), the estimations done, started or not."""

    _c_name_ = "lb_estimator"
    _fields_ = [("timer", _u64 * 2), ("ticks", _u64), ("armed", _u64)]


LBLC_SET_MAX = 8  # LB_LBLC_SET_MAX


class LblcKey(ctypes.Structure):
    _c_name_ = "lb_lblc_key"
    _fields_ = [("svc_id", _u32), ("daddr", _u32)]


class Lblc(ctypes.Structure):
    """Value of lb_lblc: lblc's real server, or lblcr's set (newest first), of one address."""

    _c_name_ = "lb_lblc"
    _fields_ = [("lastuse_ns", _u64), ("lastmod_ns", _u64), ("size", _u32), ("pad", _u32),
                ("real_id", _u32 * LBLC_SET_MAX), ("real_gen", _u32 * LBLC_SET_MAX)]


class Sweeper(ctypes.Structure):
    """Value of lb_sweeper: the timer (opaque here) and what its sweeps did."""

    _c_name_ = "lb_sweeper"
    _fields_ = [("timer", _u64 * 2), ("sweeps", _u64), ("expired", _u64)]


class PersistKey(ctypes.Structure):
    _c_name_ = "lb_persist_key"
    _fields_ = [("svc_id", _u32), ("client", _u32)]


class Persist(ctypes.Structure):
    _c_name_ = "lb_persist"
    _fields_ = [("last_seen_ns", _u64), ("real_id", _u32), ("real_gen", _u32)]


class Counters(ctypes.Structure):
    _c_name_ = "lb_counters"
    _fields_ = [
        ("conns", _u64),
        ("inpkts", _u64),
        ("inbytes", _u64),
        ("outpkts", _u64),
        ("outbytes", _u64),
    ]


ALL_STRUCTS: tuple[type[ctypes.Structure], ...] = (
    SvcKey, Svc, Real, FlowKey, Flow, Conns, Sweeper, Rate, Estimator, LblcKey, Lblc, PersistKey, Persist,
    Counters)


# -- the tools' structs (benchmark wrappers, UDP generator, Maglev build) --------

BENCH_TPL_MAX = 128


class BenchState(ctypes.Structure):
    """bench_xdp's .bss: the wrappers' parameters and new-flow counter."""

    _c_name_ = "bench_state"
    _fields_ = [
        ("tpl_len", _u32),
        ("new_flow", _u32),
        ("counter", _u32),
        ("pad", _u32),
        ("tail", _u64),
        ("tpl", _u8 * BENCH_TPL_MAX),
    ]


class UdpgenState(ctypes.Structure):
    """udpgen_xdp's .bss: what every generated frame carries, and the run's position."""

    _c_name_ = "udpgen_state"
    _fields_ = [
        ("dst_mac", _u8 * 6),
        ("src_mac", _u8 * 6),
        ("saddr", _u8 * 4),  # network order, as in the IPv4 header
        ("daddr", _u8 * 4),
        ("sport_base", _u16),  # host order
        ("dport", _u8 * 2),  # network order
        ("sources", _u32),
        ("next_source", _u32),
        ("addrs", _u32),
        ("next_addr", _u32),
        ("sequence", _u64),
    ]


class MaglevBackend(ctypes.Structure):
    """Value of maglev_backends: one backend's permutation (offset, skip) and turns."""

    _c_name_ = "maglev_backend"
    _fields_ = [("offset", _u32), ("skip", _u32), ("turns", _u32), ("next", _u32)]


class MaglevArgs(ctypes.Structure):
    """maglev_build's context (in: m, n, budget, start; out: the rest)."""

    _c_name_ = "maglev_args"
    _fields_ = [
        ("m", _u32),
        ("n", _u32),
        ("budget", _u32),
        ("start", _u32),
        ("done", _u32),
        ("filled", _u32),
        ("probes", _u64),
    ]


class FibProbe(ctypes.Structure):
    """probe_xdp's frame: the question (dst, tot_len) in, bpf_fib_lookup()'s answer out."""

    _c_name_ = "lb_fib_probe"
    _fields_ = [("dst", _u32), ("tot_len", _u32), ("rc", ctypes.c_int32), ("mtu_result", _u32)]


# Each tool struct and the object whose BTF must hold it besides layout.o (an
# object whose BTF does not name the struct, because no global or function
# signature uses it, says "layout").
TOOL_STRUCTS: tuple[tuple[type[ctypes.Structure], str], ...] = (
    (BenchState, "bench_xdp"), (UdpgenState, "udpgen_xdp"), (MaglevBackend, "maglev_build"),
    (MaglevArgs, "maglev_build"), (FibProbe, "layout"))


def addr_key(address: ipaddress.IPv4Address) -> ctypes.c_uint32:
    """Key of the address-keyed maps (lb_vip_addrs, lb_decap_vips, lb_decap_locals)."""
    return ctypes.c_uint32(be32(address))


def unpack_u64s(raw: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(raw) // 8}Q", raw)
