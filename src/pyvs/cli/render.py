"""ipvsadm's listings as text: -L (plain, --stats, --exact, --tun-info), -L for one service,
-L -c (the connection table), -S.

Rule 1: pure functions of ServiceStatus and Connection values, the connection
table size and a Namer; nothing here reads the data plane or the network.
Rule 2: every line reproduces the printf format of ipvsadm's print_title(),
print_service_entry(), print_largenum(), list_conn() and print_conn(), column
for column, including the trailing blanks of the last column and the
truncation of long names (33 characters for a service, 28 for a real server).
Services are sorted by protocol, address and port, real servers by address and
port, as ipvsadm sorts them unless --nosort.

Connections (-L -c) show the state names the kernel prints in
/proc/net/ip_vs_conn (STATE_NAMES) and the time left as minutes:seconds.
Deliberate difference: ipvsadm prints connections in the kernel's hash order,
which nobody can predict; pyvsadm sorts them by protocol, virtual address and
port, then client address and port, so that the listing is stable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pyvs.cli.address import NUMERIC, Namer
from pyvs.cli.sched_flags import sched_flags_words
from pyvs.model.enums import SCHED_FLAGS_MASK, FlowState, FwdMethod, Protocol
from pyvs.model.service import ALL_ONES, VirtualService
from pyvs.model.status import Connection, Counters, RealStatus, ServiceStatus

IPVS_VERSION = "1.2.1"  # the kernel IPVS version ipvsadm prints in the header

_NAME_MAX = 59  # ipvsadm formats "host:port" into a 60-byte buffer
_SERVICE_COLUMN = 33
_REAL_COLUMN = 28

_PLAIN_TITLE = (
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
)
_TUN_INFO_TITLE = (
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn",
)
_STATS_COLUMNS = ("Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
_RATE_COLUMNS = ("CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")

_FWD_SWITCH = {
    FwdMethod.MASQ: "-m",
    FwdMethod.TUNNEL: "-i",
    FwdMethod.LOCALNODE: "-g",
    FwdMethod.DROUTE: "-g",
}
_PROTOCOL_SWITCH = {Protocol.TCP: "-t", Protocol.UDP: "-u"}

_CONNECTION_TITLE = (
    "IPVS connection entries",
    f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination",
)
_PERSISTENT_CONN_TITLE = (
    "IPVS connection entries",
    f"pro expire {'state':<11} {'source':<18} {'virtual':<18} {'destination':<18} {'pe name':<16} pe_data",
)


def list_timeouts(tcp: int, tcp_fin: int, udp: int) -> str:
    """`ipvsadm -L --timeout`: list_timeout()."""
    return f"Timeout (tcp tcpfin udp): {tcp} {tcp_fin} {udp}\n"

# The kernel's names for the states (tcp_state_name_table of ip_vs_proto_tcp.c;
# every UDP entry is in IP_VS_UDP_S_NORMAL, which udp_state_name_table calls "UDP").
STATE_NAMES: Final[Mapping[FlowState, str]] = {
    FlowState.NONE: "NONE",
    FlowState.ESTABLISHED: "ESTABLISHED",
    FlowState.SYN_RECV: "SYN_RECV",
    FlowState.FIN_WAIT: "FIN_WAIT",
    FlowState.TIME_WAIT: "TIME_WAIT",
    FlowState.CLOSE: "CLOSE",
    FlowState.UDP: "UDP",
}


@dataclass(frozen=True, slots=True)
class ListFormat:
    """The listing options of -L: --stats, --rate, --exact, --tun-info, --thresholds, --persistent-conn."""

    stats: bool = False
    rate: bool = False
    exact: bool = False
    tun_info: bool = False
    thresholds: bool = False
    persistent_conn: bool = False
    nosort: bool = False  # real servers in the kernel's list order (newest first), not sorted


def list_all(
    statuses: Iterable[ServiceStatus],
    table_size: int,
    fmt: ListFormat = ListFormat(),
    namer: Namer = NUMERIC,
) -> str:
    """`ipvsadm -L`: the version header, the column titles, then every service."""
    lines = [f"IP Virtual Server version {IPVS_VERSION} (size={table_size})"]
    lines += title(fmt)
    for status in sort_services(statuses):
        lines += service_entry(status, fmt, namer)
    return _text(lines)


def list_service(status: ServiceStatus, fmt: ListFormat = ListFormat(), namer: Namer = NUMERIC) -> str:
    """`ipvsadm -L -t|-u service`: the column titles and that service (no header)."""
    return _text([*title(fmt), *service_entry(status, fmt, namer)])


def save(statuses: Iterable[ServiceStatus], namer: Namer = NUMERIC) -> str:
    """`ipvsadm -S`: one -A line per service followed by its -a lines."""
    lines: list[str] = []
    for status in sort_services(statuses):
        lines += rules(status, namer)
    return _text(lines)


def list_connections(connections: Iterable[Connection], namer: Namer = NUMERIC,
                     persistent_conn: bool = False) -> str:
    """`ipvsadm -L -c`: list_conn()'s two title lines, then one line per connection
    (with --persistent-conn, the title has the persistence engine's columns, which
    no pyvs connection fills)."""
    lines = list(_PERSISTENT_CONN_TITLE if persistent_conn else _CONNECTION_TITLE)
    lines += [connection_entry(connection, namer) for connection in sort_connections(connections)]
    return _text(lines)


def connection_entry(connection: Connection, namer: Namer) -> str:
    """print_conn(): "%-3s %-6s %-11s %-18s %-18s %s", names as long as addrport() makes them."""
    protocol = connection.protocol
    client, virtual, real = (
        addrport(address, port, protocol, namer)
        for address, port in (connection.client, connection.virtual, connection.real)
    )
    when, state = expire(connection.expires_s), STATE_NAMES[connection.state]
    return f"{protocol.label:<3} {when:<6} {state:<11} {client:<18} {virtual:<18} {real}"


def expire(seconds: int) -> str:
    """print_conn()'s "%02d:%02d" of minutes and seconds (an hour is "60:00").

    A negative time (an entry past its timeout, not yet reaped) shows as "00:00".
    """
    minutes, rest = divmod(max(seconds, 0), 60)
    return f"{minutes:02d}:{rest:02d}"


def title(fmt: ListFormat) -> list[str]:
    """print_title(): the two title lines of a listing."""
    if fmt.stats or fmt.rate:
        numbers = " ".join(f"{name:>8}" for name in (_STATS_COLUMNS if fmt.stats else _RATE_COLUMNS))
        return [f"{'Prot LocalAddress:Port':<33} {numbers}", "  -> RemoteAddress:Port"]
    if fmt.thresholds:
        names = " ".join(f"{name:<10}" for name in ("Uthreshold", "Lthreshold", "ActiveConn", "InActConn"))
        return [f"{'Prot LocalAddress:Port':<33} {names}", "  -> RemoteAddress:Port"]
    if fmt.persistent_conn:
        names = f"{'Weight':<9} {'PersistConn':<11} {'ActiveConn':<10} {'InActConn':<10}"
        return [f"{'Prot LocalAddress:Port':<33} {names}", "  -> RemoteAddress:Port"]
    if fmt.tun_info:
        return list(_TUN_INFO_TITLE)
    return list(_PLAIN_TITLE)


def service_entry(status: ServiceStatus, fmt: ListFormat, namer: Namer) -> list[str]:
    """print_service_entry() for -L: the service line, then one line per real server."""
    service = status.service
    name = service_name(service, namer)
    if fmt.stats:
        lines = [f"{name:<{_SERVICE_COLUMN}}{counters(status.stats, fmt.exact)}"]
    elif fmt.rate:
        r = status.rates
        lines = [f"{name:<{_SERVICE_COLUMN}}" + "".join(largenum(value, fmt.exact) for value in (
            r.cps, r.inpps, r.outpps, r.inbps, r.outbps))]
    else:
        lines = [name + " " + service.scheduler.label + _flags(service)]
    for real in (status.reals[::-1] if fmt.nosort else sort_reals(status.reals)):
        lines.append(real_entry(real, service.key.protocol, fmt, namer))
    return lines


def real_entry(status: RealStatus, protocol: Protocol, fmt: ListFormat, namer: Namer) -> str:
    """One "  -> RemoteAddress:Port ..." line."""
    real = status.real
    name = addrport(real.address, real.port, protocol, namer)[:_REAL_COLUMN]
    if fmt.stats:
        return f"  -> {name:<{_REAL_COLUMN}}{counters(status.stats, fmt.exact)}"
    if fmt.rate:
        r = status.rates
        return (f"  -> {name:<{_REAL_COLUMN}} {r.cps:8d} {r.inpps:8d} {r.outpps:8d}"
                f"{largenum(r.inbps, fmt.exact)}{largenum(r.outbps, fmt.exact)}")
    if fmt.thresholds:
        return (f"  -> {name:<{_REAL_COLUMN}} {real.u_threshold:<10d} {real.l_threshold:<10d} "
                f"{status.active_conns:<10d} {status.inactive_conns:<10d}")
    if fmt.persistent_conn:
        return (f"  -> {name:<{_REAL_COLUMN}} {real.weight:<9d} {status.persistent_conns:<11d} "
                f"{status.active_conns:<10d} {status.inactive_conns:<10d}")
    conns = f"{real.weight:<6d} {status.active_conns:<10d} {status.inactive_conns:<10d}"
    if fmt.tun_info:
        info = "ipip" if real.fwd is FwdMethod.TUNNEL else "n/a"
        return f"  -> {name:<{_REAL_COLUMN}} {real.fwd.label:<7} {info:<13} {conns}"
    return f"  -> {name:<{_REAL_COLUMN}} {real.fwd.label:<7} {conns}"


def rules(status: ServiceStatus, namer: Namer) -> list[str]:
    """print_service_entry() for -S: the -A line and the -a lines of one service."""
    service = status.service
    key = service.key
    svc = f"{_PROTOCOL_SWITCH[key.protocol]} {addrport(key.address, key.port, key.protocol, namer)}"
    persistent = "" if service.persistence_timeout is None else f" -p {service.persistence_timeout}"
    if service.persistence_timeout is not None and service.netmask != ALL_ONES:
        persistent += f" -M {service.netmask}"
    if service.one_packet:
        persistent += " -o"
    if service.sched_flags & SCHED_FLAGS_MASK:
        persistent += f" -b {sched_flags_words(service.scheduler.label, service.sched_flags)}"
    lines = [f"-A {svc} -s {service.scheduler.label}{persistent}"]
    for real_status in sort_reals(status.reals):
        real = real_status.real
        dest = addrport(real.address, real.port, key.protocol, namer)
        line = f"-a {svc} -r {dest} {_FWD_SWITCH[real.fwd]} -w {real.weight}"
        if real.fwd is FwdMethod.TUNNEL:
            line += " --tun-type ipip"
        lines.append(line)
    return lines


def service_name(service: VirtualService, namer: Namer) -> str:
    """ "TCP  host:port", cut to 33 characters as ipvsadm cuts it."""
    key = service.key
    name = f"{key.protocol.label}  {addrport(key.address, key.port, key.protocol, namer)}"
    return name[:_SERVICE_COLUMN]


def addrport(address: ipaddress.IPv4Address, port: int, protocol: Protocol, namer: Namer) -> str:
    """ipvsadm's addrport_to_anyname(): "host:port", numeric or named."""
    return f"{namer.host(address)}:{namer.service(port, protocol)}"[:_NAME_MAX]


