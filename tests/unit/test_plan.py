"""pyvs.control.plan without a kernel: plans applied to the maps' dict-backed twins.

The plan is a pure function (same maps, configuration and addresses: same
writes), it has nothing to write when nothing changed, and it is whole: from
any maps, including those an interrupted apply left behind (a killed
`pyvsadm -R`), it reaches maps that hold exactly the configuration, with no
orphan real server and VIP counts that match.
"""

from __future__ import annotations

import ctypes
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.control import journal
from pyvs.control.config import Config
from pyvs.control.plan import FREE_SVC_ID, Put, config_of, plan
from pyvs.dataplane.state import apply, read_state
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.packet import abi
from pyvs.packet.tables import DirectorMaps
from pyvs.sched import SCHED_SLOTS
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE

IP = ipaddress.IPv4Address
VIPS = [IP("10.2.2.3"), IP("10.2.2.4")]
REALS = [IP(f"10.3.3.{n}") for n in range(3, 9)]
U32 = ctypes.c_uint32


def saddr_of(address: ipaddress.IPv4Address) -> int:
    """Every real server is reached from 10.2.2.2, except 10.3.3.8, which has no route."""
    return 0 if address == IP("10.3.3.8") else abi.be32(IP("10.2.2.2"))


@st.composite
def configs(draw: st.DrawFn) -> Config:
    config: dict[ServiceKey, VirtualService] = {}
    for vip, port in draw(st.lists(st.tuples(st.sampled_from(VIPS), st.sampled_from([80, 443, 53])),
                                   max_size=5, unique=True)):
        key = ServiceKey(Protocol.TCP, vip, port)
        addrs = draw(st.lists(st.sampled_from(REALS), max_size=4, unique=True))
        weights = [draw(st.sampled_from([0, 1, 2, 5])) for _ in addrs]
        reals = tuple(RealServer(a, port, w, FwdMethod.TUNNEL) for a, w in zip(addrs, weights, strict=True))
        config[key] = VirtualService(key, draw(st.sampled_from(list(Scheduler))),
                                     draw(st.sampled_from([None, 300])), reals,
                                     draw(st.sampled_from([0, 0x08, 0x10, 0x28])),
                                     IP(draw(st.sampled_from(["255.255.255.255", "255.255.0.0"]))),
                                     draw(st.booleans()))
    return config


def maps_holding(config: Config) -> DirectorMaps:
    maps = DirectorMaps.in_memory(max_services=8, max_reals=64)
    apply(plan(read_state(maps), config, saddr_of), maps)
    return maps


def unordered(config: Config) -> dict[ServiceKey, object]:
    """A configuration with each service's real servers as a set: the maps keep them in the
    order they were added (IPVS's list order), whatever order a configuration lists them in."""
    return {k: (v.scheduler, v.persistence_timeout, frozenset(v.reals), v.sched_flags)
            for k, v in config.items()}


def live_table(maps: DirectorMaps, value: abi.Svc) -> list[ctypes.c_uint32 | None]:
    """The entries of the service's live schedule or table, as the data path reads them."""
    if value.sched == Scheduler.MH:
        base = (value.table * 2 + value.bank) * MH_TABLE_SIZE
        return [maps.mh.get(U32(base + i)) for i in range(value.sched_len)]
    base = (value.id * 2 + value.bank) * SCHED_SLOTS
    return [maps.sched.get(U32(base + i)) for i in range(value.sched_len)]


def assert_maps_hold(maps: DirectorMaps, config: Config) -> None:
    """The maps forward by `config` and hold nothing else."""
    state = read_state(maps)
    assert unordered(config_of(state)) == unordered(config)
    by_svc = state.service_reals()
    live_ids = {v.id for v in state.services.values()}
    assert set(by_svc) <= live_ids, "real server entries that no service owns"
    wanted: dict[int, int] = {}
    for key in config:
        wanted[abi.be32(key.address)] = wanted.get(abi.be32(key.address), 0) + 1
    assert state.vip_addrs == wanted
    for value in state.services.values():
        picks = live_table(maps, value)
        assert all(p is not None and p.value in by_svc.get(value.id, []) for p in picks)
        for real_id in by_svc.get(value.id, []):
            real = state.reals[real_id]
            assert real.saddr == saddr_of(abi.from_be32(real.addr))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(before=configs(), after=configs())
