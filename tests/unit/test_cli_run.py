"""pyvsadm end to end against a MemoryDataplane: output, stderr, exit status, state (pure).

`pyvsadm(dataplane, line)` does what main() does, with the data plane, stdin,
the resolver and the namer injected; test_main_* go through main() itself.
"""

from __future__ import annotations

import errno
import io
import ipaddress
from dataclasses import dataclass

import pytest

from pyvs.cli import ipvsadm
from pyvs.cli.address import StaticResolver
from pyvs.cli.ipvsadm import report, run
from pyvs.cli.parse import parse
from pyvs.control.config import Config
from pyvs.dataplane.memory import MemoryDataplane
from pyvs.model.enums import FlowState, Protocol
from pyvs.model.errors import DataplaneError, LbError
from pyvs.model.service import ServiceKey
from pyvs.model.status import Connection, Counters, Rates

IP = ipaddress.IPv4Address
WEB = ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)
RESOLVER = StaticResolver(services={("http", Protocol.TCP): 80})


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


class Names:
    def host(self, address: ipaddress.IPv4Address) -> str:
        return {IP("10.2.2.3"): "www.example.test"}.get(address, str(address))

    def service(self, port: int, protocol: Protocol) -> str:
        return {80: "http"}.get(port, str(port))


def pyvsadm(dataplane: MemoryDataplane, line: str, stdin: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    try:
        command = parse(line.split(), resolver=RESOLVER)
    except LbError as error:
        return Result(report(error, err, "pyvsadm"), "", err.getvalue())
    status = run(
        command,
        dataplane,
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        resolver=RESOLVER,
        namer=Names(),
    )
    return Result(status, out.getvalue(), err.getvalue())


def ok(dataplane: MemoryDataplane, line: str, stdin: str = "") -> str:
    result = pyvsadm(dataplane, line, stdin)
    assert (result.status, result.err) == (0, ""), result
    return result.out


def refused(dataplane: MemoryDataplane, line: str, stdin: str = "") -> tuple[int, str]:
    """Status and stderr of a failing command, which must leave the data plane alone."""
    before, commits = dataplane.read(), dataplane.commits
    result = pyvsadm(dataplane, line, stdin)
    assert result.out == ""
    assert dataplane.read() == before
    assert dataplane.commits == commits
    return result.status, result.err


SEED = ["-A -t 10.2.2.3:80 -s rr", "-a -t 10.2.2.3:80 -r 10.3.3.3 -i"]

SEED_LISTING = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    "TCP  10.2.2.3:80 rr\n"
    "  -> 10.3.3.3:80                  Tunnel  1      0          0         \n"
)


@pytest.fixture
def dp() -> MemoryDataplane:
    return MemoryDataplane()


@pytest.fixture
def seeded(dp: MemoryDataplane) -> MemoryDataplane:
    for line in SEED:
        assert ok(dp, line) == ""
    return dp


# -- the seed ------------------------------------------------------------------------


