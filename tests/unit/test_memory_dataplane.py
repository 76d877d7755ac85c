"""MemoryDataplane keeps to the Dataplane protocol of pyvs.dataplane.base (pure)."""

from __future__ import annotations

import errno
import ipaddress

import pytest

from pyvs.control import config as edits
from pyvs.dataplane.base import Dataplane
from pyvs.dataplane.memory import MemoryDataplane
from pyvs.model.enums import FlowState, Protocol, Scheduler
from pyvs.model.errors import DataplaneError, NoSuchService
from pyvs.model.service import RealServer, ServiceKey, VirtualService
from pyvs.model.status import Connection, Counters, RealStatus, ServiceStatus

IP = ipaddress.IPv4Address
WEB = ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)
DNS = ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)
R1 = RealServer(IP("10.3.3.3"), 80, 1)


def seeded() -> MemoryDataplane:
    dp = MemoryDataplane()
    old = dp.read()
    new = edits.add_real(edits.add_service(old, VirtualService(WEB, Scheduler.RR)), WEB, R1)
    dp.commit(old, new)
    return dp


def test_is_a_dataplane() -> None:
    dataplane: Dataplane = MemoryDataplane()
    assert dataplane.read() == {}
    assert dataplane.status() == []
    assert dataplane.connections() == []
    assert dataplane.connection_table_size() == 4096
    assert MemoryDataplane(table_size=1 << 20).connection_table_size() == 1 << 20


def test_commit_then_read_and_status() -> None:
    dp = seeded()
    assert dp.read() == {WEB: VirtualService(WEB, Scheduler.RR, None, (R1,))}
    assert dp.commits == 1
    assert dp.status() == [
        ServiceStatus(VirtualService(WEB, Scheduler.RR, None, (R1,)), (RealStatus(R1),), Counters())
    ]


def test_status_is_in_table_order() -> None:
    dp = MemoryDataplane({DNS: VirtualService(DNS), WEB: VirtualService(WEB)})
    assert [status.service.key for status in dp.status()] == [WEB, DNS]


def test_read_returns_a_copy() -> None:
    dp = seeded()
    config = dp.read()
    assert isinstance(config, dict)
    config.clear()
    assert WEB in dp.read()


def test_commit_from_a_stale_config_is_refused() -> None:
    dp = seeded()
    with pytest.raises(DataplaneError) as info:
        dp.commit({}, {})
    assert info.value.errno == errno.ESTALE
    assert WEB in dp.read()


def test_counters_and_zero() -> None:
    dp = seeded()
    dp.set_counters(WEB, Counters(1, 2, 3, 4, 5))
    dp.set_real_status(WEB, IP("10.3.3.3"), 80, active=4, inactive=2, stats=Counters(1, 1, 1, 1, 1))
    assert dp.status()[0].stats == Counters(1, 2, 3, 4, 5)
    assert dp.status()[0].reals == (RealStatus(R1, 4, 2, Counters(1, 1, 1, 1, 1)),)
    dp.zero(WEB)
    assert dp.status()[0].stats == Counters()
    assert dp.status()[0].reals == (RealStatus(R1, 4, 2, Counters()),)


def test_zero_all_and_zero_missing() -> None:
    dp = seeded()
    dp.set_counters(WEB, Counters(1, 2, 3, 4, 5))
    dp.zero(None)
    assert dp.status()[0].stats == Counters()
    with pytest.raises(NoSuchService):
        dp.zero(DNS)


def test_removed_services_forget_their_counters() -> None:
    dp = seeded()
    dp.set_counters(WEB, Counters(9, 9, 9, 9, 9))
    dp.set_real_status(WEB, IP("10.3.3.3"), 80, active=1)
    old = dp.read()
    dp.commit(old, {})
    dp.commit({}, old)
    assert dp.status()[0].stats == Counters()
    assert dp.status()[0].reals == (RealStatus(R1),)


def test_set_real_status_needs_a_real() -> None:
    with pytest.raises(KeyError):
        seeded().set_real_status(WEB, IP("10.3.3.9"), 80, active=1)


def _conn(client_port: int, real: tuple[ipaddress.IPv4Address, int] = (IP("10.3.3.3"), 80)) -> Connection:
    return Connection(
        Protocol.TCP, (IP("10.1.1.1"), client_port), (IP("10.2.2.3"), 80), real, FlowState.ESTABLISHED, 900
    )


def test_connections_are_listed_as_set() -> None:
    dp = seeded()
    conns = [_conn(2), _conn(1)]
    dp.set_connections(conns)
    listed = dp.connections()
    assert listed == conns
    listed.clear()
    assert dp.connections() == conns


def test_set_connections_needs_a_real_server_of_the_table() -> None:
    dp = seeded()
    with pytest.raises(KeyError):
        dp.set_connections([_conn(1, real=(IP("10.3.3.9"), 80))])
    udp = Connection(
        Protocol.UDP, (IP("10.1.1.1"), 1), (IP("10.2.2.3"), 80), (IP("10.3.3.3"), 80), FlowState.UDP, 1
    )
    with pytest.raises(KeyError):
        dp.set_connections([udp])
    assert dp.connections() == []


def test_removed_real_servers_forget_their_connections() -> None:
    dp = seeded()
    old = dp.read()
    r2 = RealServer(IP("10.3.3.4"), 80, 1)
    with_r2 = edits.add_real(old, WEB, r2)
    dp.commit(old, with_r2)
    dp.set_connections([_conn(1), _conn(2, real=(r2.address, r2.port))])
    dp.commit(with_r2, old)
    assert dp.connections() == [_conn(1)]
    dp.commit(old, {})
    assert dp.connections() == []
