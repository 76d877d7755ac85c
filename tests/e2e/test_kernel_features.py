"""A kernel without a feature pyvs needs gets one clear line, and nothing changes.

Each probe is made to fail at the one place that asks the kernel
(`features.kernel_has`, the probes' seam); everything else runs for real, in
process, inside a private namespace (pyvs.lab.fib_netns): `pyvs director
attach` (both data planes) and `pyvs realserver up` exit 1 with the line
naming the feature and its first release, and leave no program attached, no
pinned map, no forwarder, no sysctl, address or state file changed. The
probes themselves are run against this kernel too: each says yes, and each
kind can say no.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvs.cli import pyvs_main
from pyvs.dataplane import features, forwarder_process, libbpf, pins, xdp
from pyvs.dataplane.features import Feature
from pyvs.realserver import state as rs_state
from pyvs.realserver.system import KernelSystem
from tests.bpf.conftest import fib_namespace, private_pins

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

IFACE = "lb0"  # pyvs.lab.fib_netns's director interface, 10.2.2.2/24
VIP = "10.2.2.3"
WATCHED_SYSCTLS = ["net/ipv4/conf/lb0/accept_local", "net/ipv4/conf/lb0/forwarding",
                   "net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/lo/arp_announce",
                   "net/ipv4/conf/default/rp_filter"]


@pytest.fixture
def namespace() -> Iterator[str]:
    """This process inside a fresh namespace, with private pins; both removed afterwards."""
    with fib_namespace() as name, private_pins():
        yield name


def lacking(monkeypatch: pytest.MonkeyPatch, missing: Feature) -> None:
    real_probe = features.kernel_has
    monkeypatch.setattr(features, "kernel_has", lambda f: f != missing and real_probe(f))


def snapshot() -> dict[str, object]:
    """What an attach or `realserver up` would change in this namespace."""
    ifindex = xdp.ifindex_of(IFACE)
    inode = os.stat("/proc/self/ns/net").st_ino
    return {
        "xdp": libbpf.xdp_query_id(ifindex),
        "pins": pins.netns_dir().exists(),
        "forwarder": forwarder_process.running(),
        "sysctls": {p: Path("/proc/sys", p).read_text() for p in WATCHED_SYSCTLS},
        "addresses": subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout,
        "state": rs_state.state_path(inode).exists(),
    }


def expected_line(feature: Feature) -> str:
    return (f"pyvs: this kernel ({os.uname().release}) lacks {feature.name}, first in Linux "
            f"{feature.since}: nothing was loaded or changed\n")


DIRECTOR = features.director_needs()
PYTHON_PLANE = features.maps_only_needs()
DECAP = features.decap_needs()
COMMANDS = {  # what each command probes for
    "director attach": (["director", "attach", IFACE], DIRECTOR),
    "director attach --dataplane python": (["director", "attach", "--dataplane", "python", IFACE],
                                           PYTHON_PLANE),
    "realserver up": (["realserver", "up", "--vip", VIP, "--iface", IFACE], DECAP),
}
CASES = [(command, feature) for command, (_, needs) in COMMANDS.items() for feature in needs]


@pytest.mark.parametrize(("command", "missing"), CASES, ids=[f"{c}: {f.name}" for c, f in CASES])
def test_a_kernel_without_a_needed_feature_is_refused(command: str, missing: Feature, namespace: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    lacking(monkeypatch, missing)
    monkeypatch.setattr(KernelSystem, "kernel_has_ipip", lambda self: False)  # XDP decap even with ipip
    before = snapshot()
    assert pyvs_main.main(COMMANDS[command][0]) == 1
    assert capsys.readouterr().err == expected_line(missing)
    assert snapshot() == before


def test_the_fib_probe_is_among_the_directors_needs() -> None:
    assert features.FIB_MTU in DIRECTOR and features.FIB_MTU not in PYTHON_PLANE


# -- the probes against this kernel ---------------------------------------------------

@pytest.mark.parametrize("feature", features.FEATURES, ids=[f.name for f in features.FEATURES])
def test_this_kernel_has(feature: Feature) -> None:
    assert features.kernel_has(feature)


def test_everything_the_programs_need_is_in_the_table() -> None:
    for feature in [*DIRECTOR, *DECAP]:
        assert feature in features.FEATURES, feature


def test_each_kind_of_probe_can_say_no(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not features.kernel_has(Feature("helper", 100_000, "no such helper", "99"))
    assert not features.kernel_has(Feature("map", 100_000, "no such map type", "99"))
    assert not features.kernel_has(Feature("map-flag", 1 << 31, "no such map flag", "99"))
    monkeypatch.setitem(features.INSN_PROBES, 99, [libbpf.BpfInsn(code=0xFF)])
    assert not features.kernel_has(Feature("insn", 99, "no such instruction", "99"))
    # The FIB probe's child routes with an MTU of PROBE_MTU; expecting another one
    # stands for a kernel that leaves mtu_result alone (before 5.12).
    monkeypatch.setattr(features, "PROBE_MTU", features.PROBE_MTU + 1)
    assert not features.kernel_has(features.FIB_MTU)


def test_the_fib_probe_sees_what_the_kernel_answers() -> None:
    done = subprocess.run(["unshare", "--net", "--", *features.fib_probe_argv()], capture_output=True,
                          text=True, env=features.child_env(), check=True)
    assert done.stdout.split() == [str(features.BPF_FIB_LKUP_RET_FRAG_NEEDED), str(features.PROBE_MTU)]


def test_attaching_where_the_driver_has_no_native_xdp_falls_back_to_generic(
        namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pyvs_main.main(["director", "attach", "lo"]) == 0  # loopback has no XDP of its own
    try:
        assert capsys.readouterr().err == f"pyvs: lo: {pyvs_main.GENERIC_XDP_NOTE}\n"
        shown = subprocess.run(["ip", "-d", "link", "show", "lo"], capture_output=True, text=True).stdout
        assert re.search(r"\bxdpgeneric\b", shown), shown
    finally:
        assert pyvs_main.main(["director", "detach", "lo"]) == 0
