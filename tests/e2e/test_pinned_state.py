"""The director's pinned state is bound to its namespace and safe under concurrent use.

- In a namespace where no director ran yet, eight `pyvsadm -A` started at once
  all succeed (the maps are made under the same lock as the edits).
- A new namespace that gets a deleted one's inode number sees none of its
  services (pins are kept per inode and cookie), and `pyvs director prune`
  removes the deleted one's pins, and only those.
"""

from __future__ import annotations

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
    orphans = [i for i, r in state.reals.items() if r.svc_id != FREE_SVC_ID and r.svc_id not in live]
    counts = {}
    for key in state.services:
        counts[abi.be32(key.address)] = counts.get(abi.be32(key.address), 0) + 1
    print(len(orphans), state.vip_addrs == counts)
"""


def rules(services: int, reals: int) -> str:
    lines = []
    for n in range(services):
        vip = f"10.{100 + n // 65536}.{n // 256 % 256}.{n % 256}"
        lines.append(f"-A -t {vip}:80 -s wrr")
        lines += [f"-a -t {vip}:80 -r 10.3.{r}.{n % 250 + 1}:80 -i -w {r + 1}" for r in range(reals)]
    return "\n".join(lines) + "\n"


def test_a_killed_restore_is_seen_whole_and_clear_leaves_nothing() -> None:
    with Topology() as topology:
        ns = topology.add_namespace("killed")
        topology.on_close(lambda: release_pyvs_state(ns, []))

        def pyvsadm(*args: str, stdin: str | None = None) -> str:
            return ns.run_pyvs([*pyvsadm_argv(), *args], input=stdin, timeout=300).stdout

        restore = rules(2000, 4)
        pyvsadm("-R", stdin=restore)
        whole = pyvsadm("-S", "-n")
        assert len(whole.splitlines()) == 2000 * 5
        pyvsadm("-C")
        assert pyvsadm("-S", "-n") == ""
        restore_file = topology.workdir / "restore"
        restore_file.write_text(restore)
        journal = pins.journal_path(pins.netns_dir(identity_of(ns.path)))
        outcomes = []
        # The journal appears when the map writes begin (the plan is made): kill then, and a
        # little later, within the writes (about 10,000 syscalls), and once before it appears.
        for delay in (None, 0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08):
            with restore_file.open() as stdin:
                writer = subprocess.Popen(ns.nsenter_argv([*pyvsadm_argv(), "-R"]), env=pyvs_env(),
                                          stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 60
                while delay is not None and not journal.exists() and writer.poll() is None:
                    assert time.monotonic() < deadline
                if delay:
                    time.sleep(delay)
                writer.kill()  # SIGKILL: no clean-up of any kind
                writer.wait()
            interrupted = journal.exists()
            seen = pyvsadm("-S", "-n")  # the next writer finishes what the killed one began, or finds nothing
            assert seen in ("", whole)
            outcomes.append("finished from the journal" if interrupted else "whole" if seen else "nothing")
            assert ns.run_pyvs(python_code_argv(CHECK_WHOLE)).stdout.split() == ["0", "True"]
            pyvsadm("-C")
            assert pyvsadm("-S", "-n") == ""
            assert ns.run_pyvs(python_code_argv(CHECK_WHOLE)).stdout.split() == ["0", "True"]
        print("outcomes:", outcomes)
        assert "nothing" in outcomes and "finished from the journal" in outcomes
