"""Packet rate end to end: 64-byte UDP frames through the seed lab, counted at the real server.

The traffic generator is pyvs.lab.udpgen (an XDP program run with
BPF_PROG_TEST_RUN live frames) in the client's namespace. It sends to a UDP
service 10.2.2.3:9000 from SOURCES source ports for options.seconds, pinned
to one CPU. One real server (10.3.3.3) in every case, so nothing differs but
the director:

kernel forwarding (no pyvs)  the baseline. The director's kernel routes
    the VIP's packets back to the router (a /32 route), and the router sends
    what comes back from the director to the real server (a rule on its
    director-side interface). The hops are those of the tunnel:
    client -> router -> director -> router -> real server. No XDP program on
    the director, the VIP not local there; the real server holds the VIP
    (`pyvs realserver up`), so the plain packets are accepted.
XDP director -> decap (pyvs)  `pyvs director attach` (XDP), service
    `-A -u VIP:9000 -s rr`, the real server decapsulating with XDP.
live Python data plane  the same with `--dataplane python`, offered
    PYTHON_PPS, more than it forwards: the figure is its capacity, and its
    AF_PACKET socket drops the rest (counted in `extra`).

Received: what reaches the real server's UDP layer after decapsulation,
counted by the kernel in the real server's namespace (/proc/net/snmp:
InDatagrams + NoPorts + InErrors; nothing listens on the port, so the frames
end as NoPorts; InErrors already includes RcvbufErrors, so that is not added
again). The router's neighbour entry for the VIP is permanent (the director's
MAC) in every case, so the router never ARPs during a run. Each sample starts
after a warm-up that opened every flow and waits for the path to drain.

Where the CPU goes: the generator transmits into the client's veth, whose
peer's NAPI runs in the softirq of the generator's CPU, and so does every hop
after it (veth to veth), so the whole path runs on the generator's CPU: the
rate is one CPU's worth of the path, and the other CPU stays free for the
Python forwarder (in the python case) and the rest of the machine. The
generator is pinned to the last CPU (udpgen --cpu, as taskset would) so that
this holds for the whole run: the generator's syscall and the path's softirq
then take turns, and nothing is lost on the way. Unpinned, it was seen to
outrun the path on a busy machine (1.8 Mpps sent, 0.47 Mpps arriving, the
rest dropped by the client's veth for want of room in its peer's ring).

Rate = what was received while the generator sent / the time it spent
sending (the generator reports it; the counter is read the moment it exits).
What arrives after that does not count towards the rate, only towards the
loss: the Python data plane's socket buffer holds thousands of frames, and
would otherwise inflate its rate on short runs; on the XDP and kernel paths
the difference is nil, the path runs in the generator's syscall. `extra` has,
per repetition, what was sent, received (all of it, once the path drained)
and lost, what the director dropped (pyvs' drop counters by reason, its
interface, its kernel's IP discards, its packet sockets) and the decap
program's counts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyvs.bench.runner import Figure, Options
from pyvs.dataplane import maps, pins
from pyvs.lab.commands import python_module_argv
from pyvs.lab.netns import BackgroundProcess, LabError, Namespace
from pyvs.lab.seed import (
    IFACE,
    ROUTER_DIRECTOR_SIDE,
    VIP,
    SeedLab,
    add_service,
    ensure_bpffs,
    realservers_up,
    seed_topology,
    wait_for_log,
)
from pyvs.lab.udpgen import FRAME_LEN, WIRE_LEN
from pyvs.lab.xdp_pass import attach_xdp_pass
from pyvs.model.enums import DecapCounter, DropReason
from pyvs.netns import identity_of

SECTION = "packet rate"
UNIT = "kpps"
PORT = 9000
SOURCES = 1024
KERNEL = "kernel forwarding (no pyvs)"
XDP = "XDP director -> decap (pyvs)"
PYTHON = "live Python data plane"
# Offered to the Python data plane: more than it forwards (some thousands a second on
# the development machine), so the figure is its capacity; its socket drops the rest.
PYTHON_PPS = 30_000
WARMUP_PPS = 50_000
PYTHON_WARMUP_PPS = 1_000
ROUTER_TABLE = "100"  # the router's table for what the director sends back (kernel forwarding only)
DIRECTOR_DROPS = ("director_if_drops", "director_kernel_drops", "director_socket_drops")
SENT_LINE = re.compile(r"sent (\d+) frames in ([\d.]+) s")
SKMEM_DROPS = re.compile(r"skmem:\([^)]*\bd(\d+)\)")


def generator_cpu() -> int:
    """The CPU the generator (and so the whole path, see above) runs on: the last one."""
    return (os.cpu_count() or 1) - 1


def generator_argv(*, seconds: float, pps: float = 0, count: int = 0, sources: int = SOURCES,
                   addrs: int = 1) -> list[str]:
    argv = [*python_module_argv("pyvs.lab.udpgen"), "--dst", VIP, "--port", str(PORT),
            "--seconds", f"{seconds:g}", "--sources", str(sources), "--addrs", str(addrs),
            "--cpu", str(generator_cpu())]
    if pps:
        argv += ["--pps", f"{pps:g}"]
    if count:
        argv += ["--count", str(count)]
    return argv


def parse_sent(output: str) -> tuple[int, float]:
    """(frames, seconds) from the generator's report line."""
    match = SENT_LINE.search(output)
    if match is None:
        raise LabError(f"udpgen reported nothing: {output.strip()[-500:]}")
    return int(match[1]), float(match[2])


