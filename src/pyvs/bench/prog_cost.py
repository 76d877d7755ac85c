"""`pyvs bench`, section "per-packet cost": the XDP programs under BPF_PROG_TEST_RUN.

What is timed is the mean duration per run that the kernel reports for one
BPF_PROG_TEST_RUN call of `repeat` runs (integer nanoseconds). With repeat > 1
the kernel runs the program again on the frame the previous run left behind,
so the encapsulating programs are measured behind the benchmark-only wrappers
of bpf/bench_xdp.bpf.c, which restore the input frame at the start of every
run. Every figure therefore includes the wrapper; the wrapper alone is
measured too, and each figure's `extra` (and note) gives it net of the wrapper.

Set-up, as the director runs in production: one TCP service with 100 real
servers (rr) configured through pyvs.control.config and XdpDataplane.commit
into maps pinned in a private bpffs directory, which the production objects
(lb_xdp.o, decap_xdp.o) and the wrapper object share; the process sits in a
private network namespace (pyvs.lab.fib_netns) where bpf_fib_lookup finds
the real servers' next hop.

Every case is checked before each timed call: one run of the wrapper must give
the action and bytes that the production program gives for the same frame on
the same map state; and after it: the timed call's last output, and the
counters, must show that every run did the intended work (RuntimeError if not).
"""

from __future__ import annotations

import ctypes
import ipaddress
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyvs.bench.runner import Figure, Options
from pyvs.bpf import build
from pyvs.control import config as cfg
from pyvs.dataplane import libbpf, pins, xdp
from pyvs.dataplane.libbpf import XdpMd
from pyvs.dataplane.maps import BpfMap, PerCpuMap
from pyvs.lab.fib_netns import DIRECTOR_MAC, ROUTER_MAC, fib_namespace
from pyvs.lab.ping import internet_checksum
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.model.enums import Action, DecapCounter, FlowState
from pyvs.packet import abi
from pyvs.packet.headers import (
    ETH_HLEN,
    ETH_P_IP,
    IP_DF,
    IPPROTO_IPIP,
    IPPROTO_TCP,
    ipv4_decrease_ttl,
    mac_bytes,
)

SECTION = "per-packet cost"
UNIT = "ns/packet"
FLOOR = "push IPv4 header + XDP_TX (floor)"
EMPTY = "empty program (test-run loop)"
RESTORE = "wrapper: restore only"
RESTORE_NEW_FLOW = "wrapper: restore + new-flow rewrite"
SYN = "director: SYN, new flow"
ESTABLISHED = "director: established flow"
NOT_FOR_SERVICE = "director: not for a service"
DECAP = "decap: IPIP packet"

IPv4 = ipaddress.IPv4Address
VIP = IPv4("10.2.2.3")
PORT = 80
DIRECTOR_ADDR = IPv4("10.2.2.2")  # lb0's address in the namespace: the outer source the FIB gives
REALS = tuple(IPv4("10.3.3.10") + i for i in range(100))  # 10.3.3.0/24 is routed via lb0
NEW_FLOW_CLIENT = IPv4("10.1.1.1")  # rewritten per run to 10.1.x.y (see bench_rewrite_flow)
ESTABLISHED_CLIENT = IPv4("10.8.8.8")  # outside 10.1.0.0/16: never one of the new flows
TCP_SYN, TCP_ACK = 0x02, 0x10
MAX_SERVICES, MAX_REALS = 64, 256  # small maps: the flow table keeps the production default size

# What bench_push_ipip writes: 10.2.2.2 -> 10.3.3.3, protocol 4, DF, TTL 64, total length 60.
FLOOR_HEADER = bytes.fromhex("45 00 00 3c 00 00 40 00 40 04 21 b5 0a 02 02 02 0a 03 03 03")
U32_MASK = 0xFFFFFFFF  # bench_state.counter wraps as a u32


# -- frames ---------------------------------------------------------------------


def ethernet(packet: bytes, *, src_mac: str = ROUTER_MAC, dst_mac: str = DIRECTOR_MAC) -> bytes:
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IP) + packet


