"""The director's pinned state under concurrent use: in a namespace where no
director ran yet, eight `pyvsadm -A` started at once all succeed (the maps are
made under the same lock as the edits), and all eight services are there."""

from __future__ import annotations

import subprocess

import pytest

from pyvs.lab.commands import pyvs_env, pyvsadm_argv
from pyvs.lab.netns import Topology
from pyvs.lab.seed import release_pyvs_state

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

WRITERS = 8


def test_concurrent_first_uses_in_a_new_namespace_all_succeed() -> None:
    with Topology() as topology:
        ns = topology.add_namespace("firstuse")
        topology.on_close(lambda: release_pyvs_state(ns, []))
        writers = [subprocess.Popen(ns.nsenter_argv([*pyvsadm_argv(), "-A", "-t", f"10.9.0.{n + 1}:80", "-s", "rr"]),
                                    env=pyvs_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for n in range(WRITERS)]
        outcomes = [(w.wait(timeout=120), w.stderr.read() if w.stderr else "") for w in writers]
        for w in writers:
            for stream in (w.stdout, w.stderr):
                if stream:
                    stream.close()
        assert outcomes == [(0, "")] * WRITERS
        saved = ns.run_pyvs([*pyvsadm_argv(), "-S", "-n"]).stdout.splitlines()
        assert sorted(line.split()[2] for line in saved) == sorted(f"10.9.0.{n + 1}:80" for n in range(WRITERS))
