"""Which map slots MapDataplane gives services and real servers (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from pyvs.control import config as edits
from pyvs.dataplane.state import MapDataplane
from pyvs.model.enums import Protocol, Scheduler
from pyvs.model.errors import DataplaneError
from pyvs.model.service import RealServer, ServiceKey, VirtualService
from pyvs.packet.fib import StaticFib
from pyvs.packet.tables import DirectorMaps

IP = ipaddress.IPv4Address


NO_ROUTES = StaticFib()  # these tests look at ids only: no real server needs a source address


def key(n: int) -> ServiceKey:
    return ServiceKey(Protocol.TCP, IP("10.2.2.3"), 8000 + n)


def real(n: int) -> RealServer:
    return RealServer(IP("10.3.3.3") + n, 80, 1)


def apply(dp: MapDataplane, change: edits.Config) -> None:
    dp.commit(dp.read(), change)


def ids(dp: MapDataplane) -> dict[int, tuple[int, list[int]]]:
    """port -> (service id, real ids), as the maps hold them."""
    services = {k.to_model().port: v.id for k, v in dp.maps.services.items()}
    reals: dict[int, list[int]] = {}
    for real_id, value in dp.maps.reals.all_items():
        if value.gen and value.svc_id in services.values():
            reals.setdefault(value.svc_id, []).append(real_id.value)
    return {port: (svc_id, sorted(reals.get(svc_id, []))) for port, svc_id in services.items()}


def service(n: int, *reals: RealServer) -> VirtualService:
    return VirtualService(key(n), Scheduler.RR, None, reals)


def test_freed_service_slots_are_reused_lowest_first_real_ids_last_also_after_reading_back() -> None:
    dp = MapDataplane(DirectorMaps.in_memory(max_services=8, max_reals=16), NO_ROUTES)
    apply(dp, {key(n): service(n, real(2 * n), real(2 * n + 1)) for n in range(3)})
    assert ids(dp) == {8000: (0, [0, 1]), 8001: (1, [2, 3]), 8002: (2, [4, 5])}
    config = dp.read()
    apply(dp, {k: v for k, v in config.items() if k != key(1)})
    assert ids(dp) == {8000: (0, [0, 1]), 8002: (2, [4, 5])}
    # A new reader (as the next pyvsadm is) finds the holes: service 1 first; but real ids
    # never given out before come first (a removed real server's connections may drain).
    fresh = MapDataplane(dp.maps, NO_ROUTES)
    apply(fresh, {**fresh.read(), key(3): service(3, real(7), real(8), real(9))})
    assert ids(fresh)[8003] == (1, [6, 7, 8])
    # Once none is left (16 here), the id given out longest ago comes back first.
    apply(fresh, {**fresh.read(), key(4): service(4, *(real(10 + n) for n in range(7)))})
    assert ids(fresh)[8004] == (3, list(range(9, 16)))
    apply(fresh, {**fresh.read(), key(5): service(5, real(20))})
    assert ids(fresh)[8005] == (4, [2])


def test_running_out_of_slots_is_an_error_and_writes_no_service() -> None:
    dp = MapDataplane(DirectorMaps.in_memory(max_services=2, max_reals=16), NO_ROUTES)
    apply(dp, {key(n): service(n) for n in range(2)})
    with pytest.raises(DataplaneError, match="too many virtual services"):
        apply(dp, edits.add_service(dp.read(), service(2)))
    assert sorted(ids(dp)) == [8000, 8001]