def ipv4_header(src: IPv4, dst: IPv4, proto: int, payload_len: int, *, ttl: int = 64, ident: int = 1,
                df: bool = True, tos: int = 0) -> bytes:
    """A 20-byte IPv4 header with its checksum."""
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident, IP_DF if df else 0,
                                   ttl, proto, 0, src.packed, dst.packed))
    struct.pack_into("!H", header, 10, internet_checksum(bytes(header)))
    return bytes(header)


def tcp_packet(src: IPv4, dst: IPv4, sport: int, dport: int, flags: int, *, ttl: int = 64) -> bytes:
    """An IPv4 packet of a 20-byte TCP header without payload, both checksums right."""
    segment = bytearray(struct.pack("!HHIIBBHHH", sport, dport, 1000, 1 if flags & TCP_ACK else 0, 5 << 4,
                                    flags, 8192, 0, 0))
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_TCP, len(segment))
    struct.pack_into("!H", segment, 16, internet_checksum(pseudo + bytes(segment)))
    return ipv4_header(src, dst, IPPROTO_TCP, len(segment), ttl=ttl) + bytes(segment)


def tcp_frame(src: IPv4, dst: IPv4, sport: int, dport: int, flags: int) -> bytes:
    """A client's frame as the router in front of the director sends it."""
    return ethernet(tcp_packet(src, dst, sport, dport, flags))


def ipip_frame(inner: bytes, *, outer_src: IPv4 = DIRECTOR_ADDR, outer_dst: IPv4 = REALS[0]) -> bytes:
    """What a real server receives from the director: `inner` in an outer IPv4 header."""
    return ethernet(ipv4_header(outer_src, outer_dst, IPPROTO_IPIP, len(inner), ttl=63, ident=0) + inner)


def new_flow_frame(template: bytes, n: int) -> bytes:
    """The frame bench_rewrite_flow makes of `template` for flow number n (n is a u32)."""
    frame = bytearray(template)
    frame[28:30] = (n >> 16 & 0xFFFF).to_bytes(2, "big")  # last two bytes of the source address
    frame[34:36] = (n & 0xFFFF).to_bytes(2, "big")  # source port
    frame[24:26] = b"\0\0"
    struct.pack_into("!H", frame, 24, internet_checksum(bytes(frame[ETH_HLEN:ETH_HLEN + 20])))
    return bytes(frame)


def encapsulated(frame: bytes, real: IPv4) -> bytes:
    """What the director sends toward `real` for an untagged, unpadded frame (as an IPVS
    director does in tunnel mode: inner TTL - 1, outer copies TOS, DF and TTL)."""
    inner = bytearray(frame[ETH_HLEN:])
    ipv4_decrease_ttl(inner, 0)
    df = bool(struct.unpack_from("!H", inner, 6)[0] & IP_DF)
    ident = 0 if df else struct.unpack_from("!H", inner, 4)[0]
    outer = ipv4_header(DIRECTOR_ADDR, real, IPPROTO_IPIP, len(inner), ttl=inner[8], ident=ident, df=df,
                        tos=inner[1])
    return ethernet(outer + bytes(inner), src_mac=DIRECTOR_MAC, dst_mac=ROUTER_MAC)


def outer_destination(out: bytes) -> IPv4 | None:
    """The outer destination of an untagged IPIP frame, None for anything else."""
    if len(out) < ETH_HLEN + 20 or out[12:14] != struct.pack("!H", ETH_P_IP) or out[23] != IPPROTO_IPIP:
        return None
    return IPv4(out[30:34])


def decapsulated(frame: bytes) -> bytes:
    """What the real server's decapsulation program passes on: the inner packet, same L2 header."""
    return frame[:ETH_HLEN] + frame[ETH_HLEN + 20:]


def flow_key(frame: bytes) -> abi.FlowKey:
    """The lb_flows key of an untagged TCP/UDP frame without IP options."""
    def raw(start: int, end: int) -> int:  # the field as the C reads it: bytes as they lie in memory
        return int.from_bytes(frame[start:end], sys.byteorder)

    return abi.FlowKey(saddr=raw(26, 30), daddr=raw(30, 34), sport=raw(34, 36), dport=raw(36, 38),
                       proto=frame[23])


