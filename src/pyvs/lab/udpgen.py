"""A UDP packet generator: the XDP program bpf/udpgen_xdp.bpf.c run with BPF_PROG_TEST_RUN live frames.

Run inside the sending namespace (BPF_PROG_TEST_RUN resolves the ingress
ifindex in the caller's network namespace, so the lab starts it with nsenter):

    python3 -m pyvs.lab.udpgen --dst 10.2.2.3 --port 9000 --seconds 5 --sources 1024 [--pps N]

It sends 64-byte frames (60 bytes plus the FCS a NIC would add; UDP payload
18 bytes) from the interface that routes to --dst, to the MAC of the next hop,
cycling the source port over --sources values from --sport-base (and, each
time they wrap, the source address over --addrs addresses from its own). Unlimited
(the default) it runs the program in chunks of about 50 ms (at most --chunk
frames) until --seconds have passed; with --pps it sends what is due every
millisecond and sleeps in between. --count stops after exactly that many frames; --seconds 0 runs until
SIGINT or SIGTERM. It prints "sending to ADDRESS:PORT out of IFACE" once
set up, and at the end:

    sent COUNT frames in SECONDS s (RATE pps)

Why BPF_PROG_TEST_RUN rather than a packet socket: one syscall builds and
transmits a whole chunk from recycled pages, with no socket buffer, skb or
qdisc on the way (over a million frames per second on one core of the
development machine, into a veth whose peer passes every frame to its stack;
Python's sockets and trafgen stay well below that); and the frames are
counted exactly (a chunk runs whole, see `UdpGen.send`). The syscalls would
each wait some 25 ms for the kernel's XDP dispatcher without
`dispatcher_hold`.

Where the work happens: the transmitted frames go into the peer veth's ring
and that peer's NAPI runs in the softirq of the sending CPU, so the receiving
side's processing shares the generator's CPU unless something moves it. The
frames only arrive if the peer veth runs an XDP program (pyvs.lab.xdp_pass):
otherwise the kernel drops them all (counted in `ethtool -S` as
xdp_xmit_errors of the sending interface).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pyvs.bpf import build
from pyvs.dataplane import libbpf
from pyvs.model.enums import Action
from pyvs.packet import abi
from pyvs.packet.headers import mac_bytes

PROGRAM = "udpgen"
STATE_MAP = ".bss"  # the program's one global, `gen`
FRAME_LEN = 60  # bytes the program builds: Ethernet 14 + IPv4 20 + UDP 8 + payload 18
WIRE_LEN = FRAME_LEN + 4  # with the Ethernet FCS: the classic 64-byte minimum frame
PAYLOAD_LEN = FRAME_LEN - 14 - 20 - 8
BATCH = 64  # frames per batch in the kernel's live-frames loop (at most 256)
CHUNK = 1 << 16  # most frames per syscall
FIRST_STEP = 1024  # frames in the first syscall when unlimited
SLICE = 0.05  # seconds per syscall when unlimited: the end of a timed run overshoots by about this
TICK = 0.001  # seconds between sends when rate-limited
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True, slots=True)
class Flow:
    """What every generated frame carries, apart from the source port and the sequence number."""

    src_mac: bytes
    dst_mac: bytes
    saddr: ipaddress.IPv4Address
    daddr: ipaddress.IPv4Address
    dport: int
    sources: int = 1
    sport_base: int = 10000
    addrs: int = 1  # source addresses from saddr on: the next one each time the ports wrap

    def __post_init__(self) -> None:
        if not 1 <= self.addrs <= 0xFFFF:
            raise ValueError(f"bad number of source addresses {self.addrs}")
        if self.sources < 1 or self.sport_base < 1 or self.sport_base + self.sources - 1 > 0xFFFF:
            raise ValueError(f"source ports {self.sport_base}..+{self.sources} do not fit in 1..65535")
        if not 0 <= self.dport <= 0xFFFF:
            raise ValueError(f"bad destination port {self.dport}")


class UdpGen:
    """The loaded generator program and its state."""

    def __init__(self) -> None:
        self._obj = libbpf.BpfObject(build.object_path("udpgen_xdp"))
        try:
            self._obj.load()
            self._prog = self._obj.program_fd(PROGRAM)
            self._state = self._obj.map_fd(STATE_MAP)
        except BaseException:
            self._obj.close()
            raise

    def close(self) -> None:
        self._obj.close()

    def __enter__(self) -> UdpGen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def configure(self, flow: Flow, *, sequence: int = 0, next_source: int = 0) -> None:
        state = abi.UdpgenState(sport_base=flow.sport_base, sources=flow.sources, next_source=next_source,
                         addrs=flow.addrs, sequence=sequence)
        state.dst_mac[:] = list(flow.dst_mac)
        state.src_mac[:] = list(flow.src_mac)
        state.saddr[:] = list(flow.saddr.packed)
        state.daddr[:] = list(flow.daddr.packed)
        state.dport[:] = list(flow.dport.to_bytes(2, "big"))
        libbpf.map_update(self._state, ctypes.c_uint32(0), state)

    @property
    def prog_fd(self) -> int:
        return self._prog

    def state(self) -> abi.UdpgenState:
        state = abi.UdpgenState()
        libbpf.map_lookup(self._state, ctypes.c_uint32(0), state)
        return state

    def build_one(self, template: bytes = bytes(FRAME_LEN)) -> tuple[Action, bytes]:
        """One run without live frames (nothing is sent): the verdict and the frame built.

        `template` is what the program finds in the buffer; a recycled live
        page holds an earlier frame, and the program must not depend on it.
        """
        ctx = libbpf.XdpMd(data=0, data_end=len(template), ingress_ifindex=1)
        rc, out, _ = libbpf.prog_test_run(self._prog, template, ctx=ctx, repeat=1)
        return Action(rc), out

    def send(self, ifindex: int, count: int, batch_size: int = BATCH) -> None:
        """Build and transmit `count` frames out of `ifindex` (in this process's network namespace).

        The kernel stops a live-frames run early when a signal is pending and
        reports only an error, so how many frames went out would be unknown:
        callers block SIGINT and SIGTERM around it (see `flood`).
        """
        ctx = libbpf.XdpMd(data=0, data_end=FRAME_LEN, ingress_ifindex=ifindex)
        # Live frames report no verdict (retval stays 0): the program's own
        # sequence number says how many frames it built, see `flood`.
        libbpf.prog_test_run(self._prog, bytes(FRAME_LEN), ctx=ctx, repeat=count,
                             flags=libbpf.BPF_F_TEST_XDP_LIVE_FRAMES, batch_size=batch_size, out_size=0)


@dataclass(frozen=True, slots=True)
class FloodResult:
    sent: int
    seconds: float

    @property
    def pps(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return f"sent {self.sent} frames in {self.seconds:.6f} s ({self.pps:.0f} pps)"


def flood(gen: UdpGen, ifindex: int, *, seconds: float, pps: float = 0.0, count: int = 0,
          chunk: int = CHUNK, batch_size: int = BATCH) -> FloodResult:
    """Send until `seconds` pass (0: until SIGINT/SIGTERM), or `count` frames (0: no limit) are out.

    With `pps` the frames due are sent every TICK; a generator that falls
    behind sends at most `chunk` at once, so it never bursts to catch up.
    Unlimited, each syscall gets about SLICE seconds' worth of frames (at
    most `chunk`), learnt from the previous one: the rate depends on what
    receives the frames, and the clock and the signals are only looked at
    between syscalls. SIGINT and SIGTERM are blocked meanwhile.
    """
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        first = gen.state().sequence
        sent = 0
        step = chunk if pps else min(chunk, FIRST_STEP)
        start = time.monotonic()
        now = start
        while not signal.sigpending() & STOP_SIGNALS:
            if seconds and now - start >= seconds:
                break
            n = min(step, count - sent) if count else step
            if n <= 0:
                break
            if pps:
                due = int((now - start) * pps) + 1 - sent
                if due <= 0:  # ahead of schedule: let about a TICK's worth become due
                    time.sleep(TICK)
                    now = time.monotonic()
                    continue
                n = min(n, due, chunk)
            gen.send(ifindex, n, batch_size)
            sent += n
            before, now = now, time.monotonic()
            if not pps:
                step = max(batch_size, min(chunk, int(n * SLICE / max(now - before, 1e-6))))
        built = gen.state().sequence - first
        if built != sent:
            raise RuntimeError(f"asked for {sent} frames, the program built {built}: is the flow configured?")
        return FloodResult(sent, now - start)
    finally:
        # Consume a stop signal that arrived, so unblocking does not kill us before we report.
        while signal.sigpending() & STOP_SIGNALS:
            signal.sigtimedwait(STOP_SIGNALS, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


@contextlib.contextmanager
def dispatcher_hold(gen: UdpGen) -> Iterator[None]:
    """Keep the program attached (generic XDP) to an idle veth of its own while the flood runs.

    A BPF_PROG_TEST_RUN with repeat > 1 puts the program into the kernel's
    XDP dispatcher and takes it out again at the end, and each change waits
    for an RCU grace period: some 25 ms per syscall here, during which
    nothing is sent. A program that is attached somewhere stays in the
    dispatcher, so the syscalls skip that. The veth pair never carries a
    frame (both ends stay down). Best effort: without it the generator only
    has gaps.
    """
    name, peer = f"udpgen{os.getpid()}", f"udpgenp{os.getpid()}"  # at most 14 characters
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", peer],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        print(f"udpgen: no dispatcher hold ({made.stderr.strip()}): expect gaps", file=sys.stderr)
        yield
        return
    try:
        libbpf.xdp_attach(socket.if_nametoindex(name), gen.prog_fd, libbpf.XDP_FLAGS_SKB_MODE)
        yield
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def _ip_json(*args: str) -> list[dict[str, object]]:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    value = json.loads(done.stdout or "[]")
    return value if isinstance(value, list) else []


def _neighbour_mac(address: str, ifname: str) -> str | None:
    for entry in _ip_json("neigh", "show", "to", address, "dev", ifname):
        lladdr = entry.get("lladdr")
        if isinstance(lladdr, str) and "FAILED" not in str(entry.get("state", "")):
            return lladdr
    return None


def resolve_flow(dst: str, dport: int, *, sources: int, sport_base: int, addrs: int = 1,
                 timeout: float = 3.0) -> tuple[str, Flow]:
    """(interface, flow) for frames to `dst` as this namespace's kernel would route them.

    The next hop's MAC comes from the neighbour table; when it is not there a
    datagram to the next hop's discard port makes the kernel resolve it.
    """
    route = _ip_json("route", "get", dst)
    if not route:
        raise RuntimeError(f"no route to {dst}")
    ifname = str(route[0]["dev"])
    hop = str(route[0].get("gateway", dst))
    saddr = str(route[0]["prefsrc"])
    links = _ip_json("link", "show", "dev", ifname)
    src_mac = str(links[0]["address"])
    deadline = time.monotonic() + timeout
    while (dst_mac := _neighbour_mac(hop, ifname)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no MAC address for next hop {hop} on {ifname}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.sendto(b"", (hop, 9))
        time.sleep(0.05)
    return ifname, Flow(mac_bytes(src_mac), mac_bytes(dst_mac), ipaddress.IPv4Address(saddr),
                        ipaddress.IPv4Address(dst), dport, sources, sport_base, addrs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="udpgen", description=__doc__.splitlines()[0])
    parser.add_argument("--dst", required=True, help="destination IPv4 address")
    parser.add_argument("--port", type=int, required=True, help="destination UDP port")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to send (0: until a signal)")
    parser.add_argument("--sources", type=int, default=1024, help="source ports (flows)")
    parser.add_argument("--sport-base", type=int, default=10000, help="first source port")
    parser.add_argument("--addrs", type=int, default=1,
                        help="source addresses from this host's on (the next when the ports wrap)")
    parser.add_argument("--pps", type=float, default=0.0, help="target rate (default: as fast as it goes)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many frames")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="most frames per syscall")
    parser.add_argument("--batch", type=int, default=BATCH, help="live-frames batch size (1..256)")
    parser.add_argument("--cpu", type=int, help="pin to this CPU (as taskset -c would)")
    args = parser.parse_args(argv)
    # A stop signal during the set-up must not kill us either: the flood then
    # sends nothing and reports 0 (flood() checks for it first).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ifname, flow = resolve_flow(args.dst, args.port, sources=args.sources, sport_base=args.sport_base,
                                addrs=args.addrs)
    with UdpGen() as gen, dispatcher_hold(gen):
        gen.configure(flow)
        print(f"sending to {flow.daddr}:{flow.dport} out of {ifname}", flush=True)
        result = flood(gen, socket.if_nametoindex(ifname), seconds=args.seconds, pps=args.pps,
                       count=args.count, chunk=args.chunk, batch_size=args.batch)
    print(result.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
