"""Faults: pyvs processes killed with SIGKILL, and what the director makes of it.

- The python data plane's forwarder and its supervisor each replace the
  other when it is killed, and `pyvs director detach` leaves nothing of the
  data plane (processes, nft table, pid files, log), whatever state the
  daemon is in: running, just killed, dead with stale pid files, or with pid
  files naming another process (which it must not kill).
- An interface attached or detached restarts the forwarder without a
  moment (an nft transaction) in which the table is missing.
- Under a curl loop, a running download and a held keep-alive connection,
  SIGKILL of the forwarder (python plane), of `pyvsadm -R` and of `pyvs
  director attach` half-way (both planes) fail no request and move no
  connection: TCP's retransmissions carry them over a forwarder's restart.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pyvs.dataplane import pins
from pyvs.lab.commands import pyvs_argv, pyvs_env, pyvsadm_argv
from pyvs.lab.httpd import CHUNK, pattern
from pyvs.lab.netns import BackgroundProcess, Namespace
from pyvs.lab.seed import DATAPLANES, IFACE, VIP, SeedLab, seed_topology
from pyvs.netns import identity_of
from tests.capabilities import require

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

RUN_DIR = Path("/run/pyvs")
DAEMON = b"pyvs.daemon.forwarder"
SUPERVISOR, FORWARDER = "pyvs-supervise", "pyvs-forward"


def daemon(ns: Namespace) -> dict[str, list[int]]:
    """The namespace's live forwarder daemon processes by name (comm): supervisor and forwarder."""
    found: dict[str, list[int]] = {}
    for pid in ns.pids():
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if DAEMON not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                continue
            found.setdefault(Path(f"/proc/{pid}/comm").read_text().strip(), []).append(pid)
        except OSError:
            continue
    return found


def pid_file(ns: Namespace, role: str) -> Path:
    return RUN_DIR / f"forwarder-net{ns.inode}{'.supervisor' if role == SUPERVISOR else ''}.pid"


def leftovers(lab: SeedLab) -> list[str]:
    """What the python data plane left in the director's namespace and in /run/pyvs."""
    left = sorted(p.name for p in RUN_DIR.glob(f"forwarder-net{lab.director.inode}.*"))
    if "table ip pyvs" in lab.director.run(["nft", "list", "tables"]).stdout:
        left.append("table ip pyvs")
    return left + [f"{name} {pid}" for name, pids in daemon(lab.director).items() for pid in pids]


def wait_for_daemon(ns: Namespace, *, replacing: int | None = None, timeout: float = 20.0) -> dict[str, int]:
    """Wait until one supervisor and one forwarder run (neither `replacing`) and the pid
    files name them; returns their pids by name."""
    deadline = time.monotonic() + timeout
    while True:
        found = daemon(ns)
        pids = {name: found.get(name, []) for name in (SUPERVISOR, FORWARDER)}
        if all(len(p) == 1 and p[0] != replacing for p in pids.values()):
            current = {name: p[0] for name, p in pids.items()}
            files = {name: pid_file(ns, name).read_text().strip() if pid_file(ns, name).exists() else ""
                     for name in current}
            if files == {name: str(pid) for name, pid in current.items()}:
                return current
        assert time.monotonic() < deadline, f"no supervised forwarder: {found}"
        time.sleep(0.02)


def served(lab: SeedLab) -> str:
    done = lab.curl()
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_forwarder_and_its_supervisor_replace_each_other_when_killed() -> None:
    require("needs_nft")
    with seed_topology(reals=1, dataplane="python") as lab:
        # The third victim is the forwarder of a supervisor that its forwarder started (--adopt).
        for victim in (FORWARDER, SUPERVISOR, FORWARDER, SUPERVISOR):
            before = wait_for_daemon(lab.director)
            after = wait_for_daemon(lab.director, replacing=kill(lab, victim))
            survivor = SUPERVISOR if victim == FORWARDER else FORWARDER
            assert after[survivor] == before[survivor]
            assert served(lab) == "served by 10.3.3.3"