# -- the programs and their maps ---------------------------------------------------


class Wrappers:
    """bench_xdp.o loaded over the maps that the production objects pinned in pin_dir."""

    def __init__(self, pin_dir: Path) -> None:
        self.obj = libbpf.BpfObject(build.object_path("bench_xdp"), pin_root=pin_dir)
        try:
            xdp.size_like_pins(self.obj, pin_dir)
            self.obj.load()
            self._state_fd = self.obj.map_fd(".bss")
            size = libbpf.map_info(self._state_fd).value_size
            if size != ctypes.sizeof(abi.BenchState):
                raise RuntimeError(f"bench_xdp's .bss has {size} bytes, abi.BenchState "
                                   f"{ctypes.sizeof(abi.BenchState)}: the two are out of step")
        except BaseException:
            self.obj.close()
            raise
        self.template = b""

    def state(self) -> abi.BenchState:
        state = abi.BenchState()
        libbpf.map_lookup(self._state_fd, ctypes.c_uint32(0), state)
        return state

    def set_template(self, frame: bytes, *, new_flow: bool = False) -> None:
        """The frame every run starts from; new_flow: each run rewrites it into a new flow."""
        if not ETH_HLEN <= len(frame) <= abi.BENCH_TPL_MAX:
            raise ValueError(f"a template frame has {ETH_HLEN} to {abi.BENCH_TPL_MAX} bytes, "
                             f"not {len(frame)}")
        state = self.state()  # keeps the counter: flows stay new across calls
        state.tpl_len = len(frame)
        state.new_flow = int(new_flow)
        ctypes.memmove(state.tpl, frame, len(frame))
        state.tail = int.from_bytes(frame[-8:], sys.byteorder)  # as the C loads them: one word
        libbpf.map_update(self._state_fd, ctypes.c_uint32(0), state)
        self.template = frame

    @property
    def counter(self) -> int:
        """The next run's flow number in new-flow mode."""
        return int(self.state().counter)

    @counter.setter
    def counter(self, value: int) -> None:
        state = self.state()
        state.counter = value
        libbpf.map_update(self._state_fd, ctypes.c_uint32(0), state)

    def run(self, program: str, *, ifindex: int, repeat: int = 1) -> tuple[Action, bytes, int]:
        """Run a wrapper on the template: (action and frame after the last run, mean ns per run)."""
        ctx = XdpMd(data=0, data_end=len(self.template), ingress_ifindex=ifindex)
        rc, out, ns = libbpf.prog_test_run(self.obj.program_fd(program), self.template, ctx=ctx,
                                           repeat=repeat)
        return Action(rc), out, ns

    def close(self) -> None:
        self.obj.close()


