"""The live Python data plane: the reference pipeline forwarding real traffic over AF_PACKET.

`LiveDirector` opens one AF_PACKET socket (ETH_P_ALL) per director interface,
runs every incoming frame through `pyvs.packet.pipeline.process_director`
with the pinned maps (the same ones pyvsadm edits, read per packet) and a
`KernelFib`, and carries out the verdict as the kernel carries out an XDP
action (`AfPacketForwarder.act`):

    TX        send the frame back out of the interface it came in on
    REDIRECT  send it out of verdict.ifindex
    PASS      unchanged frame: nothing, the kernel has its own copy already;
              changed frame (encapsulated, next hop unresolved or too big
              and not DF): its IP packet goes to the kernel (KernelHandoff),
              which routes it, resolves ARP and forwards it
    DROP      nothing

Rule 1: frames are handled in order, one at a time, on one thread.
Rule 2: the kernel must not answer virtual-service traffic itself: an
nftables table (pyvs.dataplane.nft_guard) drops the service tuples before
the kernel sees them; it follows lb_services every `sync_interval` seconds
(a service added less than that before its first packet can still see the
kernel's RST) and is removed on exit, as the sockets are closed, on SIGTERM
or SIGINT; SIGUSR1 stops the forwarder but leaves the table, for the
forwarder that follows it to replace.
Frames the kernel sends (PACKET_OUTGOING) are not the director's to handle.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any, Protocol

from pyvs.dataplane.kernel_fib import KernelFib
from pyvs.dataplane.kernel_handoff import KernelHandoff, raw_ip_socket
from pyvs.dataplane.nft_guard import ServiceGuard
from pyvs.model.enums import Action
from pyvs.model.service import ServiceKey
from pyvs.packet import abi
from pyvs.packet.fib import FIB_FRAG_NEEDED
from pyvs.packet.gso import l2_len, segments
from pyvs.packet.pipeline import estimate_rates, sweep_flows
from pyvs.packet.verdict import Verdict

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETH_HLEN = 14
FRAME_BUFFER = 65536 + ETH_HLEN
SOCKET_BUFFER = 8 << 20
BATCH = 64  # frames read from one socket before looking at the others
SWEEP_INTERVAL_S = 1.0  # how often expired flows are swept, as the XDP director's LB_SWEEP_INTERVAL_NS
ESTIMATOR_INTERVAL_S = 2.0  # how often rates are estimated, as LB_ESTIMATOR_INTERVAL_NS (IPVS's 2 s)
U32 = ctypes.c_uint32
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SOL_PACKET = 263
PACKET_STATISTICS = 6  # struct tpacket_stats { unsigned int tp_packets, tp_drops; }, reset on read

Pipeline = Callable[[bytes, int], Verdict]  # (frame, ingress ifindex) -> verdict


class FrameSocket(Protocol):
    """What the forwarder needs of an AF_PACKET socket (tests pass fakes)."""

    def recvfrom(self, bufsize: int, flags: int = ..., /) -> tuple[bytes, Any]: ...

    def send(self, data: bytes, /) -> int: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


class IpSender(Protocol):
    def send(self, packet: bytes) -> int: ...

    def close(self) -> None: ...


def packet_socket(ifname: str, *, receive: bool = True) -> socket.socket:
    """An AF_PACKET SOCK_RAW socket bound to `ifname`; with `receive`, taking every frame (ETH_P_ALL)."""
    # Protocol 0 until bound: a socket that listens before bind() gets every interface's frames.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)
    try:
        if receive:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
        sock.bind((ifname, ETH_P_ALL if receive else 0))
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class ForwarderCounts:
    """What the forwarder did, by outcome."""

    received: int = 0
    tx: int = 0
    redirected: int = 0
    to_kernel: int = 0
    passed: int = 0
    dropped: int = 0
    errors: int = 0
    overruns: int = 0  # frames the kernel dropped because a socket's buffer was full

    def line(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


class AfPacketForwarder:
    """Frames in from the sockets, through the pipeline, verdicts carried out.

    `sockets` maps the ifindex of each director interface to its socket;
    `open_sender(ifindex)` opens a send-only socket for a redirect target
    that is not one of them; `kernel` takes the IP packets passed back.
    """

    def __init__(self, sockets: dict[int, FrameSocket], pipeline: Pipeline, kernel: IpSender,
                 open_sender: Callable[[int], FrameSocket], log: Callable[[str], None] | None = None) -> None:
        self.sockets = sockets
        self.pipeline = pipeline
        self.kernel = kernel
        self.open_sender = open_sender
        self.counts = ForwarderCounts()
        self._senders: dict[int, FrameSocket] = {}
        self._log = log or (lambda _text: None)
        self._last_error = ""
        # ifindex -> MTU: a TCP frame longer is a GRO or GSO super-packet, cut before it goes on
        self.mtus: dict[int, int] = {}

    def receive(self, ifindex: int, limit: int = BATCH) -> int:
        """Handle up to `limit` frames waiting on the socket of `ifindex`; returns how many were read."""
        sock = self.sockets[ifindex]
        for done in range(limit):
            try:
                frame, address = sock.recvfrom(FRAME_BUFFER)
            except (BlockingIOError, InterruptedError):
                return done
            if address[2] == PACKET_OUTGOING:
                continue
            self.counts.received += 1
            mtu = self.mtus.get(ifindex)
            pieces = segments(frame, l2_len(frame), mtu) if mtu and len(frame) > mtu + ETH_HLEN else None
            for piece in pieces or (frame,):
                self.handle(piece, ifindex)
        return limit

    def handle(self, frame: bytes, ifindex: int) -> None:
        """One frame through the pipeline; one frame that fails (a send refused,
        or a bug) is counted and logged, and never stops the data plane."""
        try:
            verdict = self.pipeline(frame, ifindex)
            self.act(frame, ifindex, verdict)
        except Exception as exc:
            self.counts.errors += 1
            text = f"{type(exc).__name__}: {exc}"
            if text != self._last_error:  # the same error again and again is logged once
                self._log(f"frame on ifindex {ifindex}: {text}")
                self._last_error = text

    def act(self, frame: bytes, ifindex: int, verdict: Verdict) -> None:
        """Carry out one verdict as the kernel carries out the XDP action."""
        action = verdict.action
        if action == Action.TX:
            self.sockets[ifindex].send(verdict.frame)
            self.counts.tx += 1
        elif action == Action.REDIRECT:
            self._sender(verdict.ifindex or 0).send(verdict.frame)
            self.counts.redirected += 1
        elif action == Action.PASS and verdict.frame != frame:
            self.kernel.send(verdict.frame[ETH_HLEN:])
            self.counts.to_kernel += 1
        elif action == Action.PASS:
            self.counts.passed += 1
        else:
            self.counts.dropped += 1

    def _sender(self, ifindex: int) -> FrameSocket:
        sock = self.sockets.get(ifindex) or self._senders.get(ifindex)
        if sock is None:
            sock = self._senders[ifindex] = self.open_sender(ifindex)
        return sock

    def close(self) -> None:
        for sock in [*self.sockets.values(), *self._senders.values()]:
            sock.close()
        self.sockets, self._senders = {}, {}
        self.kernel.close()


def configured_services(maps: Any) -> set[ServiceKey]:
    """The service tuples in lb_services."""
    return {key.to_model() for key in maps.services}


class LiveDirector:
    """The forwarder with its pinned maps, kernel FIB and nft table, on named interfaces."""

    def __init__(self, ifnames: Sequence[str], *, sync_interval: float = 0.1,
                 log: Callable[[str], None] | None = None) -> None:
        from pyvs.dataplane import pins
        from pyvs.dataplane.maps import pinned_director_maps
        from pyvs.packet.pipeline import process_director

        self.sync_interval = sync_interval
        self._log = log or _print
        self._stop = False
        self.keep_guard = False  # close() leaves the nft table (SIGUSR1: another forwarder follows)
        self._closers: list[Callable[[], object]] = []
        try:
            ifindexes = {socket.if_nametoindex(name): name for name in ifnames}
            pins.check(pins.netns_dir())
            self.maps = pinned_director_maps(pins.netns_dir())
            self._closers.append(self.maps.close)
            self.fib = KernelFib()
            self._closers.append(self.fib.close)
            self.guard = ServiceGuard()
            self._closers.append(self._close_guard)
            self.guard.sync(configured_services(self.maps))
            maps, fib = self.maps, self.fib

            def pipeline(frame: bytes, ifindex: int) -> Verdict:
                return process_director(frame, maps, fib, now_ns=time.monotonic_ns(), ingress_ifindex=ifindex,
                                        random_u32=_random_u32)

            def route_mtu(dst: ipaddress.IPv4Address, length: int) -> int | None:
                answer = fib.lookup(dst, tot_len=length, ingress_ifindex=0)
                return answer.mtu if answer.rc == FIB_FRAG_NEEDED else None

            sockets: dict[int, FrameSocket] = {}
            self.forwarder = AfPacketForwarder(
                sockets, pipeline, KernelHandoff(raw_ip_socket(), route_mtu),
                lambda ifindex: packet_socket(socket.if_indextoname(ifindex), receive=False), self._log)
            self._closers.append(self.forwarder.close)
            for ifindex, name in ifindexes.items():
                sockets[ifindex] = packet_socket(name)
                self.forwarder.mtus[ifindex] = interface_mtu(name)
        except BaseException:
            self.close()
            raise
        self.ifnames = list(ifnames)

    def close(self) -> None:
        """Close the sockets, remove the nft table, close the FIB and the maps (reverse order of opening)."""
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def _close_guard(self) -> None:
        if not self.keep_guard:
            self.guard.close()

    def stop(self) -> None:
        self._stop = True

    def serve(self, tick: Callable[[], None] | None = None) -> ForwarderCounts:
        """Forward until SIGTERM, SIGINT or SIGUSR1 (which sets keep_guard), or stop(); returns
        the counts. `tick()` is called every `sync_interval` while forwarding goes on."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self._stop = True
            self.keep_guard = self.keep_guard or signum == signal.SIGUSR1

        stops = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
        previous = {sig: signal.signal(sig, on_signal) for sig in stops}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
        try:
            self._loop(wake_r, tick)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            wake_r.close()
            wake_w.close()
        for sock in self.forwarder.sockets.values():
            self.forwarder.counts.overruns += _socket_drops(sock)
        return self.forwarder.counts

    def _loop(self, wake: socket.socket, tick: Callable[[], None] | None) -> None:
        poller = select.poll()
        by_fd = {sock.fileno(): ifindex for ifindex, sock in self.forwarder.sockets.items()}
        for fd in [*by_fd, self.fib.fileno(), wake.fileno()]:
            if fd >= 0:
                poller.register(fd, select.POLLIN)
        next_sync = time.monotonic() + self.sync_interval
        next_sweep = time.monotonic() + SWEEP_INTERVAL_S
        next_estimate = time.monotonic() + ESTIMATOR_INTERVAL_S
        self.maps.estimator.put(U32(0), abi.Estimator(armed=1))
        while not self._stop:
            timeout_ms = max(0.0, next_sync - time.monotonic()) * 1000
            ready = {fd for fd, _events in poller.poll(timeout_ms)}
            # A route or neighbour change that happened before a frame arrived
            # is seen before that frame: the FIB's news first, then at most
            # BATCH frames per interface, then poll again.
            if self.fib.fileno() in ready:
                self.fib.on_readable()
            if wake.fileno() in ready:
                _drain(wake)
            for fd in ready:
                if fd in by_fd:
                    self.forwarder.receive(by_fd[fd])
            if time.monotonic() >= next_sync:
                if self.guard.sync(configured_services(self.maps)):
                    self._log(f"services: {', '.join(sorted(map(_service_text, self.guard.services or ())))}")
                next_sync = time.monotonic() + self.sync_interval
                if tick is not None and not self._stop:
                    tick()
            if time.monotonic() >= next_sweep:  # what the XDP director's BPF timers do
                sweep_flows(self.maps, time.monotonic_ns())
                next_sweep = time.monotonic() + SWEEP_INTERVAL_S
            if time.monotonic() >= next_estimate:
                estimate_rates(self.maps)
                next_estimate += ESTIMATOR_INTERVAL_S