def counters(stats: Counters, exact: bool) -> str:
    """The five --stats columns of one line."""
    values = (stats.conns, stats.inpkts, stats.outpkts, stats.inbytes, stats.outbytes)
    return "".join(largenum(value, exact) for value in values)


def largenum(value: int, exact: bool = False) -> str:
    """print_largenum(): a right-aligned number, with a K/M/G/T suffix unless --exact."""
    if exact:
        digits = str(value)
        return digits.rjust(9 if len(digits) <= 8 else len(digits) + 1)
    if value < 100_000_000:
        return f"{value:9d}"
    if value < 1_000_000_000:
        return f"{value // 1_000:8d}K"
    if value < 100_000_000_000:
        return f"{value // 1_000_000:8d}M"
    if value < 100_000_000_000_000:
        return f"{value // 1_000_000_000:8d}G"
    return f"{value // 1_000_000_000_000:8d}T"


def sort_services(statuses: Iterable[ServiceStatus]) -> list[ServiceStatus]:
    return sorted(statuses, key=lambda status: status.service.key)


def sort_reals(reals: Sequence[RealStatus]) -> list[RealStatus]:
    return sorted(reals, key=lambda status: (status.real.address, status.real.port))


def sort_connections(connections: Iterable[Connection]) -> list[Connection]:
    """By protocol, virtual address and port, client address and port (see the module docstring).

    The real server only breaks ties, which one flow table cannot hold.
    """
    return sorted(connections, key=lambda c: (c.protocol, c.virtual, c.client, c.real))


def _flags(service: VirtualService) -> str:
    """What -L prints after the scheduler: " (flags)", " persistent N"."""
    text = ""
    if service.sched_flags & SCHED_FLAGS_MASK:
        text += f" ({sched_flags_words(service.scheduler.label, service.sched_flags)})"
    if service.persistence_timeout is not None:
        text += f" persistent {service.persistence_timeout}"
        if service.netmask != ALL_ONES:
            text += f" mask {service.netmask}"
    if service.one_packet:
        text += " ops"
    return text


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
