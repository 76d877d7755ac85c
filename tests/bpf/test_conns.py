"""Connection states, counts, timeouts, the sweeper and thresholds, under BPF_PROG_TEST_RUN.

Each test drives the director with exact frames and reads back what IPVS would
show: the flow's state, ActiveConn/InActConn (lb_conns), and after a sweep
(lb_sweep, the body of the sweeper's timer) which flows are gone. Ages are set
by moving a flow's last-seen time back, the clock being the kernel's own.
"""

from __future__ import annotations

import ctypes
import ipaddress
import time

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from pyvs.control import config as cfg
from pyvs.dataplane import xdp
from pyvs.model import FwdMethod, RealServer, Scheduler
from pyvs.model.enums import FLOW_TIMEOUT_S, NSEC_PER_SEC, Action, DropReason, FlowState
from pyvs.packet import abi
from tests.bpf.conftest import Director
from tests.bpf.test_director import SYN
from tests.vectors.frames import CLIENT, REAL1, REAL2, VIP, client_frame

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]
U32 = ctypes.c_uint32


def flow_key(sport: int, *, proto: int = 6, dport: int = 80) -> abi.FlowKey:
    return abi.FlowKey(saddr=abi.be32(ipaddress.IPv4Address(CLIENT)),
                       daddr=abi.be32(ipaddress.IPv4Address(VIP)), sport=abi.be16(sport),
                       dport=abi.be16(dport), proto=proto)


def counts(director: Director) -> dict[str, tuple[int, int]]:
    """real server -> (ActiveConn, InActConn), as -L shows them."""
    return {str(r.real.address): (r.active_conns, r.inactive_conns)
            for status in director.dataplane.status() for r in status.reals}


def state(director: Director, sport: int) -> FlowState | None:
    flow = director.dataplane.maps.flows.get(flow_key(sport))
    return None if flow is None else FlowState(flow.state)


def age(director: Director, sport: int, seconds: float, *, proto: int = 6, dport: int = 80) -> None:
    flows = director.dataplane.maps.flows
    key = flow_key(sport, proto=proto, dport=dport)
    flow = flows.get(key)
    assert flow is not None
    flow.last_seen_ns -= int(seconds * NSEC_PER_SEC)
    flows.put(key, flow)


def sweep(director: Director) -> abi.Sweeper:
    xdp.run_once(director.obj, xdp.SWEEP_PROGRAM, "sweep")
    value = director.dataplane.maps.sweeper.get(U32(0))
    assert value is not None
    return value


def dst(out: bytes) -> str:
    return str(Ether(out)[IP].dst)


def test_a_connection_counts_inactive_until_established_and_after_its_fin(director: Director) -> None:
    director.add_service()
    steps = [("S", FlowState.SYN_RECV, (0, 1)), ("A", FlowState.ESTABLISHED, (1, 0)),
             ("PA", FlowState.ESTABLISHED, (1, 0)), ("FA", FlowState.FIN_WAIT, (0, 1)),
             ("A", FlowState.FIN_WAIT, (0, 1)), ("R", FlowState.CLOSE, (0, 1))]
    for flags, want_state, want_counts in steps:
        action, _ = director.run(client_frame(sport=2000, flags=flags))
        assert action == Action.TX
        assert (state(director, 2000), counts(director)[REAL1]) == (want_state, want_counts), flags


def test_udp_flows_count_as_inactive(director: Director) -> None:
    director.add_service(port=53, udp=True)
    director.run(client_frame(udp=True, sport=3000, dport=53))
    director.run(client_frame(udp=True, sport=3001, dport=53))
    assert counts(director)[REAL1] == (0, 2)


