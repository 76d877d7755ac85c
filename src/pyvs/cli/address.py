"""Reading ipvsadm's "host[:port]" arguments and naming addresses in listings.

Parsing follows ipvsadm's parse_service() and string_to_number():

- a word made of digits only (or empty) is no address;
- "[v6addr]:port" and bare IPv6 literals are IPv6, which pyvs does not support yet;
- otherwise the last ":" splits host and port; the host is an inet_aton()
  literal ("10.1", "0x0a.0.0.1" are accepted as the C library does) or a name
  looked up for IPv4; the port is a number 0..65535 or a service name for the
  protocol (getservbyname), which a real server gets from its virtual service.

Rule: the functions here are pure; names reach the network only through a
Resolver (input) or a Namer (output), which callers inject. SystemResolver and
SystemNamer use the C library's resolver; tests use StaticResolver and NUMERIC.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

from pyvs.cli.errors import NotSupported
from pyvs.model.enums import Protocol

_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)0*([0-9]+)")
_LONG_DIGITS = 19  # LONG_MAX, 9223372036854775807, has 19 digits: a longer number is out of range
_OUT_OF_RANGE = 10**_LONG_DIGITS  # beyond a long, and so beyond every range ipvsadm checks


def strtol(text: str) -> int | None:
    """C's strtol(text, &end, 10) when it must read the whole word: None if the word is
    not a decimal number; a number beyond a long (strtol's ERANGE) as one of at least 20
    digits, which every range check refuses. Never converts more than 20 digits, so
    Python's own limit on long numbers (4,300 digits) is never met."""
    match = _STRTOL.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    magnitude = int(digits) if len(digits) <= _LONG_DIGITS else _OUT_OF_RANGE
    return -magnitude if sign == "-" else magnitude


def string_to_number(text: str, low: int, high: int) -> int | None:
    """ipvsadm's string_to_number(): a whole decimal number in [low, high], else None."""
    number = strtol(text)
    return number if number is not None and low <= number <= high else None


class Resolver(TypingProtocol):
    """Turns host and service names into an IPv4 address and a port."""

    def host_to_addr(self, name: str) -> ipaddress.IPv4Address | None:
        """The first IPv4 address of `name`, or None (ipvsadm's gethostbyname())."""
        ...

    def service_to_port(self, name: str, protocol: Protocol) -> int | None:
        """The port of service `name` for `protocol`, or None (getservbyname())."""
        ...


class Namer(TypingProtocol):
    """Turns an address and a port into the words ipvsadm prints without -n."""

    def host(self, address: ipaddress.IPv4Address) -> str: ...

    def service(self, port: int, protocol: Protocol) -> str: ...


class SystemResolver:
    """Looks names up with the C library (DNS, /etc/hosts, /etc/services)."""

    def host_to_addr(self, name: str) -> ipaddress.IPv4Address | None:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except (OSError, ValueError):  # ValueError: a NUL in the name, UnicodeError: no IDNA name
            return None
        for _family, _type, _proto, _canon, sockaddr in infos:
            return ipaddress.IPv4Address(sockaddr[0])
        return None

    def service_to_port(self, name: str, protocol: Protocol) -> int | None:
        try:
            return socket.getservbyname(name, protocol.name.lower())
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class StaticResolver:
    """Looks names up in fixed tables: for tests and for runs without DNS."""

    hosts: Mapping[str, ipaddress.IPv4Address] = field(default_factory=dict)
    services: Mapping[tuple[str, Protocol], int] = field(default_factory=dict)

    def host_to_addr(self, name: str) -> ipaddress.IPv4Address | None:
        return self.hosts.get(name)

    def service_to_port(self, name: str, protocol: Protocol) -> int | None:
        return self.services.get((name, protocol))


class NumericNamer:
    """ipvsadm -n: addresses and ports as numbers."""

    def host(self, address: ipaddress.IPv4Address) -> str:
        return str(address)

    def service(self, port: int, protocol: Protocol) -> str:
        return str(port)


NUMERIC = NumericNamer()


class SystemNamer:
    """ipvsadm without -n: reverse lookups, falling back to numbers."""

    def host(self, address: ipaddress.IPv4Address) -> str:
        try:
            host, _port = socket.getnameinfo((str(address), 0), socket.NI_NAMEREQD)
        except (OSError, UnicodeError):
            return str(address)
        return host

    def service(self, port: int, protocol: Protocol) -> str:
        try:
            return socket.getservbyport(port, protocol.name.lower())
        except (OSError, OverflowError):
            return str(port)


@dataclass(frozen=True, slots=True)
class HostPort:
    """A parsed "host[:port]": `port` is None when the word had no ":port"."""

    address: ipaddress.IPv4Address
    port: int | None


def parse_host_port(text: str, protocol: Protocol | None, resolver: Resolver) -> HostPort | None:
    """ipvsadm's parse_service(): None where ipvsadm finds no address.

    `protocol` chooses the services table for a port name; None (a real server
    given before its virtual service) finds no port name, as in ipvsadm.
    Raises NotSupported for IPv6 addresses.
    """
    if text.isascii() and (text == "" or text.isdigit()):
        return None
    split = _split(text)
    if split is None:
        return None
    host, port_text = split
    address = _host(host, resolver)
    if address is None:
        return None
    if port_text is None:
        return HostPort(address, None)
    port = _port(port_text, protocol, resolver)
    return None if port is None else HostPort(address, port)


def _split(text: str) -> tuple[str, str | None] | None:
    """Host and port words, ipvsadm's way; None for a malformed bracket."""
    if text.startswith("["):
        inner, bracket, after = text[1:].partition("]")
        if not bracket or not after.startswith(":"):
            return None
        if _is_ipv6(inner):
            raise NotSupported(f"IPv6 address '{text}' is not supported yet")
        # ipvsadm then looks at the inside alone: a port after "]" is lost.
        text = inner
    elif _is_ipv6(text):
        raise NotSupported(f"IPv6 address '{text}' is not supported yet")
    host, colon, port_text = text.rpartition(":")
    return (host, port_text) if colon else (text, None)


def _is_ipv6(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return False
    return True


def _host(host: str, resolver: Resolver) -> ipaddress.IPv4Address | None:
    if not host:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return resolver.host_to_addr(host)


def _port(text: str, protocol: Protocol | None, resolver: Resolver) -> int | None:
    number = string_to_number(text, 0, 65535)
    if number is not None:
        return number
    if protocol is None:
        return None
    port = resolver.service_to_port(text, protocol)
    return port if port is not None and 0 <= port <= 65535 else None
