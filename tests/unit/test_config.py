"""The ipvsadm edits of pyvs.control.config and the model's validation (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from pyvs.control import config as edits
from pyvs.control.config import Config
from pyvs.model.enums import FwdMethod, Protocol, Scheduler
from pyvs.model.errors import (
    ConfigError,
    NoSuchReal,
    NoSuchService,
    RealExists,
    ServiceExists,
)
from pyvs.model.service import RealServer, ServiceKey, VirtualService

IP = ipaddress.IPv4Address
WEB = ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)
DNS = ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)
R1 = RealServer(IP("10.3.3.3"), 80, 1)
R2 = RealServer(IP("10.3.3.4"), 80, 2)


def web(*reals: RealServer, scheduler: Scheduler = Scheduler.RR) -> VirtualService:
    return VirtualService(WEB, scheduler, None, reals)


@pytest.fixture
def config() -> Config:
    return {WEB: web(R1, R2)}


def test_add_service_to_empty() -> None:
    assert edits.add_service({}, web()) == {WEB: web()}


def test_add_service_drops_reals_given_with_it() -> None:
    assert edits.add_service({}, web(R1)) == {WEB: web()}


def test_add_service_keeps_the_others(config: Config) -> None:
    dns = VirtualService(DNS, Scheduler.WRR, 300)
    assert edits.add_service(config, dns) == {WEB: web(R1, R2), DNS: dns}


def test_add_existing_service(config: Config) -> None:
    with pytest.raises(ServiceExists) as info:
        edits.add_service(config, web())
    assert str(info.value) == "Service already exists"


def test_edit_service_keeps_reals(config: Config) -> None:
    edited = VirtualService(WEB, Scheduler.WRR, 600)
    assert edits.edit_service(config, edited) == {WEB: VirtualService(WEB, Scheduler.WRR, 600, (R1, R2))}


def test_edit_missing_service() -> None:
    with pytest.raises(NoSuchService) as info:
        edits.edit_service({}, web())
    assert str(info.value) == "No such service"


def test_delete_service(config: Config) -> None:
    assert edits.delete_service(config, WEB) == {}


def test_delete_missing_service(config: Config) -> None:
    with pytest.raises(NoSuchService):
        edits.delete_service(config, DNS)


def test_add_real_appends() -> None:
    assert edits.add_real({WEB: web(R1)}, WEB, R2) == {WEB: web(R1, R2)}


def test_add_real_same_address_other_port_is_another_real() -> None:
    other = RealServer(IP("10.3.3.3"), 8080, 1)
    assert edits.add_real({WEB: web(R1)}, WEB, other) == {WEB: web(R1, other)}


def test_add_existing_real(config: Config) -> None:
    with pytest.raises(RealExists) as info:
        edits.add_real(config, WEB, RealServer(IP("10.3.3.3"), 80, 9))
    assert str(info.value) == "Destination already exists"


def test_add_real_to_missing_service() -> None:
    with pytest.raises(NoSuchService):
        edits.add_real({}, WEB, R1)


def test_edit_real_replaces_it_in_place(config: Config) -> None:
    heavier = RealServer(IP("10.3.3.3"), 80, 50)
    assert edits.edit_real(config, WEB, heavier) == {WEB: web(heavier, R2)}


def test_edit_missing_real(config: Config) -> None:
    with pytest.raises(NoSuchReal) as info:
        edits.edit_real(config, WEB, RealServer(IP("10.3.3.9"), 80, 1))
    assert str(info.value) == "No such destination"


def test_edit_real_of_missing_service() -> None:
    with pytest.raises(NoSuchService):
        edits.edit_real({}, WEB, R1)


def test_delete_real(config: Config) -> None:
    assert edits.delete_real(config, WEB, IP("10.3.3.3"), 80) == {WEB: web(R2)}


def test_delete_real_needs_the_port(config: Config) -> None:
    with pytest.raises(NoSuchReal):
        edits.delete_real(config, WEB, IP("10.3.3.3"), 8080)


def test_delete_real_of_missing_service() -> None:
    with pytest.raises(NoSuchService):
        edits.delete_real({}, WEB, IP("10.3.3.3"), 80)


def test_edits_leave_the_old_config_alone(config: Config) -> None:
    before = dict(config)
    edits.add_real(config, WEB, RealServer(IP("10.3.3.5"), 80, 1))
    edits.delete_real(config, WEB, IP("10.3.3.3"), 80)
    edits.edit_service(config, VirtualService(WEB, Scheduler.WRR))
    edits.delete_service(config, WEB)
    edits.add_service(config, VirtualService(DNS))
    assert config == before


def test_model_defaults() -> None:
    assert RealServer(IP("10.3.3.3"), 80) == RealServer(IP("10.3.3.3"), 80, 1, FwdMethod.TUNNEL)
    assert VirtualService(WEB).persistence_timeout is None


@pytest.mark.parametrize("weight", [-1, 65536])
def test_real_weight_range(weight: int) -> None:
    with pytest.raises(ConfigError) as info:
        RealServer(IP("10.3.3.3"), 80, weight)
    assert str(info.value) == "illegal weight specified"


def test_real_weight_zero_is_quiescent() -> None:
    assert RealServer(IP("10.3.3.3"), 80, 0).quiescent
    assert not R1.quiescent


@pytest.mark.parametrize("port", [-1, 65536])
def test_service_port_range(port: int) -> None:
    with pytest.raises(ConfigError) as info:
        ServiceKey(Protocol.TCP, IP("10.2.2.3"), port)
    assert str(info.value) == "illegal virtual server address[:port] specified"


@pytest.mark.parametrize("port", [-1, 65536])
def test_real_port_range(port: int) -> None:
    with pytest.raises(ConfigError) as info:
        RealServer(IP("10.3.3.3"), port)
    assert str(info.value) == "illegal real server address[:port] specified"


def test_service_keys_sort_like_ipvsadm() -> None:
    keys = [
        ServiceKey(Protocol.UDP, IP("10.0.0.1"), 53),
        ServiceKey(Protocol.TCP, IP("10.2.2.10"), 80),
        ServiceKey(Protocol.TCP, IP("10.2.2.3"), 443),
        ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80),
    ]
    assert sorted(keys) == [keys[3], keys[2], keys[1], keys[0]]


def test_a_plain_config_is_never_changed_by_an_edit(config: Config) -> None:
    before = dict(config)
    after = edits.add_real(config, WEB, RealServer(IP("10.3.3.5"), 80, 1))
    assert after is not config and dict(config) == before
    assert edits.delete_service(config, WEB) == {} and dict(config) == before


def test_a_draft_is_edited_in_place_and_left_as_it_was_by_a_refused_edit(config: Config) -> None:
    draft = edits.Draft(config)
    r3 = RealServer(IP("10.3.3.5"), 80, 1)
    assert edits.add_real(draft, WEB, r3) is draft
    assert draft[WEB].reals == (R1, R2, r3)
    assert edits.add_service(draft, VirtualService(DNS, Scheduler.RR)) is draft
    assert edits.delete_service(draft, DNS) is draft and DNS not in draft
    snapshot = dict(draft)
    with pytest.raises(RealExists):
        edits.add_real(draft, WEB, R1)
    with pytest.raises(NoSuchService):
        edits.delete_service(draft, DNS)
    assert dict(draft) == snapshot
    assert dict(config) == {WEB: web(R1, R2)}  # the Draft copied what it started from
