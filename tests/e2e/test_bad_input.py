# ruff: noqa: E501 - one case per line: a command line and its verbatim message
"""Malformed and illegal pyvsadm commands change nothing in a director's pinned state.

Each case runs the real `pyvsadm` in a namespace whose director has services,
real servers, thresholds and timeouts pinned, and checks its exact stderr line
(or lines), an empty stdout, its exit status, no "Traceback", and that
`pyvsadm -S -n` prints the same rules before and after it (`-L --timeout` the
same timeouts, after each --set and once all cases ran). The messages and statuses are ipvsadm
1.31's (its parse_* functions and fail() calls, ipvs_strerror() for what the
kernel refuses), except the lines marked "pyvs's own", for what pyvs does not
do (IPv6, forwarding methods other than -i, -L inside -R).

`-R` with a bad line: pyvs is all or nothing. The lines before the bad one
are not applied (ipvsadm applies them; on a line the kernel refuses it even
goes on with the next ones), pyvs prints the bad line's message, then
`pyvsadm: -R stopped at line N: no rule was restored` (README, "Where pyvsadm
deliberately differs").

Numbers of thousands of digits (beyond Python's 4,300-digit limit of int())
are out of range, as strtol() finds them. The unit tests (tests/unit/
test_cli_parse.py, test_cli_legality.py) check most messages without a data
plane; the cases here are chosen for the pinned state: every kind of bad
value once, and what only the data plane can refuse (duplicates, what does
not exist).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pyvs.lab.commands import pyvs_env, pyvsadm_argv
from pyvs.lab.netns import Namespace, Topology
from pyvs.lab.seed import ensure_bpffs, release_pyvs_state

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

SETUP = [
    "-A -t 10.9.9.1:80 -s wrr",
    "-a -t 10.9.9.1:80 -r 10.3.3.3 -i -w 2",
    "-a -t 10.9.9.1:80 -r 10.3.3.4 -i -w 0 -x 100 -y 50",
    "-A -u 10.9.9.2:53 -s sh -b sh-port -p 60 -M 255.255.255.0",
    "-a -u 10.9.9.2:53 -r 10.3.3.5 -i",
    "--set 100 20 30",
]
TIMEOUTS = "Timeout (tcp tcpfin udp): 100 20 30\n"

BIG = "9" * 5000  # more digits than Python's int() reads (4,300)
ZEROS = "0" * 5000  # leading zeros: no digits of the number for strtol()
LONG = "a" * 100_000  # below Linux's limit of one argument (128 KiB)
TRY_HELP = "Try `pyvsadm -h' or 'pyvsadm --help' for more information."
ILLEGAL_VS = "illegal virtual server address[:port] specified"
ILLEGAL_RS = "illegal real server address[:port] specified"
NOT_UNICAST = "Invalid operation.  Possibly wrong module version, address not unicast, ..."


def stopped(line: int) -> str:
    return f"pyvsadm: -R stopped at line {line}: no rule was restored"


@dataclass(frozen=True)
class Case:
    argv: list[str]
    stderr: str  # every line, without the last newline
    status: int
    stdin: str | None = None

    @property
    def id(self) -> str:
        words = " ".join(self.argv) + (" <<< " + self.stdin if self.stdin else "")
        return words if len(words) <= 70 else words[:60] + f"...[{len(words)} chars]"


def case(line: str, stderr: str, status: int) -> Case:
    return Case(line.split(), stderr, status)


def restore(stdin: str, stderr: str, status: int, line: int) -> Case:
    return Case(["-R"], f"{stderr}\n{stopped(line)}", status, stdin)


CASES = [
    # addresses and ports
    case("-A -t 10.9.9.300:80 -s rr", ILLEGAL_VS, 2),
    case("-A -t :80 -s rr", ILLEGAL_VS, 2),
    case("-A -t 10.9.9.5:65536 -s rr", ILLEGAL_VS, 2),
    case("-A -t 10.9.9.5:-1 -s rr", ILLEGAL_VS, 2),
    case("-A -t 10.9.9.5:0 -s rr", "Zero port specified for non-persistent service", 2),
    case("-A -t 10.9.9.5 -s rr", "Zero port specified for non-persistent service", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6:70000 -i", ILLEGAL_RS, 2),
    case("-a -t 10.9.9.1:80 -r 224.0.0.1 -i", NOT_UNICAST, 255),
    case("-a -t 10.9.9.1:80 -r 0.0.0.0 -i", NOT_UNICAST, 255),
    case("-A -t [::1]:80 -s rr", "pyvsadm: IPv6 address '[::1]:80' is not supported yet", 2),  # pyvs's own
    # weights, thresholds, persistence, timeouts
    case("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w 65536", "illegal weight specified", 2),
    case("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w -1", "illegal weight specified", 2),
    case("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w 1.5", "illegal weight specified", 2),
    case("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -x 2147483648", "illegal u_threshold specified", 2),
    case("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -y x", "illegal l_threshold specified", 2),
    case("-E -t 10.9.9.1:80 -s rr -p 0", "invalid timeout value `0' specified", 2),
    case("-E -t 10.9.9.1:80 -s rr -p 2678401", "invalid timeout value `2678401' specified", 2),
    case("--set 1 2", "--set option requires 3 timeout values", 2),
    case("--set 1 1 x", "invalid timeout value `x' specified", 2),
    case("--set 1 1 2678401", "invalid timeout value `2678401' specified", 2),
    # numbers of thousands of digits
    case(f"-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w {BIG}", "illegal weight specified", 2),
    case(f"-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w {ZEROS}65536", "illegal weight specified", 2),
    case(f"-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w -{BIG}", "illegal weight specified", 2),
    case(f"-e -t 10.9.9.1:80 -r 10.3.3.3 -i -x {BIG}", "illegal u_threshold specified", 2),
    case(f"-e -t 10.9.9.1:80 -r 10.3.3.3 -i -y {BIG}", "illegal l_threshold specified", 2),
    case(f"-A -t 10.9.9.5:{BIG} -s rr", ILLEGAL_VS, 2),
    case(f"-a -t 10.9.9.1:80 -r 10.3.3.6:{BIG} -i", ILLEGAL_RS, 2),
    case(f"-E -t 10.9.9.1:80 -s rr -p {BIG}", f"invalid timeout value `{BIG}' specified", 2),
    case(f"--set {BIG} 1 1", f"invalid timeout value `{BIG}' specified", 2),
    case(f"--set 1 1 -{BIG}", f"-{BIG}: unknown option", 255),  # popt reads it as options
    case(f"-A -f {BIG}", f"invalid fwmark value `{BIG}' specified", 2),
    case(f"-a -t 10.9.9.1:80 -r 10.3.3.6 -i --tun-port {BIG}", "illegal tunnel port specified", 2),
    case(f"-A -t 10.9.9.5:80 -p -M {BIG}", "illegal virtual server persistent mask specified", 2),
    case(f"-a -t 10.9.9.1:{ZEROS}80 -r 10.3.3.3 -i", "Destination already exists", 255),  # read as port 80
    # very long arguments
    case(f"-A -t {LONG}:80 -s rr", ILLEGAL_VS, 2),
    case(f"-a -t 10.9.9.1:80 -r {LONG} -i", ILLEGAL_RS, 2),
    case(f"-E -t 10.9.9.1:80 -s {LONG}", "Scheduler or persistence engine not found", 255),  # the kernel sees 15 of its letters
    case(f"-E -t 10.9.9.2:53 -s sh -b {LONG}", f"invalid scheduler flag `{LONG[:127]}'", 2),  # ipvsadm keeps 127 characters
    case(f"-L --{LONG}", f"--{LONG}: unknown option", 255),
    # schedulers and flags
    case("-A -t 10.9.9.5:80 -s nosuch", "Scheduler or persistence engine not found", 255),
    case("-E -t 10.9.9.1:80 -s wrr -b sh-port", "incompatible scheduler flag `sh-port'", 2),
    # illegal option combinations
    case("-A -t 10.9.9.5:80 -s rr -w 3", "Illegal 'weight' option with the 'add-service' command", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6 -i -s rr", "Illegal 'scheduler' option with the 'add-server' command", 2),
    case("-A -t 10.9.9.5:80 -s rr -o", "One-Packet Scheduling is only for UDP virtual services", 2),
    case("-A -C", "invalid option `-C'", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6 -i -w 1 -w 2", "multiple 'weight' options specified", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6 -i --tun-port 5", "Illegal 'tun-port' option with the 'ipip' tunnel type", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6 -i -w 1 extra", "unexpected argument extra", 2),
    case("-a -t 10.9.9.1:80 -r 10.3.3.6 -g",
         "pyvsadm: forwarding method -g (gatewaying) is not supported yet: pyvs forwards in tunnel mode only (-i)", 2),  # pyvs's own
    case("--bogus", TRY_HELP, 255),
    Case(["-L", "-n", "\udcff"], "unexpected argument \udcff", 2),  # the byte 0xff, no UTF-8, as it came
    restore("-A -t 10.9.9.8:80 -s rr\n-A -t 10.9.9.9:80 -s \udcfe\n", "Scheduler or persistence engine not found", 255, 2),
    case("-L -t 10.9.9.1:80 --timeout",
         "The option 'timeout' conflicts with the 'service-address' option in the 'list' command", 2),
    # duplicates
    case("-A -t 10.9.9.1:80 -s rr", "Service already exists", 255),
    case("-A -u 10.9.9.2:53 -s sh -p 60", "Service already exists", 255),
    case("-a -t 10.9.9.1:80 -r 10.3.3.3 -i -w 7", "Destination already exists", 255),
    # what does not exist
    case("-D -t 10.9.9.7:80", "No such service", 255),
    case("-D -u 10.9.9.1:80", "No such service", 255),  # the address and port of a TCP service
    case("-E -t 10.9.9.7:80 -s rr", "No such service", 255),
    case("-d -t 10.9.9.1:80 -r 10.3.3.9", "No such destination", 255),
    case("-e -t 10.9.9.1:80 -r 10.3.3.9 -i -w 5", "No such destination", 255),
    case("-d -t 10.9.9.7:80 -r 10.3.3.3", "Service not defined", 255),
    case("-a -t 10.9.9.7:80 -r 10.3.3.3 -i", "Service not defined", 255),
    case("-e -t 10.9.9.7:80 -r 10.3.3.3 -i", "Service not defined", 255),
    case("-Z -t 10.9.9.7:80", "No such service", 255),
    case("-L -t 10.9.9.7:80", "No such service", 1),
    # -R: garbage, and valid lines followed by a bad one (nothing of them is applied)
    restore("-A -t 10.9.9.8:80 -s rr\n-A -t 10.9.9.9:80 -s nosuch\n", "Scheduler or persistence engine not found", 255, 2),
    restore("-A -t 10.9.9.8:80 -s rr\n-A -t 10.9.9.8:80 -s wrr\n", "Service already exists", 255, 2),
    restore("-A -t 10.9.9.8:80 -s rr\n-a -t 10.9.9.8:80 -r 10.3.3.3 -i\n-a -t 10.9.9.8:80 -r 10.3.3.3 -i -w 2\n",
            "Destination already exists", 255, 3),
    restore("-C\n-A -t 10.9.9.8:80 -s rr\n-D -t 10.9.9.1:80\n", "No such service", 255, 3),  # -C of line 1 took it
    restore(f"-A -t 10.9.9.8:80 -s rr\n-a -t 10.9.9.8:80 -r 10.3.3.3 -i -w {BIG}\n", "illegal weight specified", 2, 2),
    restore("-A -t 10.9.9.8:80 -s rr\n-a -t 10.9.9.8:80 -r 10.3.3.3 -i -w 65536\n", "illegal weight specified", 2, 2),
    restore("-e -t 10.9.9.1:80 -r 10.3.3.3 -i -w 9\n-R\n", TRY_HELP, 255, 2),
    restore("-A -t 10.9.9.8:80 -s rr\n-L -n\n",
            "pyvsadm: 'list' in -R input is not supported yet (only -A, -E, -D, -C, -a, -e and -d lines)", 2, 2),  # pyvs's own
    restore("\x7fELF\x02\x01\x01garbage\x00\n", TRY_HELP, 255, 1),
    restore("-A -t 10.9.9.8:80 -s rr\n-A -t 10.9.9.9:80 -s rr -x 5\n",
            "Illegal 'u-threshold' option with the 'add-service' command", 2, 2),
    restore(f"-A -t 10.9.9.8:80 -s rr\n-a -t 10.9.9.8:80 -r {LONG} -i\n", ILLEGAL_RS, 2, 2),
]


def run(ns: Namespace, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ns.nsenter_argv([*pyvsadm_argv(), *argv]), env=pyvs_env(), input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
                          text=True, encoding="utf-8", errors="surrogateescape", timeout=60, check=False)


@pytest.fixture(scope="module")
def director() -> Iterator[tuple[Namespace, str]]:
    """A namespace whose director has SETUP pinned; yields it and its `pyvsadm -S -n`."""
    with Topology(prefix="pyvs-bad") as topology:
        ns = topology.add_namespace("director")
        ensure_bpffs()
        topology.on_close(lambda: release_pyvs_state(ns, []))
        for line in SETUP:
            done = run(ns, line.split())
            assert (done.returncode, done.stderr) == (0, ""), line
        saved = run(ns, ["-S", "-n"]).stdout
        assert len(saved.splitlines()) == 5
        yield ns, saved
        assert run(ns, ["-L", "--timeout"]).stdout == TIMEOUTS


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(director: tuple[Namespace, str], bad: Case) -> None:
    ns, saved = director
    done = run(ns, bad.argv, bad.stdin)
    assert "Traceback" not in done.stderr + done.stdout
    assert (done.stdout, done.stderr, done.returncode) == ("", bad.stderr + "\n", bad.status)
    assert run(ns, ["-S", "-n"]).stdout == saved
    if bad.argv[0] == "--set":
        assert run(ns, ["-L", "--timeout"]).stdout == TIMEOUTS