@dataclass
class Lab:
    """The production programs and the wrappers over the same maps, in a FIB namespace."""

    pin_dir: Path
    ifindex: int
    director: libbpf.BpfObject
    decap: libbpf.BpfObject
    wrappers: Wrappers
    dataplane: xdp.XdpDataplane
    key: ServiceKey
    svc_id: int
    decap_stats: PerCpuMap[ctypes.c_uint32, ctypes.c_uint64]

    def production(self, program: str, frame: bytes) -> tuple[Action, bytes]:
        """One run of lb_director or lb_decap, loaded from their own objects."""
        obj = self.director if program == xdp.DIRECTOR_PROGRAM else self.decap
        ctx = XdpMd(data=0, data_end=len(frame), ingress_ifindex=self.ifindex)
        rc, out, _ = libbpf.prog_test_run(obj.program_fd(program), frame, ctx=ctx)
        return Action(rc), out

    def wrapper(self, program: str, repeat: int = 1) -> tuple[Action, bytes, int]:
        return self.wrappers.run(program, ifindex=self.ifindex, repeat=repeat)

    def service_counters(self) -> tuple[int, int]:
        """(connections, packets) counted for the service, over all CPUs."""
        per_cpu = self.dataplane.maps.svc_stats.get_all(ctypes.c_uint32(self.svc_id))
        return sum(c.conns for c in per_cpu), sum(c.inpkts for c in per_cpu)

    def drops(self) -> int:
        """Frames the director dropped, for any reason."""
        return sum(self.dataplane.drop_counts().values())

    def decap_packets(self) -> int:
        return sum(v.value for v in self.decap_stats.get_all(ctypes.c_uint32(DecapCounter.PACKETS)))

    def flow_capacity(self) -> int:
        return int(self.dataplane.maps.flows.max_entries)

    def flow_count(self) -> int:
        return len(self.dataplane.maps.flows.all_items())

    def flow(self, frame: bytes) -> abi.Flow | None:
        flow: abi.Flow | None = self.dataplane.maps.flows.get(flow_key(frame))
        return flow

    def forget_flow(self, frame: bytes) -> None:
        self.dataplane.maps.flows.delete(flow_key(frame))

    def forget_new_flows(self, template: bytes, first: int, count: int) -> None:
        """Delete the flows of new-flow runs first .. first + count - 1 (in one batch)."""
        keys = [flow_key(new_flow_frame(template, (first + n) & U32_MASK)) for n in range(count)]
        gone = self.dataplane.maps.flows.delete_many(keys)
        _require(gone == count, SYN, f"{count} new flows left {gone} entries to delete")

    @property
    def sched_pos(self) -> int:
        pos = self.dataplane.maps.sched_pos.get(ctypes.c_uint32(self.svc_id))
        return int(pos.value) if pos is not None else 0

    @sched_pos.setter
    def sched_pos(self, value: int) -> None:
        self.dataplane.maps.sched_pos.put(ctypes.c_uint32(self.svc_id), ctypes.c_uint32(value))


@contextmanager
def open_lab() -> Iterator[Lab]:
    """The benchmark's set-up; on exit the namespace and the pinned maps are gone."""
    with fib_namespace() as _netns, ExitStack() as stack:
        pins.ensure_bpffs()
        pin_dir = pins.BPFFS / f"pyvs-bench-{uuid.uuid4().hex[:8]}"
        pin_dir.mkdir()
        stack.callback(pins.remove_dir, pin_dir)
        director = stack.enter_context(xdp.open_director_object(pin_dir, max_services=MAX_SERVICES,
                                                                max_reals=MAX_REALS))
        decap = stack.enter_context(libbpf.BpfObject(build.object_path("decap_xdp"), pin_root=pin_dir))
        decap.load()
        wrappers = Wrappers(pin_dir)  # after the production objects: it reuses their pins
        stack.callback(wrappers.close)
        dataplane = xdp.XdpDataplane(pin_dir)
        stack.callback(dataplane.close)

        key = ServiceKey(Protocol.TCP, VIP, PORT)
        new = cfg.add_service(dataplane.read(), VirtualService(key, Scheduler.RR))
        for address in REALS:
            new = cfg.add_real(new, key, RealServer(address, PORT, 1, FwdMethod.TUNNEL))
        dataplane.commit(dataplane.read(), new)
        svc = dataplane.maps.services.get(abi.SvcKey.from_model(key))
        if svc is None:
            raise RuntimeError("the benchmark's service is not in lb_services after the commit")

        decap_vips = BpfMap(decap.map_fd("lb_decap_vips"), ctypes.c_uint32, ctypes.c_uint32)
        decap_locals = BpfMap(decap.map_fd("lb_decap_locals"), ctypes.c_uint32, ctypes.c_uint32)
        decap_vips.put(abi.addr_key(VIP), ctypes.c_uint32(1))
        decap_locals.put(abi.addr_key(REALS[0]), ctypes.c_uint32(1))
        # map_fd() fds belong to the object: these handles are not closed separately.
        stats = PerCpuMap(decap.map_fd("lb_decap_stats"), ctypes.c_uint32, ctypes.c_uint64)
        yield Lab(pin_dir, xdp.ifindex_of("lb0"), director, decap, wrappers, dataplane, key, int(svc.id),
                  stats)


# -- the cases --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    program: str  # in bench_xdp.o
    template: bytes
    new_flow: bool = False