def send(lab: SeedLab, *, seconds: float, pps: float = 0, count: int = 0,
         sources: int = SOURCES, addrs: int = 1) -> tuple[int, float]:
    """Run the generator in the client's namespace to the end; (frames sent, seconds)."""
    argv = generator_argv(seconds=seconds, pps=pps, count=count, sources=sources, addrs=addrs)
    done = lab.client.run_pyvs(argv, timeout=seconds + 60)
    return parse_sent(done.stdout)


def start_flood(lab: SeedLab, *, pps: float, sources: int = SOURCES, addrs: int = 1) -> BackgroundProcess:
    """The generator in the background until stop_flood (SIGINT)."""
    argv = generator_argv(seconds=0, pps=pps, sources=sources, addrs=addrs)
    proc = lab.topology.start(lab.client, argv, name=f"udpgen-{time.monotonic_ns()}", pyvs=True)
    wait_for_log(proc, "sending to", timeout=30)
    return proc


def stop_flood(proc: BackgroundProcess) -> tuple[int, float]:
    """Stop a background generator; (frames sent, seconds)."""
    if not proc.running:
        raise LabError(f"udpgen exited early: {proc.output().strip()[-500:]}")
    proc.stop(signal.SIGINT, timeout=30)
    return parse_sent(proc.output())


# Counters ------------------------------------------------------------------


