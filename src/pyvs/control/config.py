"""The whole configuration as one immutable mapping, and the ipvsadm edits on it.

Rule: every edit returns a new Config (or the same Draft, changed) or raises
a ConfigError subclass, leaving its input as it was; nothing here touches the
data plane. `pyvsadm` reads the current Config from the data
plane, applies one edit, and hands old and new to the data plane to commit.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping

from pyvs.model.errors import NoSuchReal, NoSuchService, RealExists, ServiceExists
from pyvs.model.service import RealServer, ServiceKey, VirtualService

Config = Mapping[ServiceKey, VirtualService]


class Draft(dict[ServiceKey, VirtualService]):
    """A private Config that edits change in place instead of copying.

    `pyvsadm -R` applies thousands of edits to one copy of the configuration
    and throws it away if a line fails; copying per edit made that quadratic.
    """


def _with(config: Config, key: ServiceKey, service: VirtualService) -> Config:
    if isinstance(config, Draft):
        config[key] = service
        return config
    return {**config, key: service}


def add_service(config: Config, service: VirtualService) -> Config:
    if service.key in config:
        raise ServiceExists()
    return _with(config, service.key, dataclasses.replace(service, reals=()))


def edit_service(config: Config, service: VirtualService) -> Config:
    old = _service(config, service.key)
    return _with(config, service.key, dataclasses.replace(service, reals=old.reals))


def delete_service(config: Config, key: ServiceKey) -> Config:
    _service(config, key)
    if isinstance(config, Draft):
        del config[key]
        return config
    return {k: v for k, v in config.items() if k != key}


def add_real(config: Config, key: ServiceKey, real: RealServer) -> Config:
    service = _service(config, key)
    if service.real(real.address, real.port) is not None:
        raise RealExists()
    return _with(config, key, dataclasses.replace(service, reals=(*service.reals, real)))


def edit_real(config: Config, key: ServiceKey, real: RealServer) -> Config:
    service = _service(config, key)
    if service.real(real.address, real.port) is None:
        raise NoSuchReal()
    reals = tuple(real if _same(r, real.address, real.port) else r for r in service.reals)
    return _with(config, key, dataclasses.replace(service, reals=reals))


def delete_real(
    config: Config, key: ServiceKey, address: ipaddress.IPv4Address, port: int
) -> Config:
    service = _service(config, key)
    if service.real(address, port) is None:
        raise NoSuchReal()
    reals = tuple(r for r in service.reals if not _same(r, address, port))
    return _with(config, key, dataclasses.replace(service, reals=reals))


def _service(config: Config, key: ServiceKey) -> VirtualService:
    try:
        return config[key]
    except KeyError:
        raise NoSuchService() from None


def _same(real: RealServer, address: ipaddress.IPv4Address, port: int) -> bool:
    return real.address == address and real.port == port
