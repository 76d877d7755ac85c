"""The director's pinned state is bound to its namespace and safe under concurrent use.

- In a namespace where no director ran yet, eight `pyvsadm -A` started at once
  all succeed (the maps are made under the same lock as the edits).
- A new namespace that gets a deleted one's inode number sees none of its
  services (pins are kept per inode and cookie), and `pyvs director prune`
  removes the deleted one's pins, and only those.
- `pyvsadm -R` of 10,000 services killed at 20 random points is seen whole or
  not at all, and what `-S` then prints is what `-R` restores.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from pyvs.dataplane import pins
from pyvs.lab.commands import python_code_argv, pyvs_argv, pyvs_env, pyvsadm_argv
from pyvs.lab.netns import Namespace, Topology, run
from pyvs.lab.seed import release_pyvs_state
from pyvs.netns import identity_of

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

WRITERS = 8


def service(n: int) -> str:
    return f"10.9.0.{n + 1}:80"


def test_concurrent_first_uses_in_a_new_namespace_all_succeed() -> None:
    with Topology() as topology:
        ns = topology.add_namespace("firstuse")
        topology.on_close(lambda: release_pyvs_state(ns, []))
        writers = [subprocess.Popen(ns.nsenter_argv([*pyvsadm_argv(), "-A", "-t", service(n), "-s", "rr"]),
                                    env=pyvs_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for n in range(WRITERS)]
        outcomes = [w.communicate(timeout=120)[1] for w in writers]
        assert [(w.returncode, err) for w, err in zip(writers, outcomes, strict=True)] == [(0, "")] * WRITERS
        saved = ns.run_pyvs([*pyvsadm_argv(), "-S", "-n"]).stdout.splitlines()
        assert sorted(line.split()[2] for line in saved) == sorted(service(n) for n in range(WRITERS))


INODE_TRIES = 400


def test_a_namespace_that_reuses_an_inode_number_sees_no_service(tmp_path: Path) -> None:
    with Topology() as first:
        old = first.add_namespace("old")
        old.run_pyvs([*pyvsadm_argv(), "-A", "-t", service(0), "-s", "rr"])
        old_identity = identity_of(old.path)
        old_dir = pins.netns_dir(old_identity)
        assert old_dir.is_dir()
    # The namespace is gone (Topology removed it) but, as after `ip netns del`, its pins are not.
    assert old_dir.is_dir()
    try:
        with Topology() as second:
            # The kernel gives namespaces the lowest free inode number: holding every new one
            # fills the numbers freed below the old one (by other tests' namespaces) until the
            # old one's comes back.
            for attempt in range(INODE_TRIES):
                if attempt >= 50:  # the kernel frees a deleted namespace's number asynchronously
                    time.sleep(0.05)
                new = second.add_namespace(f"new{attempt}")
                if identity_of(new.path).inode == old_identity.inode:
                    break
            else:
                pytest.fail(f"no new namespace got inode {old_identity.inode} in {INODE_TRIES} tries")
            second.on_close(lambda: release_pyvs_state(new, []))
            assert new.run_pyvs([*pyvsadm_argv(), "-S", "-n"]).stdout == ""
            new.run_pyvs([*pyvsadm_argv(), "-A", "-t", service(1), "-s", "rr"])  # its own pins, beside
            new_dir = pins.netns_dir(identity_of(new.path))
            assert new_dir != old_dir and new_dir.is_dir()

            pruned = run([*pyvs_argv(), "director", "prune"], env=pyvs_env())
            assert f"removed {old_dir} (its network namespace is gone)" in pruned.stdout.splitlines()
            assert not old_dir.exists() and new_dir.is_dir()
            assert new.run_pyvs([*pyvsadm_argv(), "-S", "-n"]).stdout.split()[2] == service(1)
            release_pyvs_state(Namespace(new.name), [])
    finally:
        pins.remove_dir(old_dir)


CHECK_WHOLE = """
from pyvs.control.plan import FREE_SVC_ID
from pyvs.dataplane.state import read_state
from pyvs.dataplane.xdp import XdpDataplane
from pyvs.packet import abi
with XdpDataplane.open_pinned() as plane:
    state = read_state(plane.maps)
    live = {v.id for v in state.services.values()}
    in_use = [i for i, r in state.reals.items() if r.svc_id != FREE_SVC_ID]
    orphans = [i for i in in_use if state.reals[i].svc_id not in live]
    counts = {}
    for key in state.services:
        counts[abi.be32(key.address)] = counts.get(abi.be32(key.address), 0) + 1
    print(len(orphans), state.vip_addrs == counts, len(state.services), len(in_use))