def snmp(ns: Namespace, protocol: str) -> dict[str, int]:
    """One protocol's counters of /proc/net/snmp, as the namespace sees them."""
    rows = [line.split() for line in ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
            if line.startswith(f"{protocol}:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:]), strict=True))


def udp_received(ns: Namespace) -> int:
    """Datagrams that reached the UDP layer: delivered, to no socket, or dropped there."""
    udp = snmp(ns, "Udp")
    return udp["InDatagrams"] + udp["NoPorts"] + udp["InErrors"]


def link_drops(ns: Namespace, ifname: str) -> int:
    """rx and tx drops of a link (on a veth these include its XDP_TX and redirect failures)."""
    stats = ns.ip_json("-s", "link", "show", "dev", ifname)[0]["stats64"]
    return int(stats["rx"]["dropped"]) + int(stats["rx"].get("missed", 0)) + int(stats["tx"]["dropped"])


def ethtool_stat(ns: Namespace, ifname: str, key: str) -> int:
    for line in ns.run(["ethtool", "-S", ifname]).stdout.splitlines():
        name, _, value = line.strip().partition(":")
        if name == key:
            return int(value)
    return 0


def socket_drops(ns: Namespace) -> int:
    """Frames dropped at the namespace's packet sockets (the Python data plane's, when its buffer is full)."""
    out = ns.run(["ss", "-0", "-a", "-m", "-n"]).stdout
    return sum(int(d) for d in SKMEM_DROPS.findall(out))


def pinned_counters(ns: Namespace, subdir: str, name: str) -> list[int]:
    """Every entry, summed over CPUs, of a per-CPU u64 array pinned by pyvs in `ns` ([] if not pinned)."""
    return maps.pinned_counters(pins.netns_dir(identity_of(ns.path)) / subdir, name)


def pyvs_drops(ns: Namespace) -> dict[str, int]:
    """The director's drop counters by reason (lb_drops, the XDP and the Python data plane's)."""
    counts = pinned_counters(ns, "", "lb_drops")
    return {reason.name.lower(): counts[reason] if counts else 0 for reason in DropReason}


def decap_counter(lab: SeedLab, counter: DecapCounter) -> int:
    """One decapsulation counter, summed over the real servers."""
    per_real = (pinned_counters(ns, "decap", "lb_decap_stats") for ns in lab.reals)
    return sum(counts[counter] for counts in per_real if counts)


def counters(lab: SeedLab) -> dict[str, int]:
    """Everything a sample compares before and after."""
    kernel_ip = snmp(lab.director, "Ip")
    values = {
        "received": real_received(lab),
        "decap_packets": decap_counter(lab, DecapCounter.PACKETS),
        "decap_dropped": decap_counter(lab, DecapCounter.DROPPED),
        "director_if_drops": link_drops(lab.director, IFACE),
        "director_kernel_drops": sum(kernel_ip[k] for k in ("InDiscards", "OutDiscards", "OutNoRoutes")),
        "director_socket_drops": socket_drops(lab.director),
        "router_if_drops": sum(link_drops(lab.router, dev) for dev in
                               (lab.router_client_if, lab.router_director_if, *lab.router_real_ifs)),
        "generator_xmit_errors": ethtool_stat(lab.client, IFACE, "tx_queue_0_xdp_xmit_errors"),
    }
    values.update({f"pyvs_drop_{name}": count for name, count in pyvs_drops(lab.director).items()})
    return values


def real_received(lab: SeedLab) -> int:
    return sum(udp_received(ns) for ns in lab.reals)


def wait_drained(lab: SeedLab, *, quiet: float = 0.3, limit: float = 15.0) -> None:
    """Wait until the real servers' count stops moving (what is still queued arrives)."""
    deadline = time.monotonic() + limit
    last = real_received(lab)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = real_received(lab)
        if now == last:
            return
        last = now


@dataclass
class Sample:
    """One timed run: what went out, how long it took, and the counters' differences."""

    sent: int
    seconds: float
    deltas: dict[str, int]

    @property
    def received(self) -> int:
        return self.deltas["received"]

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def pyvs_dropped(self) -> int:
        return sum(v for k, v in self.deltas.items() if k.startswith("pyvs_drop_"))

    @property
    def director_dropped(self) -> int:
        """What the director is known to have dropped: pyvs' counters, its interface, kernel and sockets."""
        return self.pyvs_dropped + sum(self.deltas[k] for k in DIRECTOR_DROPS)

    def rate(self) -> float:
        """Frames received while sending per second of sending, in UNIT."""
        return self.deltas["received_while_sending"] / self.seconds / 1000 if self.seconds > 0 else 0.0


def measure(lab: SeedLab, run: Callable[[], tuple[int, float]]) -> Sample:
    """Counters, `run()` (which sends and returns (sent, seconds)), drain, counters again."""
    wait_drained(lab)
    before = counters(lab)
    sent, seconds = run()
    in_window = real_received(lab) - before["received"]
    wait_drained(lab)
    after = counters(lab)
    return Sample(sent, seconds, {"received_while_sending": in_window,
                                  **{k: after[k] - before[k] for k in after}})


def summary(samples: Sequence[Sample]) -> dict[str, Any]:
    """The `extra` of a figure: per repetition lists, and the drop counters that moved."""
    extra: dict[str, Any] = {
        "sent": [s.sent for s in samples],
        "send_seconds": [round(s.seconds, 6) for s in samples],
        "offered_kpps": [round(s.sent / s.seconds / 1000, 3) if s.seconds else 0 for s in samples],
        "received": [s.received for s in samples],
        "received_while_sending": [s.deltas["received_while_sending"] for s in samples],
        "lost": [s.lost for s in samples],
        "loss_percent": [round(100 * s.lost / s.sent, 4) if s.sent else 0 for s in samples],
        "pyvs_dropped": [s.pyvs_dropped for s in samples],
    }
    extra["director_dropped"] = [s.director_dropped for s in samples]
    for key in ("decap_packets", "decap_dropped", *DIRECTOR_DROPS, "router_if_drops",
                "generator_xmit_errors"):
        extra[key] = [s.deltas[key] for s in samples]
    reasons = {k.removeprefix("pyvs_drop_") for s in samples for k, v in s.deltas.items()
               if k.startswith("pyvs_drop_") and v}
    if reasons:
        extra["pyvs_drop_reasons"] = {r: [s.deltas[f"pyvs_drop_{r}"] for s in samples]
                                      for r in sorted(reasons)}
    return extra


# The three set-ups ----------------------------------------------------------


def mac_of(ns: Namespace, ifname: str) -> str:
    return str(ns.ip_json("link", "show", "dev", ifname)[0]["address"])


def pin_vip_neighbour(lab: SeedLab) -> None:
    """The router's entry for the VIP: the director's MAC, permanent (no ARP during a run)."""
    lab.router.ip("neigh", "replace", VIP, "lladdr", mac_of(lab.director, IFACE),
                  "dev", lab.router_director_if, "nud", "permanent")


def prepare_generator(lab: SeedLab) -> None:
    # The generator's frames reach the router only if the router's side of the
    # client's link runs an XDP program (pyvs.lab.xdp_pass).
    attach_xdp_pass(lab.router, lab.router_client_if)
    pin_vip_neighbour(lab)


def add_udp_service(lab: SeedLab, scheduler: str = "rr", weights: Sequence[int] | None = None) -> None:
    add_service(lab, scheduler, weights, udp=True, port=PORT)
    if lab.dataplane == "python":
        time.sleep(0.5)  # the forwarder's nft guard follows lb_services every 0.1 s


def route_through_director(lab: SeedLab) -> None:
    """Plain kernel forwarding of the VIP's packets, over the tunnel's hops (see the module's text)."""
    real = lab.real_addresses[0]
    lab.director.ip("addr", "del", f"{VIP}/32", "dev", IFACE)  # the seed's eth0:0: not a director here
    lab.director.route_add(f"{VIP}/32", ROUTER_DIRECTOR_SIDE)
    # The router hands the director's packets for the VIP to the real server
    # (otherwise they would go back to the director); the redirect the router
    # would send the director meanwhile is of no use here.
    lab.router.ip("rule", "add", "iif", lab.router_director_if, "to", f"{VIP}/32", "lookup", ROUTER_TABLE,
                  "pref", "100")
    lab.router.ip("route", "add", f"{VIP}/32", "via", real, "table", ROUTER_TABLE)
    lab.router.sysctl({f"net.ipv4.conf.{dev}.send_redirects": 0 for dev in ("all", lab.router_director_if)})
    lab.director.sysctl({f"net.ipv4.conf.{dev}.send_redirects": 0 for dev in ("all", IFACE)})


@contextlib.contextmanager
def kernel_forwarding_lab(reals: int = 1) -> Iterator[SeedLab]:
    with seed_topology(reals=reals, pyvs=False) as lab:
        ensure_bpffs()
        realservers_up(lab, "xdp")  # the decapsulation program counts what arrives
        route_through_director(lab)
        prepare_generator(lab)
        yield lab


@contextlib.contextmanager
def pyvs_lab(dataplane: str, reals: int = 1, scheduler: str = "rr",
             weights: Sequence[int] | None = None) -> Iterator[SeedLab]:
    with seed_topology(reals=reals, services=False, dataplane=dataplane, decap="xdp") as lab:
        add_udp_service(lab, scheduler, weights)
        prepare_generator(lab)
        yield lab


def warm_up(lab: SeedLab, *, pps: float = WARMUP_PPS, sources: int = SOURCES) -> None:
    """Two frames per source port at a gentle rate: every flow exists, every MAC is known.

    Also the check that the set-up works: every frame must arrive, except
    what the Python data plane's socket had no room for (a busy machine).
    """
    count = 2 * sources
    sample = measure(lab, lambda: send(lab, seconds=count / pps + 30, pps=pps, count=count, sources=sources))
    if sample.sent != count or sample.received + sample.deltas["director_socket_drops"] != count:
        raise LabError(f"{lab.dataplane} lab: warm-up sent {sample.sent} frames, {sample.received} arrived "
                       f"(of {count}): {sample.deltas}")


@dataclass
class Case:
    name: str
    lab: SeedLab
    pps: float = 0.0
    samples: list[Sample] = field(default_factory=list)


def run(options: Options) -> list[Figure]:
    seconds = 1.0 if options.smoke else options.seconds
    reps = 1 if options.smoke else options.reps
    ensure_bpffs()
    with contextlib.ExitStack() as stack:
        # All three labs exist together and the repetitions alternate between
        # them, so a slow spell of the machine does not fall on one case only.
        cases = [Case(KERNEL, stack.enter_context(kernel_forwarding_lab())),
                 Case(XDP, stack.enter_context(pyvs_lab("xdp")))]
        if python_dataplane_available():
            cases.append(Case(PYTHON, stack.enter_context(pyvs_lab("python")), pps=PYTHON_PPS))
        for case in cases:
            warm_up(case.lab, pps=PYTHON_WARMUP_PPS if case.name == PYTHON else WARMUP_PPS)
        for _ in range(reps):
            for case in cases:
                case.samples.append(measure(case.lab, functools.partial(send, case.lab, seconds=seconds,
                                                                        pps=case.pps)))
    return [figure(case, seconds) for case in cases]


def python_dataplane_available() -> bool:
    """The Python data plane needs nft (its guard table); without it the figure is left out."""
    return shutil.which("nft") is not None


def figure(case: Case, seconds: float) -> Figure:
    """The case's figure: kpps received while sending; all but the baseline compared with it."""
    offered = f"{case.pps / 1000:g} kpps offered" if case.pps else "unlimited"
    note = f"{WIRE_LEN}-byte frames, {offered}, {SOURCES} source ports, 1 real server"
    extra = summary(case.samples)
    extra.update({"frame_bytes": FRAME_LEN, "wire_bytes": WIRE_LEN, "sources": SOURCES, "reals": 1,
                  "generator_cpu": generator_cpu(), "offered_pps": case.pps or "unlimited",
                  "seconds": seconds})
    return Figure(SECTION, case.name, UNIT, [s.rate() for s in case.samples],
                  baseline=None if case.name == KERNEL else KERNEL, note=note, extra=extra)

