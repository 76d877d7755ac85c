"""pyvs.realserver's plan, state and up/down/check logic, against a fake system (no root)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyvs.dataplane.features import JMP32, Feature, MissingFeature
from pyvs.realserver import DecapMode, RealServerError, check, down, probe, up
from pyvs.realserver.mss import MssClamp, clamp_for_mtu, mss_problems, parse_clamp, ruleset
from pyvs.realserver.plan import (
    DecapView,
    Observed,
    desired_sysctls,
    missing_pieces,
    rp_filter_fixes,
    rp_filter_problem,
)
from pyvs.realserver.state import RealServerState, load_state, save_state, state_path

VIP = "10.2.2.3"
DEVICES = ("lo", "all", "default", "eth0")


@dataclass
class FakeSystem:
    """A namespace in memory: sysctls, links and addresses, an optional tunl0, XDP decap."""

    ipip: bool = False
    sysctls: dict[str, str] = field(default_factory=dict)
    links: dict[str, bool] = field(default_factory=lambda: {"lo": True, "eth0": True})
    addrs: dict[str, list[str]] = field(default_factory=lambda: {"lo": ["127.0.0.1"], "eth0": ["10.3.3.3"]})
    decap: DecapView | None = None
    fail_on_write: str | None = None
    cookie: int = 42
    lacks: Feature | None = None  # what the kernel lacks, if anything
    attach_mode: str = "native"
    default_route: str | None = "eth0"
    mtu: int = 1500
    nft: bool = True
    clamp: MssClamp | None = None

    def __post_init__(self) -> None:
        for dev in DEVICES + (("tunl0",) if self.ipip else ()):
            for key in ("arp_ignore", "arp_announce"):
                self.sysctls.setdefault(f"net/ipv4/conf/{dev}/{key}", "0")
            self.sysctls.setdefault(f"net/ipv4/conf/{dev}/rp_filter", "2" if dev != "lo" else "0")
        if self.ipip:
            self.links["tunl0"] = False
            self.addrs["tunl0"] = []

    def read_sysctl(self, path: str) -> str | None:
        return self.sysctls.get(path)

    def write_sysctl(self, path: str, value: str) -> None:
        if path == self.fail_on_write:
            raise RealServerError(f"cannot set {path}")
        self.sysctls[path] = value

    def link_exists(self, dev: str) -> bool:
        return dev in self.links

    def link_is_up(self, dev: str) -> bool:
        return self.links[dev]

    def set_link_up(self, dev: str, up: bool) -> None:
        self.links[dev] = up

    def addresses(self, dev: str) -> list[str]:
        return list(self.addrs.get(dev, []))

    def add_address(self, dev: str, cidr: str, broadcast: str | None) -> None:
        self.addrs[dev].append(cidr.split("/")[0])

    def del_address(self, dev: str, cidr: str) -> None:
        self.addrs[dev].remove(cidr.split("/")[0])

    def default_route_iface(self) -> str | None:
        return self.default_route

    def kernel_has_ipip(self) -> bool:
        return self.ipip

    def decap_status(self, iface: str) -> DecapView | None:
        return self.decap

    def require_decap_kernel(self) -> None:
        if self.lacks is not None:
            raise MissingFeature(self.lacks, "4.19.0")

    def attach_decap(self, iface: str, vips: Sequence[str], local_addrs: Sequence[str]) -> str:
        self.decap = DecapView(True, frozenset(vips), frozenset(local_addrs))
        return self.attach_mode

    def detach_decap(self, iface: str) -> None:
        self.decap = None

    def netns_identity(self) -> tuple[int, int | None]:
        return 4026531840, self.cookie

    def link_mtu(self, dev: str) -> int:
        return self.mtu

    def require_nft(self) -> None:
        if not self.nft:
            raise RealServerError("the MSS clamp needs nft (nftables): not found")

    def mss_clamp(self) -> MssClamp | None:
        return self.clamp

    def set_mss_clamp(self, value: int, vips: Sequence[str]) -> None:
        self.clamp = MssClamp(value, frozenset(vips))

    def remove_mss_clamp(self) -> None:
        self.clamp = None


def test_desired_sysctls_follow_the_seed() -> None:
    xdp = {(s.iface, s.key): s.value for s in desired_sysctls(DecapMode.XDP, "eth0")}
    assert xdp == {
        ("lo", "arp_ignore"): 1, ("lo", "arp_announce"): 2,
        ("all", "arp_ignore"): 1, ("all", "arp_announce"): 2,
        ("eth0", "arp_ignore"): 1, ("eth0", "arp_announce"): 2,
        ("default", "rp_filter"): 1,
    }
    kernel = {(s.iface, s.key): s.value for s in desired_sysctls(DecapMode.KERNEL, "eth0")}
    assert kernel == xdp  # rp_filter on the decapsulated packets' path: rp_filter_fixes()


def test_missing_pieces_in_words() -> None:
    observed = Observed(sysctls={"net/ipv4/conf/all/arp_ignore": "0"}, addresses={"lo": frozenset()})
    missing = missing_pieces(DecapMode.XDP, [VIP], "s0", observed)
    assert "no decapsulation: tunl0 absent and no pyvs XDP decap program on s0" in missing
    assert f"VIP {VIP} is not on lo" in missing
    assert "arp_ignore on all is 0, should be 1" in missing
    assert "arp_announce on lo does not exist, should be 2" in missing


def test_decap_that_misses_the_vip_or_the_address_is_reported() -> None:
    observed = Observed(sysctls={}, addresses={}, decap=DecapView(True, frozenset({"10.9.9.9"}), frozenset()),
                        iface_addresses=frozenset({"10.3.3.3"}))
    missing = missing_pieces(DecapMode.XDP, [VIP], "eth0", observed)
    assert f"pyvs XDP decap program on eth0 does not accept VIP {VIP}" in missing
    assert "pyvs XDP decap program on eth0 does not accept outer destination 10.3.3.3" in missing


def test_up_with_xdp_then_check_reports_nothing(tmp_path: Path) -> None:
    system = FakeSystem()
    state = up([VIP], system=system, state_dir=tmp_path)
    assert state.mode == "xdp" and state.iface == "eth0"
    assert VIP in system.addrs["lo"]
    assert system.decap == DecapView(True, frozenset({VIP}), frozenset({"10.3.3.3"}))
    assert system.sysctls["net/ipv4/conf/all/arp_ignore"] == "1"
    assert system.sysctls["net/ipv4/conf/all/rp_filter"] == "2"  # untouched with XDP decap
    assert check([VIP], system=system, state_dir=tmp_path) == []


def test_up_with_kernel_ipip_uses_tunl0(tmp_path: Path) -> None:
    system = FakeSystem(ipip=True)
    up([VIP], "eth0", system=system, state_dir=tmp_path)
    assert system.addrs["tunl0"] == [VIP] and system.links["tunl0"] is True
    assert system.decap is None
    assert system.sysctls["net/ipv4/conf/tunl0/rp_filter"] == "2"  # loose already: left alone
    assert system.sysctls["net/ipv4/conf/all/rp_filter"] == "2"
    assert check([VIP], system=system, state_dir=tmp_path) == []


@pytest.mark.parametrize("ipip", [False, True])
def test_down_restores_everything(tmp_path: Path, ipip: bool) -> None:
    system = FakeSystem(ipip=ipip)
    system.sysctls["net/ipv4/conf/all/arp_announce"] = "1"  # a non-default value to restore
    before = (dict(system.sysctls), {k: list(v) for k, v in system.addrs.items()}, dict(system.links))
    up([VIP], system=system, state_dir=tmp_path)
    assert down(system=system, state_dir=tmp_path) is not None
    assert (system.sysctls, system.addrs, system.links) == before
    assert system.decap is None
    assert not state_path(4026531840, tmp_path).exists()
    missing = check([VIP], system=system, state_dir=tmp_path)
    assert "arp_announce on all is 1, should be 2" in missing
    assert any(m.startswith("no decapsulation") for m in missing) or "tunl0 is down" in missing


def test_down_without_up_returns_none(tmp_path: Path) -> None:
    assert down(system=FakeSystem(), state_dir=tmp_path) is None


def test_up_twice_adds_a_vip_and_keeps_the_first_previous_values(tmp_path: Path) -> None:
    system = FakeSystem()
    up([VIP], system=system, state_dir=tmp_path)
    up(["10.2.2.4"], system=system, state_dir=tmp_path)
    assert system.decap is not None and system.decap.vips == {VIP, "10.2.2.4"}
    down(system=system, state_dir=tmp_path)
    assert system.sysctls["net/ipv4/conf/all/arp_ignore"] == "0"
    assert system.addrs["lo"] == ["127.0.0.1"]


def test_a_vip_already_there_is_not_removed_by_down(tmp_path: Path) -> None:
    system = FakeSystem()
    system.addrs["lo"].append(VIP)
    up([VIP], system=system, state_dir=tmp_path)
    down(system=system, state_dir=tmp_path)
    assert VIP in system.addrs["lo"]


def test_previous_decap_config_is_restored(tmp_path: Path) -> None:
    system = FakeSystem(decap=DecapView(True, frozenset({"10.9.9.9"}), frozenset({"10.3.3.3"})))
    up([VIP], system=system, state_dir=tmp_path)
    assert system.decap is not None and system.decap.vips == {VIP, "10.9.9.9"}
    down(system=system, state_dir=tmp_path)
    assert system.decap == DecapView(True, frozenset({"10.9.9.9"}), frozenset({"10.3.3.3"}))


def test_a_failed_step_is_recorded_so_down_undoes_the_rest(tmp_path: Path) -> None:
    system = FakeSystem(fail_on_write="net/ipv4/conf/eth0/arp_ignore")
    with pytest.raises(RealServerError):
        up([VIP], system=system, state_dir=tmp_path)
    state = load_state(state_path(4026531840, tmp_path), 42)
    assert state is not None and "net/ipv4/conf/all/arp_ignore" in state.sysctls
    system.fail_on_write = None
    down(system=system, state_dir=tmp_path)
    assert system.sysctls["net/ipv4/conf/all/arp_ignore"] == "0"


def test_state_of_a_deleted_namespace_is_ignored(tmp_path: Path) -> None:
    path = state_path(4026531840, tmp_path)
    old = RealServerState(4026531840, 7, "xdp", "eth0", [VIP], {"net/ipv4/conf/all/arp_ignore": "0"})
    save_state(path, old)
    assert load_state(path, 7) is not None
    assert load_state(path, 42) is None  # same inode, another namespace: the old one is gone
    assert down(system=FakeSystem(cookie=42), state_dir=tmp_path) is None


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RealServerError, match="illegal VIP"):
        up(["10.2.2"], system=FakeSystem(), state_dir=tmp_path)
    with pytest.raises(RealServerError, match="interface s9 does not exist"):
        check([VIP], "s9", system=FakeSystem(), state_dir=tmp_path)


def test_a_kernel_without_a_decap_feature_changes_nothing(tmp_path: Path) -> None:
    system = FakeSystem(lacks=JMP32)
    before = (dict(system.sysctls), {dev: list(a) for dev, a in system.addrs.items()})
    with pytest.raises(MissingFeature, match=r"^this kernel \(4.19.0\) lacks 32-bit BPF jumps .* "
                                             r"first in Linux 5.1: nothing was loaded or changed$"):
        up([VIP], "eth0", system=system, state_dir=tmp_path)
    assert (system.sysctls, system.addrs, system.decap) == (*before, None)
    assert list(tmp_path.iterdir()) == []


def test_kernel_ipip_needs_no_bpf_feature(tmp_path: Path) -> None:
    state = up([VIP], "eth0", system=FakeSystem(ipip=True, lacks=JMP32), state_dir=tmp_path)
    assert state.mode == DecapMode.KERNEL.value


def test_the_decap_mode_is_recorded(tmp_path: Path) -> None:
    state = up([VIP], "eth0", system=FakeSystem(attach_mode="generic"), state_dir=tmp_path)
    assert (state.decap_attached, state.decap_mode) == (True, "generic")


def test_xdp_decapsulation_can_be_asked_for_where_the_kernel_has_tunl0(tmp_path: Path) -> None:
    system = FakeSystem(ipip=True)
    state = up([VIP], "eth0", decap=DecapMode.XDP, system=system, state_dir=tmp_path)
    assert (state.mode, state.decap_attached, system.links["tunl0"]) == (DecapMode.XDP.value, True, False)
    with pytest.raises(RealServerError, match="already up with xdp"):
        up([VIP], "eth0", decap=DecapMode.KERNEL, system=system, state_dir=tmp_path)


def test_tunl0_cannot_be_asked_for_without_the_ipip_module(tmp_path: Path) -> None:
    system = FakeSystem(ipip=False)
    before = dict(system.sysctls)
    with pytest.raises(RealServerError, match="no ipip module"):
        up([VIP], "eth0", decap=DecapMode.KERNEL, system=system, state_dir=tmp_path)
    assert system.sysctls == before and list(tmp_path.iterdir()) == []


def rp(all_value: str, dev: str, dev_value: str) -> dict[str, str | None]:
    return {"net/ipv4/conf/all/rp_filter": all_value, f"net/ipv4/conf/{dev}/rp_filter": dev_value}


@pytest.mark.parametrize(("all_value", "dev_value", "fixes"), [
    ("1", "0", {("all", 2)}),  # max(all, tunl0) is what counts
    ("0", "1", {("tunl0", 0)}),
    ("1", "1", {("all", 2), ("tunl0", 0)}),
    ("2", "0", set()),  # loose lets decapsulated packets in
    ("0", "2", set()),
])
def test_strict_rp_filter_on_tunl0_is_named_and_fixed(
    all_value: str, dev_value: str, fixes: set[object],
) -> None:
    sysctls = rp(all_value, "tunl0", dev_value)
    found = {(s.iface, s.value) for s in rp_filter_fixes(DecapMode.KERNEL, "eth0", sysctls, "eth0")}
    assert found == fixes
    problem = rp_filter_problem(DecapMode.KERNEL, "eth0", sysctls, "eth0")
    if fixes:
        assert problem == (
            f"rp_filter on tunl0 is strict (net.ipv4.conf.all.rp_filter={all_value}, "
            f"net.ipv4.conf.tunl0.rp_filter={dev_value}, the kernel applies the larger): "
            "packets decapsulated by tunl0 arrive on tunl0 with the client's source address, "
            "and the route back to the client never leaves by tunl0: they are dropped")
    else:
        assert problem is None


def test_strict_rp_filter_with_xdp_matters_when_the_default_route_leaves_by_another_interface() -> None:
    sysctls = rp("0", "eth0", "1")
    assert rp_filter_problem(DecapMode.XDP, "eth0", sysctls, "eth0") is None
    assert rp_filter_fixes(DecapMode.XDP, "eth0", sysctls, "eth0") == []
    problem = rp_filter_problem(DecapMode.XDP, "eth0", sysctls, "eth1")
    assert problem is not None and problem.startswith(
        "rp_filter on eth0 is strict (net.ipv4.conf.all.rp_filter=0, net.ipv4.conf.eth0.rp_filter=1, ")
    assert "arrive on eth0 with the client's source address, and the default route leaves by eth1" in problem
    # the physical interface carries other traffic: loose, not off
    fixes = rp_filter_fixes(DecapMode.XDP, "eth0", sysctls, "eth1")
    assert [(s.iface, s.value) for s in fixes] == [("eth0", 2)]


@pytest.mark.parametrize("ipip", [False, True])
def test_up_loosens_strict_rp_filter_and_down_restores_it(tmp_path: Path, ipip: bool) -> None:
    system = FakeSystem(ipip=ipip, default_route="eth1")
    system.links["eth1"] = True
    device = "tunl0" if ipip else "eth0"
    system.sysctls |= {"net/ipv4/conf/all/rp_filter": "1", f"net/ipv4/conf/{device}/rp_filter": "1"}
    missing = check([VIP], "eth0", system=system, state_dir=tmp_path)
    assert any(m.startswith(f"rp_filter on {device} is strict") for m in missing)
    before = dict(system.sysctls)
    up([VIP], "eth0", system=system, state_dir=tmp_path)
    assert system.sysctls["net/ipv4/conf/all/rp_filter"] == "2"
    assert system.sysctls[f"net/ipv4/conf/{device}/rp_filter"] == ("0" if ipip else "2")
    assert check([VIP], "eth0", system=system, state_dir=tmp_path) == []
    down(system=system, state_dir=tmp_path)
    assert system.sysctls == before


def test_mss_clamp_rule_and_its_listing() -> None:
    assert clamp_for_mtu(1500) == 1440 and clamp_for_mtu(9000) == 8940
    script = ruleset(1440, ["10.2.2.4", VIP])
    assert "elements = { 10.2.2.3, 10.2.2.4 }" in script
    assert ("ip saddr @vips tcp flags & (syn | rst) == syn tcp option maxseg size > 1440 "
            "tcp option maxseg size set 1440") in script
    listing = {"nftables": [  # `nft -j list table ip pyvs_realserver`, nftables 1.0.6
        {"metainfo": {"version": "1.0.6"}},
        {"set": {"family": "ip", "name": "vips", "table": "pyvs_realserver", "type": "ipv4_addr",
                 "elem": [VIP]}},
        {"rule": {"family": "ip", "table": "pyvs_realserver", "chain": "output", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": "@vips"}},
            {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}, "value": 1440}}]}}]}
    assert parse_clamp(listing) == MssClamp(1440, frozenset({VIP}))
    assert parse_clamp({"nftables": []}) is None


def test_missing_or_loose_mss_clamp_is_named() -> None:
    assert mss_problems([VIP], 1440, MssClamp(1440, frozenset({VIP}))) == []
    assert mss_problems([VIP], 1440, None) == [
        f"no MSS clamp on SYN-ACKs from VIP {VIP}: clients' segments arrive inside IPIP, 20 bytes larger: "
        "advertise at most 1440 (`pyvs realserver up` adds the clamp, table ip pyvs_realserver)"]
    assert mss_problems([VIP], 1440, MssClamp(1460, frozenset({VIP})))[0].startswith(
        "MSS clamp 1460 on SYN-ACKs from the VIPs is more than 1440")


def test_up_clamps_the_mss_by_default_and_down_removes_it(tmp_path: Path) -> None:
    system = FakeSystem(mtu=1480)
    assert f"no MSS clamp on SYN-ACKs from VIP {VIP}" in check([VIP], system=system, state_dir=tmp_path)[-1]
    state = up([VIP], system=system, state_dir=tmp_path)
    assert state.mss == 1420 and system.clamp == MssClamp(1420, frozenset({VIP}))
    up(["10.2.2.4"], system=system, state_dir=tmp_path)
    assert system.clamp == MssClamp(1420, frozenset({VIP, "10.2.2.4"}))
    down(system=system, state_dir=tmp_path)
    assert system.clamp is None


def test_mss_off_or_a_number(tmp_path: Path) -> None:
    system = FakeSystem(nft=False)
    with pytest.raises(RealServerError, match="needs nft"):
        up([VIP], system=system, state_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing changed
    assert up([VIP], mss="off", system=system, state_dir=tmp_path).mss is None
    assert check([VIP], system=system, state_dir=tmp_path) == []  # off by choice: not reported
    system.nft = True
    up([VIP], mss=1300, system=system, state_dir=tmp_path)
    assert system.clamp == MssClamp(1300, frozenset({VIP}))
    up([VIP], mss="off", system=system, state_dir=tmp_path)  # an earlier clamp goes
    assert system.clamp is None
    with pytest.raises(RealServerError, match="illegal MSS 100"):
        up([VIP], mss=100, system=system, state_dir=tmp_path)


def test_probe_packets_and_their_answers() -> None:
    syn = probe.build_syn("10.2.2.2", VIP, 40000, 80, 7)
    assert (syn[9], syn[12:16], syn[16:20]) == (6, bytes([10, 2, 2, 2]), bytes([10, 2, 2, 3]))
    assert probe.internet_checksum(syn[:20]) == 0  # header checksum right
    pseudo = syn[12:20] + bytes([0, 6]) + (len(syn) - 20).to_bytes(2, "big")
    assert probe.internet_checksum(pseudo + syn[20:]) == 0  # TCP checksum right
    assert probe.tcp_mss(syn[40:]) == probe.PROBE_MSS
    # the SYN-ACK from the VIP, as the real server sends it (ports swapped, MSS 1440)
    synack_tcp = probe.tcp_segment(VIP, "10.2.2.2", 80, 40000, 99, 8, probe.TCP_SYN | probe.TCP_ACK,
                                   bytes([2, 4, 0x05, 0xA0, 1, 1, 4, 2]))
    synack = probe.ipv4_header(VIP, "10.2.2.2", 6, len(synack_tcp), 1) + synack_tcp
    match = {"vip": VIP, "dst": "10.2.2.2", "port": 80}
    assert probe.match_answer(synack, **match, ident=40000) == probe.Answer("SYN-ACK", 1440, 8)
    assert probe.match_answer(synack, **match, ident=40001) is None  # another connection
    assert probe.match_answer(syn, **match, ident=40000) is None  # our own packet
    echo = probe.build_echo("10.2.2.2", VIP, 1234, 1)
    reply = probe.ipv4_header(VIP, "10.2.2.2", 1, len(echo) - 20, 1) + bytes([0]) + echo[21:]
    answer = probe.match_answer(reply, vip=VIP, dst="10.2.2.2", port=None, ident=1234)
    assert answer == probe.Answer("echo reply")