SIOCGIFMTU = 0x8921


def interface_mtu(ifname: str) -> int:
    """The MTU of `ifname` in this network namespace (SIOCGIFMTU: /sys/class/net shows the
    namespace sysfs was mounted in, not necessarily this one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16si", ifname.encode(), 0)
        return int(struct.unpack("16si", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, request))[1])


def _random_u32() -> int:
    return random.getrandbits(32)


def _service_text(key: ServiceKey) -> str:
    return f"{key.protocol.label} {key.address}:{key.port}"


def _socket_drops(sock: FrameSocket) -> int:
    if not isinstance(sock, socket.socket):
        return 0
    try:
        return int.from_bytes(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)[4:8], sys.byteorder)
    except OSError:
        return 0


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while sock.recv(4096):
            pass


def _print(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stdout, flush=True)


def run(ifnames: Iterable[str], *, sync_interval: float = 0.1,
        ready: Callable[[], None] | None = None, tick: Callable[[], None] | None = None) -> ForwarderCounts:
    """Open the live director on `ifnames`, call `ready()`, forward until a signal (calling
    `tick()` every `sync_interval`), clean up."""
    director = LiveDirector(list(ifnames), sync_interval=sync_interval)
    try:
        _print(f"forwarding on {', '.join(director.ifnames)}")
        if ready is not None:
            ready()
        counts = director.serve(tick)
        _print(f"stopped: {counts.line()}")
        return counts
    finally:
        director.close()
