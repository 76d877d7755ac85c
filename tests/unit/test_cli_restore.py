"""pyvsadm -R's quick path against its general path (pure).

restore() applies the two line shapes of `ipvsadm -S -n` without parse();
every other line, and every such line it cannot plainly apply, goes through
parse() and edit.apply(). Random rule files, with lines of both shapes that
are legal, illegal or nearly so, mixed with other commands, must give the same
configuration (real servers in the same order) or the same error at the same
line either way.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.cli.address import StaticResolver
from pyvs.cli.errors import message
from pyvs.cli.restore import RestoreError, restore
from pyvs.control.config import Config
from pyvs.model.enums import Protocol, Scheduler
from pyvs.model.service import RealServer, ServiceKey, VirtualService

IP = ipaddress.IPv4Address
RESOLVER = StaticResolver(hosts={"web": IP("10.2.2.3")}, services={("http", Protocol.TCP): 80})
VIPS = ("10.2.2.3", "10.2.2.4", "10.2.2.04", "10.2.2.3 ", "010.2.2.3", "0.2.2.3", "web")
PORTS = ("80", "81", "0", "65535", "65536", "080", "+80", "http", "9999999")
REALS = ("10.3.3.3", "10.3.3.4", "224.0.0.1", "0.1.1.1", "255.255.255.255", "10.3.3.256", "10.3.3")
SCHEDS = ("rr", "wrr", "wlc", "lc", "bogus")
NUMBERS = ("0", "1", "3", "65535", "65536", "007", "2678400", "2678401", "-1")


def _service_line(draw: st.DrawFn) -> str:
    proto = draw(st.sampled_from("tu"))
    line = f"-A -{proto} {draw(st.sampled_from(VIPS))}:{draw(st.sampled_from(PORTS))}"
    line += f" -s {draw(st.sampled_from(SCHEDS))}"
    if draw(st.booleans()):
        line += f" -p {draw(st.sampled_from(NUMBERS))}"
    return line


def _server_line(draw: st.DrawFn) -> str:
    proto = draw(st.sampled_from("tu"))
    real = draw(st.sampled_from(REALS))
    if draw(st.booleans()):
        real += ":" + draw(st.sampled_from(PORTS))
    return (f"-a -{proto} {draw(st.sampled_from(VIPS))}:{draw(st.sampled_from(PORTS))} -r {real}"
            f" -i -w {draw(st.sampled_from(NUMBERS))}")


OTHERS = (
    "", "# a comment", "-C", "-D -t 10.2.2.3:80", "-E -t 10.2.2.3:80 -s rr",
    "-e -t 10.2.2.3:80 -r 10.3.3.3 -i -w 5", "-d -t 10.2.2.3:80 -r 10.3.3.4",
    "-a -t 10.2.2.3:80 -r 10.3.3.5 -g", "-a  -t 10.2.2.3:80 -r 10.3.3.6 -i -w 2",
    "ipvsadm -a -t 10.2.2.3:80 -r 10.3.3.7 -i -w 2", "-a -t 10.2.2.3:80 -r 10.3.3.8 -w 2 -i",
    "-A -t 10.2.2.5:80", "-L -n", "-R",
    # services with what the quick lines do not say: kept when their real servers are added
    "-A -t 10.2.2.4:80 -s sh -b sh-port,sh-fallback", "-E -t 10.2.2.3:80 -s rr -p 60 -M 255.255.255.0",
    "-A -u 10.2.2.4:80 -s rr -o", "-E -u 10.2.2.3:80 -s mh -b mh-port",
)


@st.composite
def rule_files(draw: st.DrawFn) -> list[str]:
    kinds = st.sampled_from(("service", "server", "server", "other"))
    lines = []
    for kind in draw(st.lists(kinds, max_size=40)):
        if kind == "service":
            lines.append(_service_line(draw))
        elif kind == "server":
            lines.append(_server_line(draw))
        else:
            lines.append(draw(st.sampled_from(OTHERS)))
    return [line + "\n" for line in lines]


START: Config = {
    ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80): VirtualService(
        ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80), Scheduler.WRR, None,
        (RealServer(IP("10.3.3.3"), 80, 2),)),
}


def _outcome(lines: list[str], start: Config, *, fast: bool) -> object:
    try:
        config = restore(lines, start, fast=fast, resolver=RESOLVER)
    except RestoreError as failed:
        return failed.number, message(failed.error, "pyvsadm")
    return dict(config)


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(rule_files(), st.sampled_from([{}, START]))
def test_the_quick_path_restores_what_the_general_path_restores(lines: list[str], start: Config) -> None:
    assert _outcome(lines, start, fast=True) == _outcome(lines, start, fast=False)


def test_the_quick_path_takes_the_lines_of_a_save() -> None:
    lines = ["-A -t 10.2.2.3:80 -s wrr -p 300\n", "-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 2\n",
             "-a -t 10.2.2.3:80 -r 10.3.3.4 -i -w 0\n", "-A -u 10.2.2.3:53 -s rr\n",
             "-a -u 10.2.2.3:53 -r 10.3.3.3:53 -i -w 1\n"]
    got = restore(lines, {})
    assert got == restore(lines, {}, fast=False)
    tcp = got[ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)]
    assert tcp.persistence_timeout == 300
    assert [(str(r.address), r.port, r.weight) for r in tcp.reals] == [
        ("10.3.3.3", 80, 2), ("10.3.3.4", 80, 0)]


def test_a_failing_line_is_named_whichever_path_it_takes() -> None:
    lines = ["-A -t 10.2.2.3:80 -s rr\n", "-a -t 10.2.2.3:80 -r 10.3.3.3 -i -w 1\n",
             "-a -t 10.2.2.3:80 -r 10.3.3.3:8080 -i -w 4\n"]
    for fast in (True, False):
        try:
            restore(lines, {}, fast=fast)
        except RestoreError as failed:
            assert (failed.number, message(failed.error, "pyvsadm")) == (3, "Destination already exists")
        else:
            raise AssertionError("a duplicate real server was restored")


def test_quick_lines_keep_what_the_service_line_said() -> None:
    lines = ["-A -t 10.2.2.3:80 -s sh -b sh-port -p 60 -M 255.255.255.0\n",
             "-a -t 10.2.2.3:80 -r 10.3.3.3:80 -i -w 1\n",
             "-A -u 10.2.2.3:53 -s rr -o\n", "-a -u 10.2.2.3:53 -r 10.3.3.3:53 -i -w 1\n"]
    restored = restore(lines, {})
    assert restored == restore(lines, {}, fast=False)
    tcp = restored[ServiceKey(Protocol.TCP, IP("10.2.2.3"), 80)]
    assert (tcp.sched_flags, str(tcp.netmask), len(tcp.reals)) == (0x10, "255.255.255.0", 1)
    assert restored[ServiceKey(Protocol.UDP, IP("10.2.2.3"), 53)].one_packet