def test_the_sweep_takes_expired_flows_out_of_the_table_and_the_counts(director: Director) -> None:
    director.add_service()
    for sport in (4000, 4001, 4002):
        director.run(client_frame(sport=sport, flags="S"))
        director.run(client_frame(sport=sport, flags="A"))
    assert counts(director)[REAL1] == (3, 0)
    age(director, 4000, 901)  # past ESTABLISHED's 900 s
    age(director, 4001, 899)
    swept = sweep(director)
    assert (swept.sweeps, swept.expired) == (1, 1)
    assert (state(director, 4000), state(director, 4001), state(director, 4002)) == (
        None, FlowState.ESTABLISHED, FlowState.ESTABLISHED)
    assert counts(director)[REAL1] == (2, 0)


def test_set_timeouts_change_when_flows_expire(director: Director) -> None:
    director.add_service()
    director.run(client_frame(sport=4100, flags="S"))
    director.run(client_frame(sport=4100, flags="A"))
    director.run(client_frame(sport=4101, flags="S"))
    director.run(client_frame(sport=4101, flags="A"))
    director.run(client_frame(sport=4101, flags="FA"))
    director.dataplane.set_timeouts(30, 5, 0)
    assert director.dataplane.timeouts() == (30, 5, 300)
    age(director, 4100, 31)
    age(director, 4101, 6)
    assert sweep(director).expired == 2
    assert counts(director)[REAL1] == (0, 0)