def kill(lab: SeedLab, role: str) -> int:
    """SIGKILL the director's supervisor or forwarder (once both run); returns its pid."""
    pid = wait_for_daemon(lab.director)[role]
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_everything(lab: SeedLab) -> None:
    """Stop the forwarder so that it cannot start a supervisor, then SIGKILL both."""
    pids = wait_for_daemon(lab.director)
    os.kill(pids[FORWARDER], signal.SIGSTOP)
    os.kill(pids[SUPERVISOR], signal.SIGKILL)
    os.kill(pids[FORWARDER], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while daemon(lab.director):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_detach_removes_everything_whatever_state_the_forwarder_is_in() -> None:
    require("needs_nft")
    with seed_topology(reals=1, dataplane="python") as lab:
        bystander = lab.topology.start(lab.director, ["sleep", "600"], name="bystander")

        def pid_files_name_the_bystander() -> None:
            kill_everything(lab)
            for role in (SUPERVISOR, FORWARDER):
                pid_file(lab.director, role).write_text(f"{bystander.pid}\n")

        states: dict[str, Callable[[], None]] = {
            "running": lambda: None,
            "forwarder just killed": lambda: kill(lab, FORWARDER),
            "supervisor just killed": lambda: kill(lab, SUPERVISOR),
            "both killed": lambda: kill_everything(lab),
            "pid files naming another process": pid_files_name_the_bystander,
        }
        for state, make in states.items():
            if state != "running":
                lab.pyvs(lab.director, "director", "attach", "--dataplane", "python", IFACE)
            assert served(lab) == "served by 10.3.3.3", state
            make()
            assert "table ip pyvs" in leftovers(lab), state
            lab.pyvs(lab.director, "director", "detach", IFACE)  # exit status 0, or LabError
            assert (state, leftovers(lab)) == (state, [])
            assert bystander.running, state


DOWNLOAD_BYTES = 64 << 20
DOWNLOAD_RATE = 512 << 10  # bytes/s until finish(): the download runs through every kill
CURL_LOOP = f'while [ ! -e "$1" ]; do out=$(curl -sS http://{VIP}/ 2>&1); echo "$? $out"; done'
OTHER_SERVICES = 2000  # per `pyvsadm -R`: long enough to be killed half-way; none is the lab's
FORWARDER_KILLS = 3
ATTACH_KILLS = 3


def other_services(batch: int) -> str:
    """`pyvsadm -R` input: OTHER_SERVICES services of their own (10.9.<batch>.x ports 1..), one real each."""
    lines = []
    for n in range(OTHER_SERVICES):
        service = f"10.9.{batch}.{n % 250 + 1}:{n // 250 + 1}"
        lines += [f"-A -t {service} -s rr", f"-a -t {service} -r 10.3.3.3:80 -i"]
    return "\n".join(lines) + "\n"


def expected_digest(length: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, length, CHUNK):
        digest.update(pattern(offset, min(CHUNK, length - offset)))
    return digest.hexdigest()


def kill_half_way(ns: Namespace, argv: Sequence[str], *, stdin: Path | None = None,
                  after: Callable[[subprocess.Popen[bytes]], None]) -> None:
    """Start argv in `ns`, call `after(process)` (which waits for the point to kill at), SIGKILL it."""
    with (stdin.open() if stdin else open(os.devnull)) as source:
        process = subprocess.Popen(ns.nsenter_argv(argv), env=pyvs_env(), stdin=source,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            after(process)
        finally:
            process.kill()
            process.wait()


@pytest.mark.parametrize("dataplane", DATAPLANES, ids=[f"dataplane={d}" for d in DATAPLANES])
def test_sigkill_of_pyvs_processes_fails_no_request_and_moves_no_connection(dataplane: str) -> None:
    if dataplane == "python":
        require("needs_nft")
    seed = random.randrange(1 << 32)
    print(f"random kill points: seed {seed}")
    rng = random.Random(seed)
    with seed_topology(reals=2, dataplane=dataplane) as lab:
        ours = [line for line in lab.pyvsadm("-S", "-n").stdout.splitlines() if VIP in line]
        journal = pins.journal_path(pins.netns_dir(identity_of(lab.director.path)))
        stop_loop = lab.topology.workdir / "stop-curl-loop"
        loop = lab.topology.start(lab.client, ["bash", "-c", CURL_LOOP, "curl-loop", str(stop_loop)],
                                  name="curl-loop")
        held = lab.keepalive()
        held_by = held.request()
        download = lab.download(DOWNLOAD_BYTES, DOWNLOAD_RATE)
        killed: list[str] = []

        # pyvsadm -R killed before its journal appears, as it appears, and within its map writes.
        for batch, delay in enumerate((None, 0.0, rng.uniform(0.0, 0.03))):
            restore = lab.topology.workdir / f"restore{batch}"
            restore.write_text(other_services(batch))

            def until_delay(process: subprocess.Popen[bytes], delay: float | None = delay) -> None:
                if delay is None:
                    time.sleep(0.05)
                    return
                while not journal.exists() and process.poll() is None:
                    time.sleep(0.0005)
                time.sleep(delay)

            kill_half_way(lab.director, [*pyvsadm_argv(), "-R"], stdin=restore, after=until_delay)
            when = "before its journal" if delay is None else f"its journal + {delay:.4f} s"
            killed.append(f"pyvsadm -R ({when})")
            assert held.request() == held_by

        # pyvs director attach, killed at random points of a run as long as a whole one.
        attach = [*pyvs_argv(), "director", "attach", "--dataplane", dataplane, IFACE]
        started = time.monotonic()
        lab.director.run_pyvs(attach)
        whole = time.monotonic() - started
        for delay in sorted(rng.uniform(0.0, whole) for _ in range(ATTACH_KILLS)):
            kill_half_way(lab.director, attach, after=lambda _process, delay=delay: time.sleep(delay))
            killed.append(f"pyvs director attach (after {delay:.3f} s of {whole:.3f} s)")
            assert held.request() == held_by

        if dataplane == "python":
            for _ in range(FORWARDER_KILLS):
                wait_for_daemon(lab.director, replacing=kill(lab, FORWARDER))
                killed.append("the forwarder")
                assert held.request() == held_by
            wait_for_daemon(lab.director, replacing=kill(lab, SUPERVISOR))
            killed.append("the supervisor")
            assert held.request() == held_by

        print("killed:", *killed, sep="\n  ")
        slow_still = download.process.running
        real, length, digest = download.finish()  # LabError if it failed
        assert (real in lab.real_addresses, length, digest) == (True, DOWNLOAD_BYTES,
                                                                expected_digest(DOWNLOAD_BYTES))
        assert slow_still  # the premise: every kill happened while it ran
        assert held.request() == held_by
        stop_loop.touch()
        loop.popen.wait(timeout=120)
        answers = loop.output().splitlines()
        print(f"curl loop: {len(answers)} requests")
        assert [a for a in answers if not a.startswith("0 served by ")] == []
        assert {a.removeprefix("0 served by ") for a in answers} == set(lab.real_addresses)
        assert [line for line in lab.pyvsadm("-S", "-n").stdout.splitlines() if VIP in line] == ours


def table_after_each_transaction(monitor: str) -> list[bool]:
    """From `nft monitor` output: whether `table ip pyvs` exists after each transaction
    (it does when monitoring starts)."""
    present, after = True, []
    for line in monitor.splitlines():
        if line.strip() in ("add table ip pyvs", "delete table ip pyvs"):
            present = line.strip().startswith("add")
        elif line.startswith("# new generation"):
            after.append(present)
    return after


def nft_probe(lab: SeedLab, monitor: BackgroundProcess, name: str) -> None:
    """A transaction of its own, repeated until `monitor` shows it: it has seen all before."""
    deadline = time.monotonic() + 20
    while f"add table ip {name}" not in monitor.output():
        assert time.monotonic() < deadline, monitor.output()
        lab.director.run(["nft", f"add table ip {name}; delete table ip {name}"])
        time.sleep(0.05)


EXTRA = "extra0"  # a second interface of the director's (a veth pair within its namespace)


def test_an_interface_change_restarts_the_forwarder_with_the_nft_table_there_throughout() -> None:
    require("needs_nft")
    with seed_topology(reals=1, dataplane="python") as lab:
        lab.director.ip("link", "add", EXTRA, "type", "veth", "peer", "name", f"{EXTRA}-peer")
        lab.director.link_up(EXTRA)
        monitor = lab.topology.start(lab.director, ["stdbuf", "-oL", "nft", "monitor"], name="nft-monitor")
        nft_probe(lab, monitor, "probe_start")
        forwarders = [wait_for_daemon(lab.director)[FORWARDER]]
        lab.pyvs(lab.director, "director", "attach", "--dataplane", "python", EXTRA)
        forwarders.append(wait_for_daemon(lab.director, replacing=forwarders[-1])[FORWARDER])
        lab.pyvs(lab.director, "director", "detach", EXTRA)
        forwarders.append(wait_for_daemon(lab.director, replacing=forwarders[-1])[FORWARDER])
        assert len(set(forwarders)) == 3  # each change restarted it
        assert served(lab) == "served by 10.3.3.3"
        nft_probe(lab, monitor, "probe_end")
        seen = monitor.output()
        print(seen)
        # The two new forwarders' tables, and no transaction that left the table out.
        assert seen.count("add chain ip pyvs prerouting") >= 2
        assert table_after_each_transaction(seen) == [True] * len(table_after_each_transaction(seen))
