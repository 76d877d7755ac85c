"""The seed lab's network (SEED.md), rebuilt in network namespaces on one machine.

    client 10.1.1.1 ── router ── director 10.2.2.2, VIP 10.2.2.3 (XDP, or the live Python data plane)
                          └── br-reals ── real1 10.3.3.3 [, real2 10.3.3.4, ...]

The router routes between 10.1.1.0/24, 10.2.2.0/24 and 10.3.3.0/24 (a bridge
in the router namespace holds the real servers' segment). `seed_topology()`
builds it, optionally runs the pyvs pieces (director attach, the seed's two
ipvsadm lines, `pyvs realserver up`, an HTTP server per real server) and
removes everything on exit. The e2e tests and the benchmarks use it; the
experiment itself (captures, curl, evidence) is in pyvs.lab.experiment.
`dataplane` is "xdp" (the director's XDP program) or "python" (`pyvs director
attach --dataplane python`: the forwarder daemon over AF_PACKET).

Every interface keeps the kernel's default offloads: the client's and the
router's veths hand packets over with their TCP and UDP checksums left to
offload, as containers and VMs on a director's host do, and pyvs finishes
them (bpf/csum_offload.h). One veth fact the lab does arrange for: a frame
that XDP transmits into a veth is dropped unless the receiving peer runs NAPI:
GRO on is said to be enough, but on this project's kernels only an XDP program
on the peer is (so pyvs.lab.xdp_pass on the router's side of the director's
link; `pyvs director attach` warns about a veth whose peer has none). The
python data plane sends with AF_PACKET, which needs no such program.
"""

from __future__ import annotations

import contextlib
import functools
import select
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyvs.lab.commands import python_code_argv, python_module_argv, pyvs_argv, pyvsadm_argv
from pyvs.lab.netns import BackgroundProcess, LabError, Namespace, Topology, run
from pyvs.lab.xdp_pass import attach_xdp_pass

CLIENT = "10.1.1.1"
ROUTER_CLIENT_SIDE = "10.1.1.254"
DIRECTOR = "10.2.2.2"
VIP = "10.2.2.3"
PORT = 80
ROUTER_DIRECTOR_SIDE = "10.2.2.254"
ROUTER_REALS_SIDE = "10.3.3.254"
MAX_REALS = 8
IFACE = "eth0"  # every end host's one interface, as in the seed
DATAPLANES = ("xdp", "python")
REALS_BRIDGE = "br-reals"


def real_address(index: int) -> str:
    """Address of real server number `index` (0-based): 10.3.3.3, 10.3.3.4, ..."""
    return f"10.3.3.{3 + index}"


def served_by(body: str) -> str:
    """'served by 10.3.3.3' -> '10.3.3.3' (the lab's HTTP servers answer that line)."""
    return body.strip().removeprefix("served by ").strip()