def test_a_flow_whose_real_server_went_stays_until_it_times_out_as_in_ipvs(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    director.run(client_frame(sport=4200, flags="S"))  # to REAL2, the newest
    director.delete_real(key, REAL2)
    assert sweep(director).expired == 0
    before = director.dataplane.maps.flows.get(flow_key(4200))
    assert director.run(client_frame(sport=4200, flags="A"))[0] == Action.DROP
    after = director.dataplane.maps.flows.get(flow_key(4200))
    assert before is not None and after is not None
    assert after.last_seen_ns == before.last_seen_ns  # a dropped packet does not make it younger
    age(director, 4200, FLOW_TIMEOUT_S[FlowState.SYN_RECV] + 1)
    assert sweep(director).expired == 1
    assert state(director, 4200) is None


def test_a_new_syn_on_a_closed_flow_takes_its_entry_over_and_moves_the_count(director: Director) -> None:
    director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    assert dst(director.run(client_frame(sport=4300, flags="S"))[1]) == REAL2
    director.run(client_frame(sport=4300, flags="A"))
    director.run(client_frame(sport=4300, flags="R"))  # CLOSE (a RST in SYN_RECV would leave it there)
    assert counts(director) == {REAL1: (0, 0), REAL2: (0, 1)}
    assert dst(director.run(client_frame(sport=4300, flags="S"))[1]) == REAL1  # scheduled afresh (rr)
    assert counts(director) == {REAL1: (0, 1), REAL2: (0, 0)}
    assert state(director, 4300) == FlowState.SYN_RECV


def test_wlc_divides_connections_by_weight_newest_first_on_ties(director: Director) -> None:
    director.add_service(scheduler=Scheduler.WLC, reals=((REAL1, 3), (REAL2, 1)))
    picks = [dst(director.run(client_frame(sport=5000 + i, flags="S"))[1]) for i in range(8)]
    # inactive / weight, list [REAL2 (1), REAL1 (3)]: 0/1 first; then REAL1 until 3/3 ties 1/1 ...
    assert picks == [REAL2, REAL1, REAL1, REAL1, REAL2, REAL1, REAL1, REAL1]


def test_lc_ignores_weights(director: Director) -> None:
    director.add_service(scheduler=Scheduler.LC, reals=((REAL1, 3), (REAL2, 1)))
    picks = [dst(director.run(client_frame(sport=5100 + i, flags="S"))[1]) for i in range(4)]
    assert picks == [REAL2, REAL1, REAL2, REAL1]


def test_an_upper_threshold_overloads_a_real_server_until_the_lower_one(director: Director) -> None:
    key = director.add_service(scheduler=Scheduler.WLC, reals=((REAL1, 1),))
    real2 = RealServer(ipaddress.IPv4Address(REAL2), 80, 1, FwdMethod.TUNNEL, u_threshold=2, l_threshold=1)
    director.apply(cfg.add_real(director.dataplane.read(), key, real2))
    picks = [dst(director.run(client_frame(sport=5200 + i, flags="S"))[1]) for i in range(5)]
    # REAL2 takes 2 (the 1st and 3rd) and is overloaded from its 2nd: the rest go to REAL1.
    assert picks == [REAL2, REAL1, REAL2, REAL1, REAL1]
    age(director, 5200, 61)  # SYN_RECV's timeout: REAL2 down to 1 connection, not below -y 1
    sweep(director)
    assert dst(director.run(client_frame(sport=5300, flags="S"))[1]) == REAL1
    age(director, 5202, 61)  # down to 0: below -y, no longer overloaded
    sweep(director)
    assert dst(director.run(client_frame(sport=5301, flags="S"))[1]) == REAL2


def test_raising_the_upper_threshold_clears_the_overload_as_ipvs_does(director: Director) -> None:
    key = director.add_service(scheduler=Scheduler.RR, reals=())
    director.apply(cfg.add_real(director.dataplane.read(), key, RealServer(
        ipaddress.IPv4Address(REAL1), 80, 1, FwdMethod.TUNNEL, u_threshold=1)))
    assert director.run(client_frame(sport=5400, flags="S"))[0] == Action.TX
    assert director.run(client_frame(sport=5401, flags="S"))[0] == Action.DROP  # overloaded, none left
    assert director.drops()[DropReason.NO_REAL_SERVER] == 1
    director.apply(cfg.edit_real(director.dataplane.read(), key, RealServer(
        ipaddress.IPv4Address(REAL1), 80, 1, FwdMethod.TUNNEL, u_threshold=5)))
    assert director.run(client_frame(sport=5402, flags="S"))[0] == Action.TX


def test_a_full_flow_table_sends_udp_on_untracked(director: Director) -> None:
    director.add_service(port=53, udp=True)
    flows = director.dataplane.maps.flows
    template = abi.Flow(last_seen_ns=time.monotonic_ns(), state=int(FlowState.UDP), counted=1)
    keys = [abi.FlowKey(saddr=abi.be32(ipaddress.IPv4Address(f"10.8.{n >> 8}.{n & 255}")),
                        daddr=abi.be32(ipaddress.IPv4Address(VIP)), sport=abi.be16(1), dport=abi.be16(53),
                        proto=17) for n in range(flows.max_entries)]
    flows.put_many(keys, [template] * len(keys))
    action, out = director.run(client_frame(udp=True, sport=6200, dport=53))
    assert action == Action.TX and dst(out) == REAL1  # scheduled, as one-packet scheduling would
    assert flows.get(flow_key(6200, proto=17, dport=53)) is None
    assert counts(director)[REAL1] == (0, 0) and director.drops()[DropReason.FLOW_TABLE_FULL] == 0


def test_a_full_flow_table_drops_new_connections_and_keeps_the_old(director: Director) -> None:
    director.add_service()
    director.run(client_frame(sport=6000, flags="S"))
    flows = director.dataplane.maps.flows
    free = flows.max_entries - len(flows.all_items())
    template = flows.get(flow_key(6000))
    assert template is not None
    keys = [abi.FlowKey(saddr=abi.be32(ipaddress.IPv4Address(f"10.8.{n >> 8}.{n & 255}")),
                        daddr=abi.be32(ipaddress.IPv4Address(VIP)), sport=abi.be16(1), dport=abi.be16(80),
                        proto=6) for n in range(free)]
    flows.put_many(keys, [template] * free)
    assert director.run(client_frame(sport=6001, flags="S"))[0] == Action.DROP
    assert director.drops()[DropReason.FLOW_TABLE_FULL] == 1
    assert director.run(client_frame(sport=6000, flags="A"))[0] == Action.TX


def test_a_flow_another_cpu_is_taking_over_is_dropped_not_doubled(director: Director) -> None:
    director.add_service()
    director.run(client_frame(sport=6100, flags="S"))
    flows = director.dataplane.maps.flows
    flow = flows.get(flow_key(6100))
    assert flow is not None
    flow.counted = 0  # as while another CPU holds it
    flows.put(flow_key(6100), flow)
    assert director.run(client_frame(sport=6100, flags="A"))[0] == Action.DROP
    assert director.drops()[DropReason.FLOW_BUSY] == 1
    assert counts(director)[REAL1] == (0, 1)


def test_the_sweeper_timer_runs_on_its_own_once_started(director: Director) -> None:
    director.add_service()
    director.run(SYN)
    age(director, 40000, 61)  # client_frame's default port, past SYN_RECV's timeout
    xdp.start_sweeper(director.obj)
    deadline = time.monotonic() + 5
    while director.dataplane.maps.flows.get(flow_key(40000)) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    value = director.dataplane.maps.sweeper.get(U32(0))
    assert value is not None and value.sweeps >= 1 and value.expired == 1
    assert counts(director)[REAL1] == (0, 0)


def test_twos_draws_available_real_servers_by_weight(director: Director) -> None:
    director.add_service(scheduler=Scheduler.TWOS, reals=((REAL1, 3), (REAL2, 1), ("10.3.3.5", 0)))
    picks = [dst(director.run(client_frame(sport=7000 + i, flags="S"))[1]) for i in range(200)]
    # Random in the kernel (tests/unit/test_sched_conns.py checks the arithmetic with given
    # numbers): never the quiescent one, both others, three to one about (the draws follow the
    # weights, the less loaded of two per weight is kept).
    assert set(picks) == {REAL1, REAL2}
    assert 100 < picks.count(REAL1) < 190


def set_conns(director: Director, address: str, active: int, inactive: int = 0) -> None:
    for real_id, real in director.dataplane.real_values.items():
        if str(abi.from_be32(real.addr)) == address:
            director.dataplane.maps.conns.put(U32(real_id), abi.Conns(active=active, inactive=inactive))


def test_lblc_keeps_a_destination_on_one_real_server_until_it_is_overloaded(director: Director) -> None:
    director.add_service(scheduler=Scheduler.LBLC, reals=((REAL1, 2), (REAL2, 2)))
    first = dst(director.run(client_frame(sport=8000, flags="S"))[1])  # wlc: REAL2, the newest
    assert first == REAL2
    picks = {dst(director.run(client_frame(sport=8001 + i, flags="S"))[1]) for i in range(5)}
    assert picks == {REAL2}  # the cache, however many connections it has
    set_conns(director, REAL2, active=3)  # more active than its weight, and REAL1 below half its own
    set_conns(director, REAL1, active=0, inactive=9)
    assert dst(director.run(client_frame(sport=8100, flags="S"))[1]) == REAL1
    assert dst(director.run(client_frame(sport=8101, flags="S"))[1]) == REAL1  # the cache followed


def test_lblcr_adds_a_real_server_to_the_set_when_its_least_loaded_is_overloaded(director: Director) -> None:
    director.add_service(scheduler=Scheduler.LBLCR, reals=((REAL1, 2), (REAL2, 2)))
    assert dst(director.run(client_frame(sport=8200, flags="S"))[1]) == REAL2
    set_conns(director, REAL2, active=3)
    assert dst(director.run(client_frame(sport=8201, flags="S"))[1]) == REAL1
    [entry] = [v for _k, v in director.dataplane.maps.lblc.items()]
    assert entry.size == 2  # REAL1 joined REAL2 in the set: both now get connections, least loaded first
    set_conns(director, REAL2, active=0)
    set_conns(director, REAL1, active=1)
    assert dst(director.run(client_frame(sport=8202, flags="S"))[1]) == REAL2


S, E, SR, FW, TW, CL = (FlowState.NONE, FlowState.ESTABLISHED, FlowState.SYN_RECV, FlowState.FIN_WAIT,
                        FlowState.TIME_WAIT, FlowState.CLOSE)
# IPVS's state table for connections it sees one way (tcp_states[], INPUT-ONLY rows): state after a
# packet with these flags, by state before. A SYN on TIME_WAIT or CLOSE is a new connection instead
# (conn_reuse_mode): SYN_RECV again, scheduled afresh.
INPUT_ONLY = {
    "S": {S: SR, E: E, SR: SR, FW: SR, TW: SR, CL: SR},
    "F": {S: CL, E: FW, SR: TW, FW: FW, TW: TW, CL: CL},
    "A": {S: E, E: E, SR: E, FW: FW, TW: TW, CL: CL},
    "R": {S: CL, E: CL, SR: SR, FW: CL, TW: CL, CL: CL},
}


def seed_flow(director: Director, sport: int, state: FlowState) -> None:
    """A counted flow in `state` to the only real server, as if it had got there itself."""
    [(real_id, real)] = director.dataplane.real_values.items()
    director.dataplane.maps.flows.put(flow_key(sport), abi.Flow(
        last_seen_ns=time.monotonic_ns(), real_id=real_id, real_gen=real.gen, svc_id=real.svc_id,
        state=int(state), counted=1))
    active = int(state == FlowState.ESTABLISHED)
    director.dataplane.maps.conns.put(U32(real_id), abi.Conns(active=active, inactive=1 - active))


@pytest.mark.parametrize(("flags", "before"), [(f, s) for f in INPUT_ONLY for s in INPUT_ONLY[f]],
                         ids=lambda v: str(getattr(v, "name", v)))
def test_each_tcp_transition_is_ipvs_input_only_one(director: Director, flags: str,
                                                    before: FlowState) -> None:
    director.add_service()
    seed_flow(director, 9000, before)
    assert director.run(client_frame(sport=9000, flags=flags))[0] == Action.TX
    after = INPUT_ONLY[flags][before]
    assert state(director, 9000) == after
    assert counts(director)[REAL1] == ((1, 0) if after == FlowState.ESTABLISHED else (0, 1))
    conns = sum(r.stats.conns for s in director.dataplane.status() for r in s.reals)
    assert conns == int(flags == "S" and before in (FlowState.TIME_WAIT, FlowState.CLOSE))  # a new one


@pytest.mark.parametrize("flow_state", list(FlowState), ids=lambda s: s.name)
def test_each_state_times_out_after_its_timeout(director: Director, flow_state: FlowState) -> None:
    director.add_service()
    timeout_s = FLOW_TIMEOUT_S[flow_state]
    seed_flow(director, 9100, flow_state)
    age(director, 9100, timeout_s - 1)
    assert sweep(director).expired == 0
    age(director, 9100, 2)
    assert sweep(director).expired == 1
    assert counts(director)[REAL1] == (0, 0)


def test_a_real_server_id_given_out_again_starts_with_no_connections(director: Director) -> None:
    key = director.add_service(reals=((REAL1, 1), (REAL2, 1)))
    for sport in (9500, 9501):
        director.run(client_frame(sport=sport, flags="S"))
    assert counts(director) == {REAL1: (0, 1), REAL2: (0, 1)}
    director.delete_real(key, REAL2)
    director.add_real(key, "10.3.3.5")  # in the next plan: it may take REAL2's id again
    director.add_real(key, "10.3.3.6")
    assert counts(director)["10.3.3.5"] == counts(director)["10.3.3.6"] == (0, 0)


def test_an_lblc_services_cache_goes_with_it(director: Director) -> None:
    key = director.add_service(scheduler=Scheduler.LBLC, reals=((REAL1, 1),))
    director.run(client_frame(sport=9600, flags="S"))
    assert len(list(director.dataplane.maps.lblc.items())) == 1
    director.apply(cfg.delete_service(director.dataplane.read(), key))
    assert list(director.dataplane.maps.lblc.items()) == []
