"""The director's pinned state is bound to its namespace and safe under concurrent use.

- In a namespace where no director ran yet, eight `pyvsadm -A` started at once
  all succeed (the maps are made under the same lock as the edits).
- A new namespace that gets a deleted one's inode number sees none of its
  services (pins are kept per inode and cookie), and `pyvs director prune`
  removes the deleted one's pins, and only those.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pyvs.dataplane import pins
from pyvs.lab.commands import pyvs_argv, pyvs_env, pyvsadm_argv
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
            for attempt in range(20):  # the kernel hands the freed inode number out again, soon
                new = second.add_namespace(f"new{attempt}")
                if identity_of(new.path).inode == old_identity.inode:
                    break
            else:
                pytest.fail(f"no new namespace got inode {old_identity.inode} in 20 tries")
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
