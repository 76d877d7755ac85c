"""pyvsadm -R: a whole rule file into one configuration, or the error of its first bad line.

Every line goes through parse() and edit.apply(), as any command does, except
the two shapes `ipvsadm -S -n` writes for a tunnel-mode director, which make
up nearly all of a large rule file:

    -A -t|u ADDRESS:PORT -s SCHEDULER [-p TIMEOUT]
    -a -t|u ADDRESS:PORT -r ADDRESS[:PORT] -i -w WEIGHT

A line of one of these shapes whose edit is plainly legal (numeric canonical
addresses, a new service or a new unicast real server of an existing one, a
known scheduler, numbers in range) is applied straight away; anything else,
a line that would fail included, takes the general path, which gives
ipvsadm's message. Both paths give the same configuration (tests/unit/
test_cli_restore.py drives them against each other).

Real servers added this way are gathered per service and joined to it once,
when a line of the general path or the end of the file needs the service.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pyvs.cli.address import Resolver
from pyvs.cli.command import Cmd, Command
from pyvs.cli.edit import apply, scheduler
from pyvs.cli.errors import NotSupported
from pyvs.cli.parse import DEFAULT_PROGRAM, MAX_TIMEOUT, parse, try_help
from pyvs.control.config import Config, Draft
from pyvs.model.enums import FwdMethod, Protocol, Scheduler
from pyvs.model.errors import LbError
from pyvs.model.service import MAX_WEIGHT, RealServer, ServiceKey, VirtualService

_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_ADDRESS: Final = rf"({_OCTET}(?:\.{_OCTET}){{3}})"
_DIGITS: Final = r"[1-9][0-9]{0,6}"  # no sign, no leading zero: read the same by strtol and int()
_NUMBER: Final = rf"({_DIGITS})"
_SERVICE: Final = re.compile(rf"-A -([tu]) {_ADDRESS}:{_NUMBER} -s ([a-z]+)(?: -p {_NUMBER})?")
_SERVER: Final = re.compile(
    rf"-a -([tu]) {_ADDRESS}:{_NUMBER} -r {_ADDRESS}(?::{_NUMBER})? -i -w (0|{_DIGITS})")
_PROTOCOLS: Final = {"t": Protocol.TCP, "u": Protocol.UDP}
_WHITESPACE: Final = re.compile(r"[ \t\r\n]+")


class RestoreError(Exception):
    """Line `number` of the rule file failed with `error`; nothing was restored."""

    def __init__(self, number: int, error: LbError) -> None:
        super().__init__(number, error)
        self.number = number
        self.error = error


def rule_words(line: str, program: str = DEFAULT_PROGRAM) -> list[str]:
    """The argv of one -R line, split as ipvsadm's config_stream_read() splits it.

    The words "ipvsadm" (and the program's own name) are dropped, as ipvsadm
    drops "ipvsadm"; a line starting with "#" is a comment (ipvsadm has none).
    """
    words = [word for word in _WHITESPACE.split(line) if word]
    if words and words[0].startswith("#"):
        return []
    return [word for word in words if word not in ("ipvsadm", program)]


def restore(lines: Iterable[str], old: Config, *, program: str = DEFAULT_PROGRAM,
            resolver: Resolver | None = None, fast: bool = True) -> Config:
    """The configuration after every rule of `lines`, applied to `old` in order.

    Raises RestoreError for the first line that fails. `fast=False` sends every
    line through the general path (the tests' reference).
    """
    builder = _Builder(Draft(old))
    for number, line in enumerate(lines, start=1):
        if fast and builder.quick(line.strip()):
            continue
        words = rule_words(line, program)
        if not words:
            continue
        try:
            rule = parse(words, program=program, resolver=resolver)
            builder.general(_restorable(rule))
        except LbError as error:
            raise RestoreError(number, error) from None
    return builder.finish()


def _restorable(rule: Command) -> Command:
    if rule.kind is Cmd.RESTORE:
        raise try_help(rule.program)  # ipvsadm's guard against -R inside -R
    if not rule.kind.edits:
        raise NotSupported(
            f"'{rule.kind.value}' in -R input is not supported yet (only -A, -E, -D, -C, -a, -e and -d lines)"
        )
    return rule


@dataclass
class _Pending:
    """A service's real servers added by quick lines, not yet joined to it."""

    key: ServiceKey
    port: int  # the service's, which its tunnelled real servers take
    taken: set[str]  # the address text of every real server it has on that port
    reals: list[RealServer]


class _Builder:
    def __init__(self, config: Draft) -> None:
        self.config = config
        self.pending: dict[tuple[str, str, str], _Pending] = {}  # by the words of its lines
        self.addresses: dict[str, ipaddress.IPv4Address] = {}
        self.keys: dict[tuple[str, str, int], ServiceKey] = {}
        self.reals: dict[tuple[str, int, str], RealServer | None] = {}

    def general(self, rule: Command) -> None:
        self._join()
        config = apply(rule, self.config)
        self.config = config if isinstance(config, Draft) else Draft(config)  # -C gives a fresh {}

    def finish(self) -> Config:
        self._join()
        return self.config

    def quick(self, line: str) -> bool:
        """Apply `line` if it is a plainly legal rule of the two common shapes; whether it was."""
        if line.startswith("-a "):
            match = _SERVER.fullmatch(line)
            return match is not None and self._add_server(*match.groups())
        if line.startswith("-A "):
            match = _SERVICE.fullmatch(line)
            return match is not None and self._add_service(*match.groups())
        return False

    def _address(self, text: str) -> ipaddress.IPv4Address:
        address = self.addresses.get(text)
        if address is None:  # a canonical dotted quad (the patterns' _ADDRESS): inet_aton reads it
            address = self.addresses[text] = ipaddress.IPv4Address(socket.inet_aton(text))
        return address

    def _key(self, proto: str, vip: str, port: int) -> ServiceKey:
        """The ServiceKey of a line's words, made once for all the lines that name it."""
        key = self.keys.get((proto, vip, port))
        if key is None:
            key = self.keys[proto, vip, port] = ServiceKey(_PROTOCOLS[proto], self._address(vip), port)
        return key

    def _real(self, address: str, port: int, weight: str) -> RealServer | None:
        """A RealServer value, shared by every service that has the same one (a common
        pool); None for an address the kernel refuses or a weight beyond IPVS's."""
        key = (address, port, weight)
        try:
            return self.reals[key]
        except KeyError:
            legal = _unicast(address) and int(weight) <= MAX_WEIGHT
            found = self.reals[key] = (RealServer(self._address(address), port, int(weight), FwdMethod.TUNNEL)
                                       if legal else None)
            return found

    def _add_service(self, proto: str, vip: str, port: str, sched: str, timeout: str | None) -> bool:
        if int(port) > 65535 or (timeout is not None and int(timeout) > MAX_TIMEOUT):
            return False
        try:
            kind: Scheduler = scheduler(sched)
        except LbError:
            return False
        key = self._key(proto, vip, int(port))
        if key in self.config:
            return False
        self.config[key] = VirtualService(key, kind, None if timeout is None else int(timeout))
        return True

    def _add_server(self, proto: str, vip: str, port: str, rip: str, rport: str | None, weight: str) -> bool:
        # The words of the -t/-u part name the service: canonical words, one service.
        pending = self.pending.get((proto, vip, port))
        if pending is None:
            number = int(port)
            service = self.config.get(self._key(proto, vip, number)) if number <= 65535 else None
            if service is None:
                return False
            pending = self.pending[proto, vip, port] = _Pending(
                service.key, number, {str(r.address) for r in service.reals if r.port == number}, [])
        if (rport is not None and int(rport) > 65535) or rip in pending.taken:
            return False
        # Tunnelled real servers take the service's port, whatever -r says (ipvsadm).
        real = self._real(rip, pending.port, weight)
        if real is None:
            return False
        pending.taken.add(rip)
        pending.reals.append(real)
        return True

    def _join(self) -> None:
        for pending in self.pending.values():
            service = self.config[pending.key]
            self.config[pending.key] = dataclasses.replace(service, reals=(*service.reals, *pending.reals))
        self.pending.clear()


def _unicast(address: str) -> bool:
    """What the kernel's ip_vs_new_dest() accepts: not 0.0.0.0/8, multicast or broadcast."""
    return 0 < int(address[:address.index(".")]) < 224
