"""The configuration edit each pyvsadm command stands for, as a pure function.

apply(command, config) returns the new Config, or raises the error the kernel
returns to ipvsadm for that edit, with ipvs_strerror()'s wording and checked
in the kernel's order: a service's existence before its scheduler; a real
server's service, then the real server itself, then its address.

Rule: no I/O; ipvsadm.run() reads the data plane, calls apply() and commits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Final

from pyvs.cli.command import DEFAULT_SCHEDULER, Cmd, Command, Opt
from pyvs.cli.errors import (
    INVALID_OPERATION,
    SCHEDULER_NOT_FOUND,
    SERVICE_NOT_DEFINED,
    NotSupported,
    refused,
)
from pyvs.control import config as edits
from pyvs.control.config import Config
from pyvs.model.enums import FwdMethod, Scheduler
from pyvs.model.errors import NoSuchService, ServiceExists
from pyvs.model.service import ALL_ONES, RealServer, ServiceKey, VirtualService

SUPPORTED_SCHEDULERS: Final[Mapping[str, Scheduler]] = {scheduler.label: scheduler for scheduler in Scheduler}



def scheduler(name: str | None) -> Scheduler:
    """The scheduler of -s NAME (None: ipvsadm's default), or the error for it."""
    effective = DEFAULT_SCHEDULER if name is None else name
    found = SUPPORTED_SCHEDULERS.get(effective)
    if found is not None:
        return found
    raise refused(SCHEDULER_NOT_FOUND)


def apply(command: Command, config: Config) -> Config:
    """The configuration after `command`, which must be an edit command."""
    try:
        edit = _EDITS[command.kind]
    except KeyError:
        raise ValueError(f"{command.kind.value} is not a configuration edit") from None
    return edit(command, config)


def _add_service(command: Command, config: Config) -> Config:
    key = command.require_service()
    if key in config:
        raise ServiceExists()
    return edits.add_service(config, _service(command, key))


def _edit_service(command: Command, config: Config) -> Config:
    key = command.require_service()
    if key not in config:
        raise NoSuchService()
    return edits.edit_service(config, _service(command, key))


def _delete_service(command: Command, config: Config) -> Config:
    return edits.delete_service(config, command.require_service())


def _flush(command: Command, config: Config) -> Config:
    return {}


def _add_server(command: Command, config: Config) -> Config:
    key = _defined_service(command, config)
    real = _real(command)
    if config[key].real(real.address, real.port) is None:
        _check_unicast(real.address)
    return edits.add_real(config, key, real)


def _edit_server(command: Command, config: Config) -> Config:
    return edits.edit_real(config, _defined_service(command, config), _real(command))


def _delete_server(command: Command, config: Config) -> Config:
    key = _defined_service(command, config)
    return edits.delete_real(config, key, command.require_real(), command.real_port)


def _service(command: Command, key: ServiceKey) -> VirtualService:
    return VirtualService(
        key=key,
        scheduler=scheduler(command.scheduler),
        persistence_timeout=command.persistence,
        sched_flags=command.sched_flags,
        netmask=command.netmask or ALL_ONES,
        one_packet=command.has(Opt.ONE_PACKET),
    )


def _real(command: Command) -> RealServer:
    if command.fwd is not FwdMethod.TUNNEL:  # parse() refuses the others
        raise NotSupported(f"forwarding method {command.fwd.label} is not supported yet")
    return RealServer(
        address=command.require_real(),
        port=command.real_port,
        weight=command.weight,
        fwd=command.fwd,
        u_threshold=command.u_threshold,
        l_threshold=command.l_threshold,
    )


def _defined_service(command: Command, config: Config) -> ServiceKey:
    """The service of a real-server command; the kernel says ESRCH otherwise."""
    key = command.require_service()
    if key not in config:
        raise refused(SERVICE_NOT_DEFINED)
    return key


_ZERONET: Final = ipaddress.IPv4Network("0.0.0.0/8")
_BROADCAST: Final = ipaddress.IPv4Address("255.255.255.255")
_MULTICAST: Final = ipaddress.IPv4Network("224.0.0.0/4")


def _check_unicast(address: ipaddress.IPv4Address) -> None:
    """The kernel's ip_vs_new_dest() takes unicast or local addresses only (EINVAL)."""
    if address in _ZERONET or address == _BROADCAST or address in _MULTICAST:
        raise refused(INVALID_OPERATION)


_EDITS: Final[Mapping[Cmd, Callable[[Command, Config], Config]]] = {
    Cmd.ADD_SERVICE: _add_service,
    Cmd.EDIT_SERVICE: _edit_service,
    Cmd.DELETE_SERVICE: _delete_service,
    Cmd.FLUSH: _flush,
    Cmd.ADD_SERVER: _add_server,
    Cmd.EDIT_SERVER: _edit_server,
    Cmd.DELETE_SERVER: _delete_server,
}