SYN_FRAME = tcp_frame(NEW_FLOW_CLIENT, VIP, 40000, PORT, TCP_SYN)
CASES = (
    Case(FLOOR, "bench_push_ipip", SYN_FRAME),
    Case(EMPTY, "bench_empty", SYN_FRAME),
    Case(RESTORE, "bench_restore", SYN_FRAME),
    Case(RESTORE_NEW_FLOW, "bench_restore", SYN_FRAME, new_flow=True),
    Case(SYN, "bench_director", SYN_FRAME, new_flow=True),
    Case(ESTABLISHED, "bench_director", tcp_frame(ESTABLISHED_CLIENT, VIP, 40000, PORT, TCP_ACK)),
    Case(NOT_FOR_SERVICE, "bench_director", tcp_frame(NEW_FLOW_CLIENT, DIRECTOR_ADDR, 40000, 22, TCP_ACK)),
    Case(DECAP, "bench_decap", ipip_frame(tcp_packet(NEW_FLOW_CLIENT, VIP, 40000, PORT, TCP_SYN, ttl=63))),
)


def _require(ok: bool, case: str, what: str) -> None:
    if not ok:
        raise RuntimeError(f"per-packet cost, {case}: {what}")


class Bench:
    """Checks and times the cases on one Lab."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.expected: dict[str, bytes] = {}  # outputs known from the check run
        self.flow_fill: dict[str, int] = {}
        self.syn_repeat: int | None = None  # new flows a timed call may make (fill_flow_table() sets it)
        self.repeats: dict[str, int] = {}  # runs per timed call, by case

    def _to_a_real(self, case: str, out: bytes, frame: bytes) -> None:
        """`out` is `frame` sent to one of the service's real servers, exactly."""
        real = outer_destination(out)
        _require(real in REALS, case, f"output is not IPIP toward one of the real servers: {out.hex()}")
        assert real is not None
        _require(out == encapsulated(frame, real), case, f"output {out.hex()} is not the frame encapsulated")

    def check(self, case: Case) -> None:
        """One wrapper run must do what the production program does on the same frame and maps."""
        lab = self.lab
        lab.wrappers.set_template(case.template, new_flow=case.new_flow)
        n = lab.wrappers.counter
        if case.name == FLOOR:
            self.expected[case.name] = case.template[:ETH_HLEN] + FLOOR_HEADER + case.template[ETH_HLEN:]
            _require(internet_checksum(FLOOR_HEADER) == 0, case.name, "the floor's header checksum is wrong")
        elif case.name in (EMPTY, RESTORE):
            self.expected[case.name] = case.template
        elif case.name == RESTORE_NEW_FLOW:
            self.expected[case.name] = new_flow_frame(case.template, n)
        elif case.name == SYN:
            # The production run takes the flow the wrapper is about to make; then that flow and
            # the rr position are put back, so that the wrapper meets the same map state.
            frame = new_flow_frame(case.template, n)
            pos = lab.sched_pos
            _require(lab.flow(frame) is None, case.name, "the next new flow is already in the flow table")
            action, out = lab.production(xdp.DIRECTOR_PROGRAM, frame)
            _require(action == Action.TX, case.name, f"lb_director gave {action.name}, not TX")
            self._to_a_real(case.name, out, frame)
            lab.forget_flow(frame)
            lab.sched_pos = pos
            self.expected[case.name] = out
        elif case.name in (ESTABLISHED, NOT_FOR_SERVICE):
            action, out = lab.production(xdp.DIRECTOR_PROGRAM, case.template)
            if case.name == ESTABLISHED:
                _require(action == Action.TX, case.name, f"lb_director gave {action.name}, not TX")
                self._to_a_real(case.name, out, case.template)
                flow = lab.flow(case.template)
                _require(flow is not None and flow.state == FlowState.ESTABLISHED, case.name,
                         "the flow is not in the flow table as established")
            else:
                _require((action, out) == (Action.PASS, case.template), case.name,
                         f"lb_director gave {action.name} {out.hex()}, not PASS unchanged")
            self.expected[case.name] = out
        else:
            action, out = lab.production(xdp.DECAP_PROGRAM, case.template)
            _require((action, out) == (Action.PASS, decapsulated(case.template)), case.name,
                     f"lb_decap gave {action.name} {out.hex()}, not PASS with the inner packet")
            self.expected[case.name] = out
        want = Action.PASS if case.name in (NOT_FOR_SERVICE, DECAP) else Action.TX
        action, out, _ = lab.wrapper(case.program)
        _require((action, out) == (want, self.expected[case.name]), case.name,
                 f"{case.program} gave {action.name} {out.hex()}, production {want.name} "
                 f"{self.expected[case.name].hex()}")
        _require(lab.wrappers.counter == (n + int(case.new_flow)) & U32_MASK, case.name,
                 "the new-flow counter is off")

    def fill_flow_table(self) -> None:
        """Fill half the flow table with new flows, so that every timed SYN meets a loaded table
        (a busy director's steady state, where the sweeper frees as many entries as new flows
        take: the timed SYNs' flows are deleted after each call); check that the table grew by
        as many and that every run counted as a new connection."""
        lab = self.lab
        capacity = lab.flow_capacity()
        fill = capacity // 2
        before_flows = lab.flow_count()
        before_conns, _ = lab.service_counters()
        lab.wrappers.set_template(SYN_FRAME, new_flow=True)
        action, _, _ = lab.wrapper("bench_director", repeat=fill)
        after_flows = lab.flow_count()
        conns = lab.service_counters()[0] - before_conns
        _require(action == Action.TX, SYN, f"filling the flow table ended in {action.name}")
        _require(conns == fill, SYN, f"{fill} new flows counted {conns} connections")
        _require(after_flows == before_flows + fill, SYN,
                 f"flow table grew from {before_flows} to {after_flows} of {capacity} entries "
                 f"after {fill} new flows")
        self.flow_fill = {"flow_table_capacity": capacity, "flows_before_fill": before_flows,
                          "flows_after_fill": after_flows}
        # A timed call of new flows must fit in the free half, which it leaves free again.
        self.syn_repeat = (capacity - after_flows) // 2

    def measure(self, case: Case, repeat: int) -> tuple[int, float]:
        """Check, time (repeat runs; for SYN at most what the free half of the flow table
        holds), check the outcome: (kernel's mean ns, wall-clock ns per run)."""
        lab = self.lab
        if case.name == SYN and self.syn_repeat is not None:
            repeat = min(repeat, self.syn_repeat)
        self.repeats[case.name] = repeat
        self.check(case)
        n0 = lab.wrappers.counter
        conns0, pkts0 = lab.service_counters()
        decap0 = lab.decap_packets()
        drops0 = lab.drops()
        started = time.perf_counter_ns()
        action, out, ns = lab.wrapper(case.program, repeat)
        wall = (time.perf_counter_ns() - started) / repeat
        conns, pkts = (a - b for a, b in zip(lab.service_counters(), (conns0, pkts0), strict=True))
        _require(lab.wrappers.counter == (n0 + (repeat if case.new_flow else 0)) & U32_MASK, case.name,
                 "the new-flow counter did not advance once per run")
        _require(lab.drops() == drops0, case.name, "the director dropped frames during the timed call")
        last = new_flow_frame(case.template, (n0 + repeat - 1) & U32_MASK) if case.new_flow else case.template
        if case.name == SYN:
            _require(action == Action.TX, case.name, f"the timed call ended in {action.name}")
            self._to_a_real(case.name, out, last)
            _require((conns, pkts) == (repeat, repeat), case.name,
                     f"{repeat} runs counted {conns} connections, {pkts} packets")
            _require(lab.flow(last) is not None, case.name, "the last run's flow is not in the flow table")
            lab.forget_new_flows(case.template, n0, repeat)
            return ns, wall
        expected = last if case.name == RESTORE_NEW_FLOW else self.expected[case.name]
        want = Action.PASS if case.name in (NOT_FOR_SERVICE, DECAP) else Action.TX
        _require((action, out) == (want, expected), case.name,
                 f"the timed call ended in {action.name} {out.hex()}, not {want.name} {expected.hex()}")
        counted = {ESTABLISHED: (0, repeat)}.get(case.name, (0, 0))
        _require((conns, pkts) == counted, case.name,
                 f"{repeat} runs counted {conns} connections, {pkts} packets")
        if case.name == DECAP:
            _require(lab.decap_packets() - decap0 == repeat, case.name, "not every run decapsulated")
        return ns, wall


