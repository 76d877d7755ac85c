"""The "HTTP" section of `pyvs bench`: wrk through the director against wrk straight to a real server.

The seed lab with two real servers, each running nginx (the lab's Python
HTTP server saturates long before the director costs anything visible).
Four figures, in requests per second, each repetition of the four run one
after the other so that slow drifts of the machine hit all of them alike:

    direct keep-alive     wrk -> 10.3.3.3 (routed, no director)       baseline
    VIP keep-alive        wrk -> 10.2.2.3, rr over 10.3.3.3, 10.3.3.4  vs direct keep-alive
    direct new conn.      as above, with "Connection: close"            baseline
    VIP new conn.         as above, with "Connection: close"            vs direct new conn.

Every run is checked, not just timed: wrk must report no socket error and
no error status, nginx's stub_status counters (read before and after) must
show that the requests reached the intended real servers (both of them
through the VIP) and, for the new-connection variants, that no connection
carried more than one request. A run that fails a check raises RuntimeError
rather than becoming a figure.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyvs.bench.runner import Figure, Options
from pyvs.lab.netns import BackgroundProcess, LabError, Namespace
from pyvs.lab.seed import (
    PORT,
    VIP,
    SeedLab,
    seed_topology,
    served_by,
)

SECTION = "HTTP"
UNIT = "req/s"
DIRECT_KEEPALIVE = "wrk direct to one real server, keep-alive"
VIP_KEEPALIVE = "wrk to the VIP, 2 real servers, keep-alive"
DIRECT_NEW_CONN = "wrk direct to one real server, new connection per request"
VIP_NEW_CONN = "wrk to the VIP, 2 real servers, new connection per request"

REALS = 2
# One wrk thread: the machine this section was written for has two cores,
# and the real servers' nginx workers and the softirqs need the rest.
WRK_THREADS = 1
WRK_CONNECTIONS = 32
# stub_status is served on loopback only, so the measured traffic never sees it.
STATUS_PORT = 8080
NGINX_START_TIMEOUT = 10.0

# Plenty of ephemeral ports and reuse of TIME_WAIT ones: at a few thousand new
# connections a second the default range (about 28,000 ports) would run out
# within one run, and then connect() fails and wrk reports errors.
CLIENT_SYSCTLS: dict[str, int | str] = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_tw_reuse": 1,
}


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    target: str  # the address wrk sends to
    close: bool  # "Connection: close": one connection per request
    baseline: str | None


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    requests: int
    latency_ms: dict[str, float]  # "50%" -> milliseconds, as wrk --latency prints them


@dataclass(frozen=True, slots=True)
class NginxCounters:
    accepts: int
    requests: int


@dataclass(slots=True)
class Samples:
    """What one figure collects over its repetitions."""

    rates: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: Any) -> None:
        self.extra.setdefault(key, []).append(value)

    def add_by_real(self, key: str, values: dict[str, int]) -> None:
        per_real = self.extra.setdefault(key, {})
        for address, value in values.items():
            per_real.setdefault(address, []).append(value)


def variants(real: str) -> list[Variant]:
    return [
        Variant(DIRECT_KEEPALIVE, real, close=False, baseline=None),
        Variant(VIP_KEEPALIVE, VIP, close=False, baseline=DIRECT_KEEPALIVE),
        Variant(DIRECT_NEW_CONN, real, close=True, baseline=None),
        Variant(VIP_NEW_CONN, VIP, close=True, baseline=DIRECT_NEW_CONN),
    ]


# --- nginx on the real servers ---------------------------------------------------------------------


def nginx_config(prefix: Path, address: str) -> str:
    """A one-worker nginx that answers every request with "served by ADDRESS".

    Every path nginx would otherwise take from its build (pid file, lock
    file, temp directories, logs under /var/log/nginx and /run) is inside
    `prefix`, so two instances in two namespaces of one machine share nothing.
    """
    return textwrap.dedent(f"""\
        daemon off;
        # One process: the worker is all the machine can afford, and a master
        # would only add a process to stop and a user switch to get wrong.
        master_process off;
        worker_processes 1;
        pid {prefix}/nginx.pid;
        lock_file {prefix}/nginx.lock;
        error_log stderr notice;
        events {{
            worker_connections 4096;
        }}
        http {{
            access_log off;
            # nginx closes a keep-alive connection after 1,000 requests by
            # default; the keep-alive figures are meant to open none after the first.
            keepalive_requests 100000000;
            default_type text/plain;
            client_body_temp_path {prefix}/client_body;
            proxy_temp_path {prefix}/proxy;
            fastcgi_temp_path {prefix}/fastcgi;
            uwsgi_temp_path {prefix}/uwsgi;
            scgi_temp_path {prefix}/scgi;
            server {{
                listen {PORT} backlog=4096;
                location / {{
                    return 200 "served by {address}\\n";
                }}
            }}
            server {{
                listen 127.0.0.1:{STATUS_PORT};
                location / {{
                    stub_status;
                }}
            }}
        }}
        """)


def start_nginx(lab: SeedLab, index: int) -> BackgroundProcess:
    ns, address = lab.reals[index], lab.real_addresses[index]
    prefix = lab.topology.workdir / f"nginx-real{index + 1}"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, address))
    # -p and -e: the compiled-in prefix and error log are not used even
    # before the configuration has been read.
    argv = ["nginx", "-p", f"{prefix}/", "-e", "stderr", "-c", str(conf)]
    return lab.topology.start(ns, argv, name=f"nginx-real{index + 1}")


def read_nginx(ns: Namespace) -> NginxCounters:
    """nginx's accepted connections and requests, from stub_status."""
    done = ns.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{STATUS_PORT}/"], check=False)
    match = re.search(r"server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise LabError(f"nginx stub_status in {ns.name}: {done.stderr.strip() or done.stdout.strip()}")
    return NginxCounters(accepts=int(match[1]), requests=int(match[3]))


def wait_for_nginx(ns: Namespace, proc: BackgroundProcess) -> None:
    deadline = time.monotonic() + NGINX_START_TIMEOUT
    while True:
        if not proc.running:
            raise LabError(f"{proc.name} exited: {proc.output().strip()}")
        try:
            read_nginx(ns)
            return
        except LabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def nginx_delta(before: NginxCounters, after: NginxCounters) -> NginxCounters:
    # The second stub_status read counts its own connection and request.
    return NginxCounters(after.accepts - before.accepts - 1, after.requests - before.requests - 1)


# --- wrk ----------------------------------------------------------------------------------------------


def wrk_argv(target: str, seconds: int, close: bool) -> list[str]:
    header = ["-H", "Connection: close"] if close else []
    return ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency", *header,
            f"http://{target}:{PORT}/"]