"""


def check_whole(ns: Namespace, services: int, reals: int) -> None:
    """The maps hold `services` services and `reals` real servers in use, no real server of a
    service that is gone, and per VIP address the count of its services."""
    done = ns.run_pyvs(python_code_argv(CHECK_WHOLE))
    assert done.stdout.split() == ["0", "True", str(services), str(reals)]


def rules(services: int, reals: int) -> str:
    lines = []
    for n in range(services):
        vip = f"10.{100 + n // 65536}.{n // 256 % 256}.{n % 256}"
        lines.append(f"-A -t {vip}:80 -s wrr")
        lines += [f"-a -t {vip}:80 -r 10.3.{r}.{n % 250 + 1}:80 -i -w {r + 1}" for r in range(reals)]
    return "\n".join(lines) + "\n"


KILLED_SERVICES = 10_000
KILLED_REALS = 1  # per service: 20,000 rules (CI's time: each kill is followed by -S, -R elsewhere, -C)
KILLS = 20


def test_a_killed_restore_is_seen_whole_and_clear_leaves_nothing() -> None:
    """`pyvsadm -R` of 10,000 services SIGKILLed at KILLS random points (one before its journal
    appears, the others within the time a whole run's journal exists; the seed is printed):
    what the next pyvsadm sees is nothing or the whole configuration, the maps hold no orphan,
    what `-S -n` prints restores (`-R` in a fresh namespace) to the same `-S -n`, and `-C`
    leaves nothing. Both outcomes, nothing and finished from the journal, occur."""
    seed = random.randrange(1 << 32)
    print(f"kill points: seed {seed}")
    rng = random.Random(seed)
    with Topology() as topology:
        ns = topology.add_namespace("killed")
        topology.on_close(lambda: release_pyvs_state(ns, []))
        fresh = topology.add_namespace("fresh")
        topology.on_close(lambda: release_pyvs_state(fresh, []))

        def pyvsadm(*args: str, stdin: str | None = None, where: Namespace = ns) -> str:
            return where.run_pyvs([*pyvsadm_argv(), *args], input=stdin, timeout=300).stdout

        restored: dict[str, str] = {}

        def restores_to_itself(saved: str) -> bool:
            """`-R` of `saved` in the fresh namespace, then its `-S -n`, is `saved` (each
            distinct output restored once: the same text restores the same way)."""
            if saved not in restored:
                pyvsadm("-R", stdin=saved, where=fresh)
                restored[saved] = pyvsadm("-S", "-n", where=fresh)
                pyvsadm("-C", where=fresh)
            return restored[saved] == saved

        restore = rules(KILLED_SERVICES, KILLED_REALS)
        restore_file = topology.workdir / "restore"
        restore_file.write_text(restore)
        journal = pins.journal_path(pins.netns_dir(identity_of(ns.path)))

        def start_writer() -> subprocess.Popen[bytes]:
            with restore_file.open() as stdin:
                return subprocess.Popen(ns.nsenter_argv([*pyvsadm_argv(), "-R"]), env=pyvs_env(), stdin=stdin,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def wait_for_journal(writer: subprocess.Popen[bytes]) -> float:
            deadline = time.monotonic() + 120
            while not journal.exists() and writer.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.0005)
            return time.monotonic()

        # A whole run: what it leaves, and the window in which its journal exists (its map writes).
        writer = start_writer()
        appeared = wait_for_journal(writer)
        while journal.exists():
            time.sleep(0.0005)
        window = time.monotonic() - appeared
        assert writer.wait(timeout=300) == 0
        whole = pyvsadm("-S", "-n")
        assert len(whole.splitlines()) == KILLED_SERVICES * (1 + KILLED_REALS)
        assert restores_to_itself(whole)
        pyvsadm("-C")
        assert pyvsadm("-S", "-n") == ""
        delays: list[float | None] = [None, *(rng.uniform(0.0, window) for _ in range(KILLS - 1))]
        rng.shuffle(delays)
        print(f"journal window of a whole run: {window:.3f} s; kill delays:",
              " ".join("before" if d is None else f"{d:.4f}" for d in delays))
        outcomes = []
        for delay in delays:
            writer = start_writer()
            if delay is not None:
                wait_for_journal(writer)
                time.sleep(delay)
            writer.kill()  # SIGKILL: no clean-up of any kind
            writer.wait()
            interrupted = journal.exists()
            seen = pyvsadm("-S", "-n")  # the next writer finishes what the killed one began, or finds nothing
            assert seen in ("", whole)
            outcomes.append("finished from the journal" if interrupted else "whole" if seen else "nothing")
            check_whole(ns, KILLED_SERVICES if seen else 0, KILLED_SERVICES * KILLED_REALS if seen else 0)
            assert restores_to_itself(seen)
            pyvsadm("-C")
            check_whole(ns, 0, 0)  # -S would print nothing
        print("outcomes:", outcomes)
        assert "nothing" in outcomes and "finished from the journal" in outcomes
        # After all that, a whole -R and -C cycle is as clean as the first.
        pyvsadm("-R", stdin=restore)
        assert pyvsadm("-S", "-n") == whole
        pyvsadm("-C")
        assert pyvsadm("-S", "-n") == ""
        check_whole(ns, 0, 0)