def test_a_plan_takes_any_maps_to_the_configuration(before: Config, after: Config) -> None:
    maps = maps_holding(before)
    apply(plan(read_state(maps), after, saddr_of), maps)
    assert_maps_hold(maps, after)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(before=configs(), after=configs(), cut=st.floats(0, 1))
def test_planning_again_mends_an_interrupted_apply(before: Config, after: Config, cut: float) -> None:
    maps = maps_holding(before)
    writes = plan(read_state(maps), after, saddr_of)
    apply(writes[:int(len(writes) * cut)], maps)  # the process was killed here
    apply(plan(read_state(maps), after, saddr_of), maps)
    assert_maps_hold(maps, after)
    state = read_state(maps)
    assert plan(state, config_of(state), saddr_of) == []


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(config=configs())
def test_the_same_maps_and_configuration_give_the_same_plan(config: Config) -> None:
    maps = maps_holding({})
    state = read_state(maps)
    reordered = dict(reversed(list(config.items())))
    assert plan(state, config, saddr_of) == plan(state, reordered, saddr_of)
    apply(plan(state, config, saddr_of), maps)
    held = config_of(read_state(maps))
    assert plan(read_state(maps), held, saddr_of) == []  # nothing changed: nothing to write


def assert_forwardable(maps: DirectorMaps) -> None:
    """What the data path sees is whole: every pick of each service's live schedule is a
    current real server of that service, and every service's VIP is counted."""
    state = read_state(maps)
    for key, value in state.services.items():
        for i, pick in enumerate(live_table(maps, value)):
            assert pick is not None, f"{key}: no pick {i}"
            real = state.reals.get(pick.value)
            assert real is not None and real.svc_id == value.id, f"{key}: pick {i} is not its real server"
        assert state.vip_addrs.get(abi.be32(key.address), 0) >= sum(
            1 for other in state.services if other.address == key.address), f"{key}: VIP not counted"


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(before=configs(), after=configs())
def test_every_prefix_of_a_plan_forwards_whole(before: Config, after: Config) -> None:
    maps = maps_holding(before)
    for write in plan(read_state(maps), after, saddr_of):
        apply([write], maps)
        assert_forwardable(maps)
    assert_maps_hold(maps, after)


def test_clearing_leaves_no_orphan() -> None:
    maps = maps_holding({ServiceKey(Protocol.TCP, VIPS[0], 80): VirtualService(
        ServiceKey(Protocol.TCP, VIPS[0], 80), Scheduler.RR, None,
        (RealServer(REALS[0], 80, 1, FwdMethod.TUNNEL), RealServer(REALS[1], 80, 1, FwdMethod.TUNNEL)))})
    # An orphan, as a killed -R could leave: an entry owned by a service id that no service has.
    maps.reals.put(U32(40), abi.Real(addr=abi.be32(REALS[2]), svc_id=5, gen=99))
    maps.vip_addrs.put(abi.addr_key(VIPS[1]), U32(3))  # a leaked count
    apply(plan(read_state(maps), {}, saddr_of), maps)
    state = read_state(maps)
    assert state.services == {} and state.vip_addrs == {}
    assert all(r.svc_id == FREE_SVC_ID for r in state.reals.values())
    assert {r.gen for r in state.reals.values()} >= {99}  # generations are kept: they only grow


def test_a_route_change_is_one_write_per_real_server() -> None:
    key = ServiceKey(Protocol.TCP, VIPS[0], 80)
    config = {key: VirtualService(key, Scheduler.RR, None, (RealServer(REALS[0], 80, 1, FwdMethod.TUNNEL),))}
    maps = maps_holding(config)
    moved = abi.be32(IP("10.2.2.9"))
    writes = plan(read_state(maps), config, lambda address: moved)
    assert [(type(w), w.table) for w in writes] == [(Put, "reals")]
    assert isinstance(writes[0], Put) and writes[0].value.saddr == moved


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(config=configs())
def test_the_journal_keeps_a_configuration_whole(config: Config) -> None:
    assert list(journal.loads(journal.dumps(config)).items()) == list(config.items())