# -- the figures ------------------------------------------------------------------


NOTES = {
    FLOOR: "restore, push a constant 20-byte IPv4 header, XDP_TX",
    EMPTY: "XDP_TX, nothing else: BPF_PROG_TEST_RUN's own cost per run, part of every figure here",
    RESTORE: "the wrappers' own cost, part of every figure here: move the front back, copy the {len}-byte "
             "template",
    RESTORE_NEW_FLOW: "restore, then rewrite client address/port and IP checksum: the SYN case's wrapper",
    SYN: "a new flow per run, flow table half full (of {capacity:,} entries), {repeat:,} runs per call; "
         "1 TCP service, 100 real servers, rr",
    ESTABLISHED: "the flow is in the table; same service",
    NOT_FOR_SERVICE: "TCP to the director's own address, port 22: XDP_PASS",
    DECAP: "outer header off, XDP_PASS; its wrapper copies a {len}-byte frame, the restore-only one 54",
}


def _figures(samples: dict[str, list[int]], wall: dict[str, list[float]], repeats: dict[str, int],
             fill: dict[str, int]) -> list[Figure]:
    med = {name: statistics.median(values) for name, values in samples.items()}
    floor_net = med[FLOOR] - med[RESTORE]
    figures = []
    for case in CASES:
        extra: dict[str, Any] = {"program": case.program, "repeat": repeats[case.name],
                                 "frame_bytes": len(case.template),
                                 "wall_clock_ns_per_packet": wall[case.name]}
        note = NOTES[case.name].format(len=len(case.template), capacity=fill.get("flow_table_capacity", 0),
                                       repeat=repeats[case.name])
        if case.name not in (EMPTY, RESTORE, RESTORE_NEW_FLOW):
            wrapper = RESTORE_NEW_FLOW if case.new_flow else RESTORE
            net = med[case.name] - med[wrapper]
            # Per repetition too: the wrapper was timed in the same round as the case.
            per_rep = [a - b for a, b in zip(samples[case.name], samples[wrapper], strict=True)]
            extra |= {"includes": wrapper, "wrapper_median_ns": med[wrapper], "net_median_ns": net,
                      "net_samples_ns": per_rep,
                      "net_ratio_to_floor_net": net / floor_net if floor_net > 0 else None}
            note += f"; incl. wrapper ({wrapper.removeprefix('wrapper: ')}), {net:.0f} ns without it"
        if case.name == SYN:
            extra |= fill
        figures.append(Figure(SECTION, case.name, UNIT, [float(s) for s in samples[case.name]],
                              None if case.name == FLOOR else FLOOR, note, extra))
    return figures


def run(options: Options) -> list[Figure]:
    """Each case timed options.reps times, repeat=options.repeat runs per BPF_PROG_TEST_RUN call;
    the cases take turns within each repetition, so that drift hits all of them alike."""
    samples: dict[str, list[int]] = {case.name: [] for case in CASES}
    wall: dict[str, list[float]] = {case.name: [] for case in CASES}
    with open_lab() as lab:
        bench = Bench(lab)
        bench.fill_flow_table()
        for case in CASES:  # warm-up, not recorded
            bench.measure(case, min(options.repeat, 100_000))
        for _ in range(options.reps):
            for case in CASES:
                ns, per_run = bench.measure(case, options.repeat)
                samples[case.name].append(ns)
                wall[case.name].append(per_run)
        return _figures(samples, wall, bench.repeats, bench.flow_fill)


def _main() -> None:
    """`python -m pyvs.bench.prog_cost [--smoke]`: this section alone."""
    from pyvs.bench import runner

    options = runner.Options.for_smoke() if "--smoke" in sys.argv else runner.Options()
    figures = run(options)
    print(runner.table(figures, {"machine": runner.machine(), "reps": options.reps, "smoke": options.smoke}))


if __name__ == "__main__":
    _main()