def test_seed_lines_then_list(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-L -n") == SEED_LISTING
    assert seeded.commits == 2


def test_list_spellings(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-Ln") == ok(seeded, "--list --numeric") == ok(seeded, "-ln") == SEED_LISTING


def test_list_with_names(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-L").splitlines()[3:] == [
        "TCP  www.example.test:http rr",
        "  -> 10.3.3.3:http                Tunnel  1      0          0         ",
    ]


def test_save_restore_round_trip(seeded: MemoryDataplane) -> None:
    saved = ok(seeded, "-S -n")
    assert saved == ("-A -t 10.2.2.3:80 -s rr\n-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 1 --tun-type ipip\n")
    assert ok(seeded, "-C") == ""
    assert seeded.read() == {}
    assert ok(seeded, "-R", stdin=saved) == ""
    assert ok(seeded, "-L -n") == SEED_LISTING


def test_save_with_names(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-S").splitlines() == [
        "-A -t www.example.test:http -s rr",
        "-a -t www.example.test:http -r 10.3.3.3:http -i -w 1 --tun-type ipip",
    ]


# -- edits -----------------------------------------------------------------------------


def test_edit_service_sets_scheduler_and_persistence(seeded: MemoryDataplane) -> None:
    ok(seeded, "-E -t 10.2.2.3:80 -s wrr -p 120")
    assert ok(seeded, "-Ln").splitlines()[3:] == [
        "TCP  10.2.2.3:80 wrr persistent 120",
        "  -> 10.3.3.3:80                  Tunnel  1      0          0         ",
    ]
    # As in ipvsadm, -E without -p makes the service non-persistent again.
    ok(seeded, "-E -t 10.2.2.3:80 -s wrr")
    assert ok(seeded, "-Ln").splitlines()[3] == "TCP  10.2.2.3:80 wrr"


def test_edit_server_weight_and_its_default(seeded: MemoryDataplane) -> None:
    ok(seeded, "-e -t 10.2.2.3:80 -r 10.3.3.3 -i -w 7")
    assert "Tunnel  7      " in ok(seeded, "-Ln")
    # As in ipvsadm, -e without -w sets the weight back to 1.
    ok(seeded, "-e -t 10.2.2.3:80 -r 10.3.3.3 -i")
    assert ok(seeded, "-Ln") == SEED_LISTING


def test_tunnelled_server_gets_the_service_port(seeded: MemoryDataplane) -> None:
    ok(seeded, "-a -t 10.2.2.3:80 -r 10.3.3.4:8080 -i -w 0")
    assert ok(seeded, "-Ln").splitlines()[5] == (
        "  -> 10.3.3.4:80                  Tunnel  0      0          0         "
    )


def test_delete_server_then_service(seeded: MemoryDataplane) -> None:
    ok(seeded, "-d -t 10.2.2.3:80 -r 10.3.3.3")
    assert ok(seeded, "-Ln").splitlines()[3:] == ["TCP  10.2.2.3:80 rr"]
    ok(seeded, "-D -t 10.2.2.3:80")
    assert seeded.read() == {}


def test_clear(seeded: MemoryDataplane) -> None:
    ok(seeded, "-A -u 10.2.2.3:53 -s wrr")
    ok(seeded, "--clear")
    assert seeded.read() == {}


def test_empty_listing(dp: MemoryDataplane) -> None:
    assert ok(dp, "-Ln") == "\n".join(SEED_LISTING.splitlines()[:3]) + "\n"
    assert ok(dp, "-S -n") == ""


# -- errors that leave the table alone ------------------------------------------------

SEEDED_ERRORS = [
    ("-A -t 10.2.2.3:80 -s rr", 255, "Service already exists\n"),
    ("-A -t 10.2.2.3:80 -s nosuch", 255, "Service already exists\n"),
    ("-E -t 10.2.2.3:81 -s rr", 255, "No such service\n"),
    ("-D -t 10.2.2.3:81", 255, "No such service\n"),
    ("-Z -t 10.2.2.3:81", 255, "No such service\n"),
    ("-a -t 10.2.2.3:81 -r 10.3.3.4 -i", 255, "Service not defined\n"),
    ("-e -t 10.2.2.3:81 -r 10.3.3.3 -i", 255, "Service not defined\n"),
    ("-d -t 10.2.2.3:81 -r 10.3.3.3", 255, "Service not defined\n"),
    ("-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w 5", 255, "Destination already exists\n"),
    ("-e -t 10.2.2.3:80 -r 10.3.3.4 -i", 255, "No such destination\n"),
    ("-d -t 10.2.2.3:80 -r 10.3.3.4", 255, "No such destination\n"),
    ("-d -t 10.2.2.3:80 -r 10.3.3.3:8080", 255, "No such destination\n"),
    (
        "-a -t 10.2.2.3:80 -r 0.0.0.0 -i",
        255,
        "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
    ),
    (
        "-a -t 10.2.2.3:80 -r 224.0.0.1 -i",
        255,
        "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
    ),
    (
        "-a -t 10.2.2.3:80 -r 255.255.255.255 -i",
        255,
        "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
    ),
    ("-A -t 10.2.2.3:81 -s nosuch", 255, "Scheduler or persistence engine not found\n"),
    ("-E -t 10.2.2.3:80 -s nosuch", 255, "Scheduler or persistence engine not found\n"),
    ("-L -n -t 10.2.2.3:81", 1, "No such service\n"),
    ("-a -t 10.2.2.3:80 -r 10.3.3.4 -i -w 65536", 2, "illegal weight specified\n"),
    ("-a -t 10.2.2.3:80 -r 10.3.3.4 -i -w heavy", 2, "illegal weight specified\n"),
    ("-A -t 10.2.2.300:80 -s rr", 2, "illegal virtual server address[:port] specified\n"),
    ("-A -t 10.2.2.4:http2 -s rr", 2, "illegal virtual server address[:port] specified\n"),
    ("-A -t 10.2.2.4:65536 -s rr", 2, "illegal virtual server address[:port] specified\n"),
    ("-a -t 10.2.2.3:80 -r 10.3.3.300 -i", 2, "illegal real server address[:port] specified\n"),
    ("-a -t 10.2.2.3:80 -r 10.3.3.4:http2 -i", 2, "illegal real server address[:port] specified\n"),
    ("-A -t 10.2.2.4:80 -s rr -i", 2, "Illegal 'forwarding-method' option with the 'add-service' command\n"),
    ("-a -t 10.2.2.3:80 -i", 2, "You need to supply the 'real-server' option for the 'add-server' command\n"),
    ("-A -t 10.2.2.4 -s rr", 2, "Zero port specified for non-persistent service\n"),
    ("-A -t 10.2.2.4:80 -s lbl", 255, "Scheduler or persistence engine not found\n"),
    (
        "-a -t 10.2.2.3:80 -r 10.3.3.4",
        2,
        "pyvsadm: ipvsadm's default forwarding method, -g (gatewaying), is not supported yet:"
        " pyvs forwards in tunnel mode only, add -i\n",
    ),
    (
        "-a -t 10.2.2.3:80 -r 10.3.3.4 -g",
        2,
        "pyvsadm: forwarding method -g (gatewaying) is not supported yet:"
        " pyvs forwards in tunnel mode only (-i)\n",
    ),
    (
        "-a -t 10.2.2.3:80 -r 10.3.3.4 -m",
        2,
        "pyvsadm: forwarding method -m (masquerading) is not supported yet:"
        " pyvs forwards in tunnel mode only (-i)\n",
    ),
    ("-L -n -c --stats", 2, "options conflicts in the list command\n"),
    ("-L -n -c --rate", 2, "options conflicts in the list command\n"),
    (
        "-L -n -c -t 10.2.2.3:80",
        2,
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n",
    ),
    ("-S -n -c", 2, "Illegal 'connection' option with the 'save' command\n"),
    ("-L -n --bogus", 255, "--bogus: unknown option\n"),
    ("-n -L", 255, "Try `pyvsadm -h' or 'pyvsadm --help' for more information.\n"),
]


@pytest.mark.parametrize(("line", "status", "err"), SEEDED_ERRORS)
def test_errors(seeded: MemoryDataplane, line: str, status: int, err: str) -> None:
    assert refused(seeded, line) == (status, err)


def test_dataplane_error_is_printed_with_status_1(seeded: MemoryDataplane) -> None:
    class Full(MemoryDataplane):
        def commit(self, old: Config, new: Config) -> None:
            raise DataplaneError(errno.ENOSPC, "lb_services update")

    full = Full(seeded.read())
    assert refused(full, "-a -t 10.2.2.3:80 -r 10.3.3.4 -i") == (
        1,
        "lb_services update: No space left on device\n",
    )


# -- counters ---------------------------------------------------------------------------


def test_rate_listing_as_ipvsadm_prints_it(seeded: MemoryDataplane) -> None:
    seeded.set_counters(WEB, Counters(), Rates(12, 345_678_901, 0, 2_000_000_000, 0))
    seeded.set_real_status(WEB, IP("10.3.3.3"), 80, rates=Rates(12, 345_678_901, 0, 2_000_000_000, 0))
    assert ok(seeded, "-L -n --rate").splitlines() == [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
        "  -> RemoteAddress:Port",
        "TCP  10.2.2.3:80                        12  345678K        0    2000M        0",
        "  -> 10.3.3.3:80                        12 345678901        0    2000M        0",
    ]
    assert ok(seeded, "-L -n --rate --exact").splitlines()[3] == (
        "TCP  10.2.2.3:80                        12 345678901        0 2000000000        0")
    ok(seeded, "-Z")
    assert ok(seeded, "-L -n --rate").splitlines()[3] == (
        "TCP  10.2.2.3:80                         0        0        0        0        0")


def test_rate_without_an_estimator_says_so(seeded: MemoryDataplane, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeded, "estimating", lambda: False)
    assert refused(seeded, "-L -n --rate") == (
        2, "pyvsadm: --rate needs the rate estimator, which runs on Linux 5.19 and later "
           "(bpf_map_lookup_percpu_elem): this director has none\n")


def test_stats_listing_and_zero(seeded: MemoryDataplane) -> None:
    ok(seeded, "-A -u 10.2.2.3:53 -s wrr")
    dns = ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)
    seeded.set_counters(WEB, Counters(3, 1_500_000_000, 20, 123_456_789_012, 7))
    seeded.set_real_status(WEB, IP("10.3.3.3"), 80, active=2, inactive=1, stats=Counters(3, 4, 5, 6, 7))
    seeded.set_counters(dns, Counters(1, 1, 1, 1, 1))
    assert ok(seeded, "-L -n --stats").splitlines() == [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        "TCP  10.2.2.3:80                         3    1500M       20     123G        7",
        "  -> 10.3.3.3:80                         3        4        5        6        7",
        "UDP  10.2.2.3:53                         1        1        1        1        1",
    ]
    assert ok(seeded, "-L -n --stats --exact").splitlines()[3] == (
        "TCP  10.2.2.3:80                         3 1500000000       20 123456789012        7"
    )
    assert ok(seeded, "-Ln").splitlines()[4] == (
        "  -> 10.3.3.3:80                  Tunnel  1      2          1         "
    )
    ok(seeded, "-Z -t 10.2.2.3:80")
    assert ok(seeded, "-L -n --stats").splitlines()[3:] == [
        "TCP  10.2.2.3:80                         0        0        0        0        0",
        "  -> 10.3.3.3:80                         0        0        0        0        0",
        "UDP  10.2.2.3:53                         1        1        1        1        1",
    ]
    # Zeroing resets counters, not the connection counts.
    assert "Tunnel  1      2          1         " in ok(seeded, "-Ln")
    ok(seeded, "-Z")
    assert ok(seeded, "-L -n --stats").splitlines()[5] == (
        "UDP  10.2.2.3:53                         0        0        0        0        0"
    )
    assert seeded.commits == 3  # -Z is no configuration edit


def test_list_one_service(seeded: MemoryDataplane) -> None:
    ok(seeded, "-A -u 10.2.2.3:53 -s wrr")
    assert ok(seeded, "-L -n -t 10.2.2.3:80") == "".join(
        line + "\n" for line in SEED_LISTING.splitlines()[1:]
    )


def test_tun_info(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-L -n --tun-info").splitlines()[2:] == [
        "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn",
        "TCP  10.2.2.3:80 rr",
        "  -> 10.3.3.3:80                  Tunnel  ipip          1      0          0         ",
    ]


# -- connections (-L -c) -----------------------------------------------------------------

CONNECTION_TITLE = (
    "IPVS connection entries\n"  # list_conn()'s header
    "pro expire state       source             virtual            destination\n"
)


def _endpoint(text: str) -> tuple[ipaddress.IPv4Address, int]:
    address, port = text.split(":")
    return IP(address), int(port)


def _conn(
    protocol: Protocol, client: str, virtual: str, real: str, state: FlowState, expires_s: int
) -> Connection:
    return Connection(protocol, _endpoint(client), _endpoint(virtual), _endpoint(real), state, expires_s)


CONNECTIONS = [  # in no particular order, as a hash table gives them
    _conn(Protocol.UDP, "10.1.1.1:5353", "10.2.2.3:53", "10.3.3.5:53", FlowState.UDP, 300),
    _conn(Protocol.TCP, "10.1.1.2:40001", "10.2.2.3:80", "10.3.3.4:80", FlowState.SYN_RECV, 59),
    _conn(Protocol.TCP, "10.1.1.1:40000", "10.2.2.3:80", "10.3.3.3:80", FlowState.ESTABLISHED, 899),
]

CONNECTION_LISTING = CONNECTION_TITLE + (
    "TCP 14:59  ESTABLISHED 10.1.1.1:40000     10.2.2.3:80        10.3.3.3:80\n"
    "TCP 00:59  SYN_RECV    10.1.1.2:40001     10.2.2.3:80        10.3.3.4:80\n"
    "UDP 05:00  UDP         10.1.1.1:5353      10.2.2.3:53        10.3.3.5:53\n"
)


@pytest.fixture
def connected(seeded: MemoryDataplane) -> MemoryDataplane:
    ok(seeded, "-a -t 10.2.2.3:80 -r 10.3.3.4 -i")
    ok(seeded, "-A -u 10.2.2.3:53 -s wrr")
    ok(seeded, "-a -u 10.2.2.3:53 -r 10.3.3.5 -i")
    seeded.set_connections(CONNECTIONS)
    return seeded


def test_list_connections_numeric(connected: MemoryDataplane) -> None:
    commits = connected.commits
    assert ok(connected, "-L -n -c") == CONNECTION_LISTING
    assert connected.commits == commits


@pytest.mark.parametrize(
    "line",
    ["-Lnc", "-lnc", "-l -c -n", "--list --numeric --connection", "-L -n -c --exact --tun-info --sort"],
)
def test_list_connections_spellings(connected: MemoryDataplane, line: str) -> None:
    assert ok(connected, line) == CONNECTION_LISTING


def test_list_connections_with_names(connected: MemoryDataplane) -> None:
    assert ok(connected, "-L -c").splitlines()[2:] == [
        "TCP 14:59  ESTABLISHED 10.1.1.1:40000     www.example.test:http 10.3.3.3:http",
        "TCP 00:59  SYN_RECV    10.1.1.2:40001     www.example.test:http 10.3.3.4:http",
        "UDP 05:00  UDP         10.1.1.1:5353      www.example.test:53 10.3.3.5:53",
    ]


def test_list_connections_of_an_empty_table(dp: MemoryDataplane, seeded: MemoryDataplane) -> None:
    assert ok(dp, "-L -n -c") == CONNECTION_TITLE
    assert ok(seeded, "-L -n -c") == CONNECTION_TITLE


def test_connections_of_a_removed_real_server_are_gone(connected: MemoryDataplane) -> None:
    ok(connected, "-d -t 10.2.2.3:80 -r 10.3.3.4")
    ok(connected, "-D -u 10.2.2.3:53")
    assert ok(connected, "-L -n -c") == CONNECTION_TITLE + (
        "TCP 14:59  ESTABLISHED 10.1.1.1:40000     10.2.2.3:80        10.3.3.3:80\n"
    )


def test_list_connections_reports_a_dataplane_error(connected: MemoryDataplane) -> None:
    class Broken(MemoryDataplane):
        def connections(self) -> list[Connection]:
            raise DataplaneError(errno.EIO, "lb_flows lookup")

    result = pyvsadm(Broken(connected.read()), "-L -n -c")
    assert (result.status, result.out, result.err) == (1, "", "lb_flows lookup: Input/output error\n")


# -- restore ------------------------------------------------------------------------------

RULES = """\
# web
ipvsadm -A -t 10.2.2.3:80 -s rr
-a -t 10.2.2.3:80 -r 10.3.3.3 -i

-a -t 10.2.2.3:80 -r 10.3.3.4 -i -w 3
-A -u 10.2.2.3:53 -s wrr -p
-a -u 10.2.2.3:53 -r 10.3.3.3:53 -i --tun-type ipip
"""


def test_restore_applies_all_lines_in_one_commit(dp: MemoryDataplane) -> None:
    assert ok(dp, "-R", stdin=RULES) == ""
    assert dp.commits == 1
    assert ok(dp, "-S -n").splitlines() == [
        "-A -t 10.2.2.3:80 -s rr",
        "-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 1 --tun-type ipip",
        "-a -t 10.2.2.3:80 -r 10.3.3.4:80 -i -w 3 --tun-type ipip",
        "-A -u 10.2.2.3:53 -s wrr -p 300",
        "-a -u 10.2.2.3:53 -r 10.3.3.3:53 -i -w 1 --tun-type ipip",
    ]


def test_restore_lines_see_the_lines_before(seeded: MemoryDataplane) -> None:
    ok(
        seeded,
        "--restore",
        stdin="-C\n-A -t 10.2.2.3:80 -s wrr\n-D -t 10.2.2.3:80\n-A -t 10.2.2.4:80 -s rr\n",
    )
    assert ok(seeded, "-S -n") == "-A -t 10.2.2.4:80 -s rr\n"


@pytest.mark.parametrize(
    ("bad", "status", "err"),
    [
        ("-a -t 10.2.2.3:80 -r 10.3.3.5 -i -w 70000", 2, "illegal weight specified"),
        ("-a -t 10.2.2.9:80 -r 10.3.3.5 -i", 255, "Service not defined"),
        ("-A -t 10.2.2.3:80 -s rr", 255, "Service already exists"),
        (
            "-a -t 10.2.2.3:80 -r 10.3.3.5 -g",
            2,
            "pyvsadm: forwarding method -g (gatewaying) is not supported yet:"
            " pyvs forwards in tunnel mode only (-i)",
        ),
        ("-A -t 10.2.2.3:81 -s lblcx", 255, "Scheduler or persistence engine not found"),
        (
            "-L -n",
            2,
            "pyvsadm: 'list' in -R input is not supported yet (only -A, -E, -D, -C, -a, -e and -d lines)",
        ),
        ("-R", 255, "Try `pyvsadm -h' or 'pyvsadm --help' for more information."),
        ("-x", 255, "Try `pyvsadm -h' or 'pyvsadm --help' for more information."),
        ("-C --bogus", 255, "--bogus: unknown option"),
    ],
)
def test_restore_with_a_bad_line_changes_nothing(
    seeded: MemoryDataplane, bad: str, status: int, err: str
) -> None:
    rules = f"-C\n-A -t 10.2.2.3:80 -s wrr\n-a -t 10.2.2.3:80 -r 10.3.3.9 -i\n{bad}\n-D -t 10.2.2.3:80\n"
    assert refused(seeded, "-R", stdin=rules) == (
        status,
        f"{err}\npyvsadm: -R stopped at line 4: no rule was restored\n",
    )
    assert ok(seeded, "-L -n") == SEED_LISTING


def test_restore_of_nothing_commits_nothing(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-R", stdin="\n# nothing\n   \n") == ""
    assert seeded.commits == 2


# -- help and version -----------------------------------------------------------------------


def test_help_needs_no_dataplane() -> None:
    out = io.StringIO()
    assert run(parse(["-h"]), None, stdout=out) == 0
    text = out.getvalue()
    assert text.startswith("pyvsadm v0.1.0 (ipvsadm v1.31 syntax, IPVS v1.2.1)\nUsage:\n")
    assert "  --add-service     -A        add virtual service with options\n" in text
    assert "  --list            -L|-l     list the table\n" in text
    assert "  --tcp-service  -t service-address   service-address is host[:port]\n" in text
    assert "  --numeric      -n                   numeric output of addresses and ports\n" in text
    assert "  --connection   -c                   output of current IPVS connections\n" in text


def test_version() -> None:
    out = io.StringIO()
    assert run(parse(["--version"]), None, stdout=out) == 0
    assert out.getvalue() == "pyvsadm v0.1.0 (ipvsadm v1.31 syntax, IPVS v1.2.1)\n"


# -- main ------------------------------------------------------------------------------------


class ClosingDataplane(MemoryDataplane):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_main_opens_runs_and_closes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataplane = ClosingDataplane()
    monkeypatch.setattr(ipvsadm, "open_dataplane", lambda: dataplane)
    for line in SEED:
        assert ipvsadm.main(line.split()) == 0
    assert ipvsadm.main(["-L", "-n"]) == 0
    assert capsys.readouterr() == (SEED_LISTING, "")
    assert dataplane.closed == 3
    assert ipvsadm.main(["-L", "-n", "-c"]) == 0
    assert capsys.readouterr() == (CONNECTION_TITLE, "")
    assert dataplane.closed == 4


def test_main_reports_errors_like_ipvsadm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataplane = ClosingDataplane()
    monkeypatch.setattr(ipvsadm, "open_dataplane", lambda: dataplane)
    assert ipvsadm.main(["-A", "-t", "10.2.2.3:80", "-s", "rr"]) == 0
    assert ipvsadm.main(["-A", "-t", "10.2.2.3:80", "-s", "rr"]) == 255
    assert capsys.readouterr() == ("", "Service already exists\n")
    assert ipvsadm.main(["-A", "-t", "10.2.2.3:80", "-s", "rr", "-w", "1"]) == 2
    assert capsys.readouterr() == ("", "Illegal 'weight' option with the 'add-service' command\n")


def test_main_parses_before_opening(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_dataplane() -> MemoryDataplane:
        raise AssertionError("the data plane must not be opened")

    monkeypatch.setattr(ipvsadm, "open_dataplane", no_dataplane)
    assert ipvsadm.main(["--bogus"]) == 255
    assert capsys.readouterr().err == "Try `pyvsadm -h' or 'pyvsadm --help' for more information.\n"
    assert ipvsadm.main(["-h"]) == 0
    assert capsys.readouterr().out.startswith("pyvsadm v0.1.0")


def test_main_without_a_dataplane(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> MemoryDataplane:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/sys/fs/bpf/pyvs")

    monkeypatch.setattr(ipvsadm, "open_dataplane", missing)
    assert ipvsadm.main(["-L", "-n"]) == 2
    assert capsys.readouterr() == (
        "",
        "pyvsadm: cannot open the pyvs data plane: [Errno 2] No such file or directory: '/sys/fs/bpf/pyvs'\n",
    )


def test_main_takes_the_program_name_from_argv0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/sbin/lvsadm", "-n"])
    assert ipvsadm.main() == 255
    assert capsys.readouterr().err == "Try `lvsadm -h' or 'lvsadm --help' for more information.\n"


# -- scheduler flags (-b) ---------------------------------------------------------------

def test_sched_flags_are_listed_and_saved_as_ipvsadm_prints_them(dp: MemoryDataplane) -> None:
    ok(dp, "-A -t 10.2.2.3:80 -s sh -b sh-port,sh-fallback -p 60")
    ok(dp, "-A -t 10.2.2.4:80 -s rr -b flag-3,flag-1")
    ok(dp, "-A -t 10.2.2.5:80 -s dh")
    listing = ok(dp, "-L -n").splitlines()[3:]
    assert listing == [
        "TCP  10.2.2.3:80 sh (sh-fallback,sh-port) persistent 60",
        "TCP  10.2.2.4:80 rr (flag-1,flag-3)",
        "TCP  10.2.2.5:80 dh",
    ]
    saved = ok(dp, "-S -n")
    assert saved.splitlines() == [
        "-A -t 10.2.2.3:80 -s sh -p 60 -b sh-fallback,sh-port",
        "-A -t 10.2.2.4:80 -s rr -b flag-1,flag-3",
        "-A -t 10.2.2.5:80 -s dh",
    ]
    ok(dp, "-C")
    ok(dp, "-R", stdin=saved)
    assert ok(dp, "-S -n") == saved


def test_editing_a_service_without_b_clears_its_flags(dp: MemoryDataplane) -> None:
    ok(dp, "-A -t 10.2.2.3:80 -s sh -b sh-port")
    ok(dp, "-E -t 10.2.2.3:80 -s sh")  # the kernel takes the flags the command gives: none
    assert ok(dp, "-S -n") == "-A -t 10.2.2.3:80 -s sh\n"


def test_persistence_netmask_is_listed_and_saved_as_ipvsadm_prints_it(dp: MemoryDataplane) -> None:
    ok(dp, "-A -t 10.2.2.3:80 -s rr -p 60 -M 255.255.255.0")
    ok(dp, "-A -t 10.2.2.4:80 -s rr -M 255.255.0.0")  # kept, but shown only with -p, as ipvsadm does
    assert ok(dp, "-L -n").splitlines()[3:] == [
        "TCP  10.2.2.3:80 rr persistent 60 mask 255.255.255.0",
        "TCP  10.2.2.4:80 rr",
    ]
    saved = ok(dp, "-S -n")
    assert saved.splitlines() == ["-A -t 10.2.2.3:80 -s rr -p 60 -M 255.255.255.0", "-A -t 10.2.2.4:80 -s rr"]
    ok(dp, "-E -t 10.2.2.3:80 -s rr -p 60")  # -E without -M: back to one template per client
    assert ok(dp, "-S -n").splitlines()[0] == "-A -t 10.2.2.3:80 -s rr -p 60"


def test_one_packet_scheduling_is_listed_and_saved_as_ipvsadm_prints_it(dp: MemoryDataplane) -> None:
    ok(dp, "-A -u 10.2.2.3:53 -s rr -o -p 60 -M 255.255.0.0 -b flag-2")
    assert ok(dp, "-L -n").splitlines()[3:] == [
        "UDP  10.2.2.3:53 rr (flag-2) persistent 60 mask 255.255.0.0 ops"]
    assert ok(dp, "-S -n") == "-A -u 10.2.2.3:53 -s rr -p 60 -M 255.255.0.0 -o -b flag-2\n"
    assert refused(dp, "-E -t 10.2.2.3:80 -s rr -o") == (
        2, "One-Packet Scheduling is only for UDP virtual services\n")


def test_the_other_listings_as_ipvsadm_prints_them(seeded: MemoryDataplane) -> None:
    assert ok(seeded, "-L -n --thresholds") == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n"
        "  -> RemoteAddress:Port\n"
        "TCP  10.2.2.3:80 rr\n"
        "  -> 10.3.3.3:80                  0          0          0          0         \n"
    )
    assert ok(seeded, "-L -n --persistent-conn") == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n"
        "  -> RemoteAddress:Port\n"
        "TCP  10.2.2.3:80 rr\n"
        "  -> 10.3.3.3:80                  1         0           0          0         \n"
    )
    assert ok(seeded, "-L --timeout") == "Timeout (tcp tcpfin udp): 900 120 300\n"
    assert ok(seeded, "--set 0 60 0") == ""  # 0: unchanged, as IPVS
    assert ok(seeded, "-L --timeout") == "Timeout (tcp tcpfin udp): 900 60 300\n"
    assert ok(seeded, "--set 3600 0 30") == ""
    assert ok(seeded, "-L --timeout") == "Timeout (tcp tcpfin udp): 3600 60 30\n"
    assert ok(seeded, "-L --daemon") == ""  # no sync daemon runs
    assert ok(seeded, "-L -n -c --persistent-conn") == (
        "IPVS connection entries\n"
        "pro expire state       source             virtual            "
        "destination        pe name          pe_data\n"
    )


def test_thresholds_are_kept_listed_and_not_saved_as_ipvsadm_does(dp: MemoryDataplane) -> None:
    ok(dp, "-A -t 10.2.2.3:80")  # wlc, ipvsadm's default
    ok(dp, "-a -t 10.2.2.3:80 -r 10.3.3.3 -i -x 100 -y 50")
    ok(dp, "-a -t 10.2.2.3:80 -r 10.3.3.4 -i -w 2 -x 7")
    assert ok(dp, "-L -n --thresholds").splitlines()[3:] == [
        "TCP  10.2.2.3:80 wlc",
        "  -> 10.3.3.3:80                  100        50         0          0         ",
        "  -> 10.3.3.4:80                  7          0          0          0         ",
    ]
    assert ok(dp, "-S -n").splitlines() == [  # ipvsadm -S saves no thresholds
        "-A -t 10.2.2.3:80 -s wlc", "-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 1 --tun-type ipip",
        "-a -t 10.2.2.3:80 -r 10.3.3.4:80 -i -w 2 --tun-type ipip"]
    ok(dp, "-e -t 10.2.2.3:80 -r 10.3.3.3 -i -w 3")  # an edit without -x/-y sets them to 0
    assert ok(dp, "-L -n --thresholds").splitlines()[4] == (
        "  -> 10.3.3.3:80                  0          0          0          0         ")


def test_nosort_lists_real_servers_newest_first(dp: MemoryDataplane) -> None:
    ok(dp, "-A -t 10.2.2.3:80 -s rr")
    for real in ("10.3.3.5", "10.3.3.3", "10.3.3.4"):
        ok(dp, f"-a -t 10.2.2.3:80 -r {real} -i")
    names = [line.split()[1] for line in ok(dp, "-L -n --nosort").splitlines()[4:]]
    assert names == ["10.3.3.4:80", "10.3.3.3:80", "10.3.3.5:80"]  # the kernel's list order
    names = [line.split()[1] for line in ok(dp, "-L -n").splitlines()[4:]]
    assert names == ["10.3.3.3:80", "10.3.3.4:80", "10.3.3.5:80"]