@dataclass(slots=True)
class SeedLab:
    """The seed network; namespaces by role, interface names, and helpers that run things in it."""

    topology: Topology
    client: Namespace
    router: Namespace
    director: Namespace
    reals: list[Namespace]
    real_addresses: list[str]
    router_client_if: str = "to-client"
    router_director_if: str = "to-director"
    router_real_ifs: list[str] = field(default_factory=list)
    iface: str = IFACE
    dataplane: str = "xdp"

    @property
    def service(self) -> str:
        return f"{VIP}:{PORT}"

    def pyvs(self, ns: Namespace, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pyvs ARGS` inside `ns` (nsenter --net)."""
        return ns.run_pyvs([*pyvs_argv(), *args], check=check)

    def pyvsadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pyvsadm ARGS` in the director's namespace."""
        return self.director.run_pyvs([*pyvsadm_argv(), *args], check=check)

    def curl(self, path: str = "/", *, max_time: float = 10) -> subprocess.CompletedProcess[str]:
        """`curl -sS --max-time N http://VIP/path` from the client (never raises on failure)."""
        argv = ["curl", "-sS", "--max-time", f"{max_time:g}", f"http://{VIP}{path}"]
        return self.client.run(argv, check=False, timeout=max_time + 10)

    def new_connections(self, count: int) -> list[str]:
        """`count` sequential requests from the client, each on a new connection.

        Returns, per request, the answering real server's address, or "ERROR ...".
        """
        argv = [*python_module_argv("pyvs.lab.httpclient"), VIP, str(PORT), "new", str(count)]
        done = self.client.run_pyvs(argv, check=False, timeout=10 + 6 * count)
        return [served_by(line.split(" ", 1)[1]) for line in done.stdout.splitlines() if " " in line]

    def keepalive(self) -> KeepAliveClient:
        """A client connection that stays open; each `request()` sends one GET on it."""
        argv = [*python_module_argv("pyvs.lab.httpclient"), VIP, str(PORT), "keepalive"]
        proc = self.topology.start(self.client, argv, name=f"keepalive-{time.monotonic_ns()}", pipes=True)
        client = KeepAliveClient(proc)
        client.connected_port = client.read_line().split(" ", 1)[0]
        return client

    def download(self, length: int, rate: int) -> Download:
        """A GET of `length` bytes (the real servers' /bytes/N) read at `rate` bytes/s until `finish()`."""
        argv = [*python_module_argv("pyvs.lab.httpclient"), VIP, str(PORT), "download", f"/bytes/{length}",
                str(rate)]
        proc = self.topology.start(self.client, argv, name=f"download-{time.monotonic_ns()}", pipes=True)
        client = Download(proc)
        client.connected_port = client.read_line().split(" ", 1)[0]
        return client


@dataclass(slots=True)
class KeepAliveClient:
    """Drives `pyvs.lab.httpclient keepalive` through its stdin and stdout."""

    process: BackgroundProcess
    connected_port: str = ""

    def read_line(self, timeout: float = 10.0) -> str:
        stdout = self.process.popen.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise LabError(f"keep-alive client: no answer within {timeout:g} s")
        line = stdout.readline().strip()
        if not line or " ERROR " in f" {line} ":
            raise LabError(f"keep-alive client failed: {line or self.process.output().strip()}")
        return line

    def request(self) -> str:
        """One GET on the open connection; returns the answering real server's address."""
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.write("GET\n")
        stdin.flush()
        port, _, body = self.read_line().partition(" ")
        if port != self.connected_port:
            raise LabError(f"keep-alive client changed connection: port {self.connected_port} -> {port}")
        return served_by(body)

    def close(self) -> None:
        self.process.stop()


@dataclass(slots=True)
class Download(KeepAliveClient):
    """Drives `pyvs.lab.httpclient download` through its stdin and stdout."""

    def finish(self, timeout: float = 60.0) -> tuple[str, int, str]:
        """Read the rest at full speed; returns (answering real server, body bytes, body sha256)."""
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.write("finish\n")
        stdin.flush()
        port, real, received, digest = self.read_line(timeout).split()
        if port != self.connected_port:
            raise LabError(f"download changed connection: port {self.connected_port} -> {port}")
        return real, int(received), digest


def build_network(topology: Topology, reals: int = 1, *, dataplane: str = "xdp") -> SeedLab:
    """Namespaces, links, addresses, routes, sysctls and offloads; no pyvs piece yet."""
    if not 1 <= reals <= MAX_REALS:
        raise LabError(f"reals must be between 1 and {MAX_REALS}")
    if dataplane not in DATAPLANES:
        raise LabError(f"dataplane must be one of {', '.join(DATAPLANES)}, not {dataplane!r}")
    t = topology
    client, router, director = (t.add_namespace(r) for r in ("client", "router", "director"))
    real_nss = [t.add_namespace(f"real{i + 1}") for i in range(reals)]
    lab = SeedLab(t, client, router, director, real_nss, [real_address(i) for i in range(reals)],
                  router_real_ifs=[f"to-real{i + 1}" for i in range(reals)], dataplane=dataplane)
    # pyvs state outside the namespaces (pins in /sys/fs/bpf, /run/pyvs files)
    # must go before the namespaces do, whoever ran pyvs in them.
    t.on_close(lambda: director_cleanup(director))
    for ns in real_nss:
        t.on_close(functools.partial(real_cleanup, ns))
    t.add_veth(client, IFACE, router, lab.router_client_if)
    t.add_veth(director, IFACE, router, lab.router_director_if)
    for ns, router_if in zip(real_nss, lab.router_real_ifs, strict=True):
        t.add_veth(ns, IFACE, router, router_if)
    t.add_bridge(router, REALS_BRIDGE, lab.router_real_ifs)

    router.addr_add(lab.router_client_if, f"{ROUTER_CLIENT_SIDE}/24")
    router.addr_add(lab.router_director_if, f"{ROUTER_DIRECTOR_SIDE}/24")
    router.addr_add(REALS_BRIDGE, f"{ROUTER_REALS_SIDE}/24")
    router_ifs = [lab.router_client_if, lab.router_director_if, *lab.router_real_ifs, REALS_BRIDGE]
    router.sysctl({"net.ipv4.ip_forward": 1, **{
        f"net.ipv4.conf.{dev}.rp_filter": 0 for dev in ("all", "default", *router_ifs)}})
    if dataplane == "xdp":
        # The director sends with XDP_TX into this veth: see pyvs.lab.xdp_pass.
        attach_xdp_pass(router, lab.router_director_if)

    client.addr_add(IFACE, f"{CLIENT}/24")
    client.route_add("default", ROUTER_CLIENT_SIDE)

    director.addr_add(IFACE, f"{DIRECTOR}/24")
    director.addr_add(IFACE, f"{VIP}/32", broadcast=VIP)  # the seed's eth0:0
    director.route_add("default", ROUTER_DIRECTOR_SIDE)
    # When the next hop's MAC is unresolved the XDP program passes the packet,
    # already encapsulated with the director's own source address, to the
    # kernel, which must forward it: ip_forward, accept_local, no rp_filter.
    director.sysctl({"net.ipv4.ip_forward": 1, **{
        f"net.ipv4.conf.{dev}.{key}": value for dev in ("all", IFACE)
        for key, value in (("accept_local", 1), ("rp_filter", 0))}})

    for ns, address in zip(real_nss, lab.real_addresses, strict=True):
        ns.addr_add(IFACE, f"{address}/24")
        ns.route_add("default", ROUTER_REALS_SIDE)
    return lab


def plain_routing_problems(lab: SeedLab) -> list[str]:
    """Pings across the router that must work before any pyvs piece; returns failures."""
    pairs = [(lab.client, DIRECTOR)] + [(lab.client, a) for a in lab.real_addresses]
    pairs += [(lab.director, a) for a in lab.real_addresses]
    return [f"{ns.name} cannot ping {address}" for ns, address in pairs
            if not ns.ping(address, count=1, timeout=2)]


def wait_for_log(proc: BackgroundProcess, text: str, timeout: float = 10.0) -> None:
    """Wait until `text` appears in the process's log; LabError if it exits or times out."""
    deadline = time.monotonic() + timeout
    while text not in proc.output():
        if not proc.running:
            raise LabError(f"{proc.name} exited: {proc.output().strip()}")
        if time.monotonic() > deadline:
            raise LabError(f"{proc.name}: no {text!r} within {timeout:g} s: {proc.output().strip()}")
        time.sleep(0.05)


def start_http_servers(lab: SeedLab) -> list[BackgroundProcess]:
    """One HTTP server per real server, port 80, answering "served by <its address>"."""
    servers = []
    for i, (ns, address) in enumerate(zip(lab.reals, lab.real_addresses, strict=True)):
        argv = [*python_module_argv("pyvs.lab.httpd"), "--port", str(PORT), "--text", f"served by {address}"]
        servers.append(lab.topology.start(ns, argv, name=f"httpd-real{i + 1}", cwd=lab.topology.workdir))
    for server in servers:
        wait_for_log(server, "listening on")
    return servers


REMOVE_PINS = "from pyvs.dataplane.xdp import remove_pins; remove_pins()"


def release_pyvs_state(ns: Namespace, commands: Sequence[Sequence[str]]) -> None:
    """Best effort: run pyvs clean-up commands in `ns`, then remove its pinned BPF state."""
    for argv in commands:
        with contextlib.suppress(LabError):
            ns.run_pyvs(argv, check=False, timeout=30)
    with contextlib.suppress(LabError):
        ns.run_pyvs(python_code_argv(REMOVE_PINS), check=False, timeout=30)


def director_cleanup(ns: Namespace) -> None:
    release_pyvs_state(ns, [[*pyvs_argv(), "director", "detach", IFACE]])


def real_cleanup(ns: Namespace) -> None:
    release_pyvs_state(ns, [[*pyvs_argv(), "realserver", "down"]])


def attach_director(lab: SeedLab) -> None:
    """`pyvs director attach --dataplane DATAPLANE eth0` in the director's namespace (undone at close)."""
    lab.pyvs(lab.director, "director", "attach", "--dataplane", lab.dataplane, IFACE)


def add_service(lab: SeedLab, scheduler: str = "rr", weights: Sequence[int] | None = None, *,
                udp: bool = False, port: int = PORT) -> None:
    """The seed's ipvsadm lines: `-A -t VIP:80 -s rr`, then `-a -t VIP:80 -r REAL -i` per real
    (with `udp`, `-u` and `port` instead)."""
    kind, service = ("-u" if udp else "-t"), f"{VIP}:{port}"
    lab.pyvsadm("-A", kind, service, "-s", scheduler)
    for i, address in enumerate(lab.real_addresses):
        weight = [] if weights is None else ["-w", str(weights[i])]
        lab.pyvsadm("-a", kind, service, "-r", address, "-i", *weight)


def realservers_up(lab: SeedLab, decap: str = "auto") -> None:
    """`pyvs realserver up --vip VIP --iface eth0 --decap DECAP` in every real server's namespace
    (the seed lab: auto, the kernel's tunl0 where it has one; labs that count decapsulated
    packets: xdp)."""
    for ns in lab.reals:
        lab.pyvs(ns, "realserver", "up", "--vip", VIP, "--iface", IFACE, "--decap", decap)


def ensure_bpffs(path: str = "/sys/fs/bpf") -> None:
    """Mount bpffs at `path` unless it is mounted already."""
    with open("/proc/mounts") as mounts:
        if any(line.split()[1:3] == [path, "bpf"] for line in mounts):
            return
    run(["mount", "-t", "bpf", "bpf", path])


@contextlib.contextmanager
def seed_topology(
    reals: int = 1, *, pyvs: bool = True, services: bool = True, scheduler: str = "rr",
    weights: Sequence[int] | None = None, topology: Topology | None = None, dataplane: str = "xdp",
    httpd: bool = True, decap: str = "auto",
) -> Iterator[SeedLab]:
    """The seed lab, removed on exit (also on exceptions).

    pyvs=False: the network only. pyvs=True: plus HTTP servers, the director
    (`dataplane`: "xdp" or "python"), `pyvs realserver up` on every real
    server and, with services=True, the virtual service with every real
    server (`scheduler`, optional `weights`). httpd=False leaves port 80 of
    the real servers free for another HTTP server. `decap` is `pyvs realserver
    up`'s --decap.
    """
    with topology or Topology() as t:
        lab = build_network(t, reals, dataplane=dataplane)
        problems = plain_routing_problems(lab)
        if problems:
            raise LabError("plain routing does not work: " + "; ".join(problems))
        if pyvs:
            ensure_bpffs()
            if httpd:
                start_http_servers(lab)
            realservers_up(lab, decap)
            attach_director(lab)
            if services:
                add_service(lab, scheduler, weights)
        yield lab


def pcap_text(path: Path) -> list[str]:
    """The capture as `tcpdump -n -S -r FILE` prints it."""
    # -S: absolute sequence numbers, so a client packet and its encapsulated
    # twin print the same numbers (relative ones restart per printed flow).
    return run(["tcpdump", "-n", "-S", "-r", str(path)]).stdout.splitlines()