_LATENCY_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(text: str) -> WrkResult:
    """wrk's summary; RuntimeError when it reports any failed request."""
    problems = []
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors and any(int(n) for n in errors.groups()):
        problems.append(errors[0].strip())
    # wrk counts statuses above 399 here (its wording notwithstanding); the
    # nginx configured above answers 200 to every request, so no 1xx or 3xx
    # can slip through.
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad_status and int(bad_status[1]):
        problems.append(bad_status[0].strip())
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    count = re.search(r"(\d+) requests in ", text)
    if rate is None or count is None:
        problems.append("no 'Requests/sec:' line")
    if problems:
        raise RuntimeError("wrk: " + "; ".join(problems) + "\n" + text)
    assert rate is not None and count is not None
    if float(rate[1]) <= 0:
        raise RuntimeError("wrk: no request completed\n" + text)
    latency = {
        pct: round(float(value) * _LATENCY_UNITS_MS[unit], 6)  # no binary noise in the JSON
        for pct, value, unit in re.findall(r"^\s+(\d+%)\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    return WrkResult(float(rate[1]), int(count[1]), latency)


# --- the director's per-real counters ------------------------------------------------------------


def director_conns(lab: SeedLab) -> dict[str, int]:
    """The director's Conns column per real server (`pyvsadm -L -n --stats --exact`)."""
    listing = lab.pyvsadm("-L", "-n", "--stats", "--exact").stdout
    conns = {}
    for line in listing.splitlines():
        match = re.match(r"\s+->\s+([\d.]+):\d+\s+(\d+)", line)
        if match:
            conns[match[1]] = int(match[2])
    return conns


# --- the section ---------------------------------------------------------------------------------


@contextmanager
def http_lab() -> Iterator[SeedLab]:
    """The seed lab with two real servers running nginx, and the rr service over them."""
    # httpd=False: the lab's Python HTTP servers would hold port 80 that nginx needs.
    with seed_topology(reals=REALS, httpd=False) as lab:
        servers = [start_nginx(lab, i) for i in range(REALS)]
        try:
            for ns, proc in zip(lab.reals, servers, strict=True):
                wait_for_nginx(ns, proc)
            lab.client.sysctl(CLIENT_SYSCTLS)
            # The real servers need no such settings: they only accept, so use
            # no ephemeral port, and a SYN that reuses a tuple still in their
            # TIME_WAIT (nginx closes first) starts a new connection, its
            # timestamp being newer.
            check_lab(lab)
            yield lab
        finally:
            for proc in servers:
                proc.stop()


def check_lab(lab: SeedLab) -> None:
    """Each real server answers directly, and rr through the VIP reaches both."""
    for address in lab.real_addresses:
        done = lab.client.run(["curl", "-sS", "--max-time", "5", f"http://{address}:{PORT}/"], check=False)
        if served_by(done.stdout) != address:
            raise RuntimeError(f"{address} does not answer directly: "
                               f"{done.stdout.strip()} {done.stderr.strip()}")
    answers = {served_by(lab.curl("/", max_time=5).stdout) for _ in lab.real_addresses}
    if answers != set(lab.real_addresses):
        raise RuntimeError(f"rr through the VIP reached {sorted(answers)}, not {lab.real_addresses}")


def measure(lab: SeedLab, variant: Variant, seconds: int, samples: Samples) -> None:
    """One wrk run of `variant`, checked against nginx's (and the director's) counters."""
    through_vip = variant.target == VIP
    before = {a: read_nginx(ns) for ns, a in zip(lab.reals, lab.real_addresses, strict=True)}
    conns_before = director_conns(lab) if through_vip else {}
    argv = wrk_argv(variant.target, seconds, variant.close)
    done = lab.client.run(argv, check=False, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit status {done.returncode}: {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    after = {a: read_nginx(ns) for ns, a in zip(lab.reals, lab.real_addresses, strict=True)}
    served = {a: nginx_delta(before[a], after[a]) for a in lab.real_addresses}

    expected = lab.real_addresses if through_vip else [variant.target]
    idle = [a for a in expected if served[a].requests <= 0]
    strays = [a for a in lab.real_addresses if a not in expected and served[a].requests > 0]
    if idle or strays:
        raise RuntimeError(f"{variant.name}: requests per real server {_requests(served)}; "
                           f"expected requests on {expected} only")
    requests = sum(s.requests for s in served.values())
    accepts = sum(s.accepts for s in served.values())
    # nginx also counts requests wrk sent but stopped waiting for at the end.
    if requests < result.requests:
        raise RuntimeError(f"{variant.name}: wrk completed {result.requests} requests, nginx saw {requests}")
    # Each connection carries at most one request when nginx closes after
    # each answer; wrk also opens one connection to probe the address before
    # it starts, which carries none.
    if variant.close and accepts < requests:
        raise RuntimeError(f"{variant.name}: {requests} requests on {accepts} connections: "
                           "wrk did not open a new connection per request")

    samples.rates.append(result.requests_per_second)
    samples.add("requests", result.requests)
    samples.add("connections", accepts)
    samples.add("latency_p50_ms", result.latency_ms.get("50%"))
    samples.add("latency_p99_ms", result.latency_ms.get("99%"))
    samples.add_by_real("requests_by_real", {a: s.requests for a, s in served.items()})
    if through_vip:
        conns_after = director_conns(lab)
        samples.add_by_real("director_conns_by_real",
                            {a: conns_after.get(a, 0) - conns_before.get(a, 0) for a in lab.real_addresses})


def _requests(served: dict[str, NginxCounters]) -> dict[str, int]:
    return {a: s.requests for a, s in served.items()}


def run(options: Options) -> list[Figure]:
    """The four HTTP figures; min/median/max over the repetitions, each against its baseline."""
    reps = 1 if options.smoke else options.reps
    # wrk takes whole seconds only.
    seconds = 1 if options.smoke else max(1, round(options.seconds))
    with http_lab() as lab:
        runs = variants(lab.real_addresses[0])
        collected = {v.name: Samples() for v in runs}
        for _ in range(reps):
            for variant in runs:
                measure(lab, variant, seconds, collected[variant.name])
    return [figure(v, collected[v.name], seconds) for v in runs]


def figure(variant: Variant, samples: Samples, seconds: int) -> Figure:
    extra: dict[str, Any] = {"wrk": " ".join(_quoted(wrk_argv(variant.target, seconds, variant.close))),
             "nginx": "1 worker per real server", **samples.extra}
    if variant.target == VIP:
        extra["director_conns_note"] = (
            "new flows the director scheduled: fewer than nginx's connections, since a SYN from a "
            "client port whose flow is still kept in FIN_WAIT continues that flow on the same real "
            "server (as IPVS with conn_reuse_mode=1 does for connections it sees one way only)")
    return Figure(SECTION, variant.name, UNIT, samples.rates, baseline=variant.baseline, extra=extra)


def _quoted(argv: Sequence[str]) -> list[str]:
    return [f'"{arg}"' if " " in arg else arg for arg in argv]
