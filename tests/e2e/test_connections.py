"""Connection counts, states and thresholds through the director, with real clients
and servers in namespaces (both data planes): what `pyvsadm -L` shows and what the
schedulers that read the counts do with them."""

from __future__ import annotations

import time

import pytest

from pyvs.lab.seed import KeepAliveClient, SeedLab

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

REAL1, REAL2, REAL3 = "10.3.3.3", "10.3.3.4", "10.3.3.5"


def add(lab: SeedLab, scheduler: str, reals: list[tuple[str, list[str]]]) -> None:
    lab.pyvsadm("-A", "-t", lab.service, *(["-s", scheduler] if scheduler else []))
    for address, options in reals:
        lab.pyvsadm("-a", "-t", lab.service, "-r", address, "-i", *options)


def conns(lab: SeedLab) -> dict[str, tuple[int, int]]:
    """real server -> (ActiveConn, InActConn), read off `pyvsadm -L -n`."""
    table = {}
    for line in lab.pyvsadm("-L", "-n").stdout.splitlines():
        words = line.split()
        if words[:1] == ["->"] and words[1][0].isdigit():
            table[words[1].rsplit(":", 1)[0]] = (int(words[4]), int(words[5]))
    return table


def hold(lab: SeedLab, count: int) -> list[tuple[KeepAliveClient, str]]:
    held = []
    for _ in range(count):
        client = lab.keepalive()
        held.append((client, client.request()))
    return held


def wait_for(condition: object, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.2)


def test_lc_sends_each_held_connection_to_the_least_loaded_real_server(three_reals: SeedLab) -> None:
    lab = three_reals
    add(lab, "lc", [(REAL1, []), (REAL2, []), (REAL3, [])])
    held = hold(lab, 3)
    try:
        # Newest first on ties, then the one without a connection.
        assert [real for _, real in held] == [REAL3, REAL2, REAL1]
        assert conns(lab) == {REAL1: (1, 0), REAL2: (1, 0), REAL3: (1, 0)}
        held[1][0].close()  # REAL2's connection closes: FIN_WAIT, inactive (1 against 256)
        wait_for(lambda: conns(lab)[REAL2] == (0, 1))
        assert conns(lab)[REAL2] == (0, 1)
        assert lab.new_connections(1) == [REAL2]
    finally:
        for client, _ in held:
            client.close()


def test_wlc_divides_connections_by_weight(three_reals: SeedLab) -> None:
    lab = three_reals
    add(lab, "", [(REAL1, ["-w", "3"]), (REAL2, ["-w", "1"])])  # wlc: ipvsadm's default
    assert "wlc" in lab.pyvsadm("-L", "-n").stdout
    answers = lab.new_connections(40)
    # Each finished connection stays inactive (FIN_WAIT, 120 s): wlc keeps inactive / weight
    # level, newest first on ties, as ip_vs_wlc.c does: REAL2, then REAL1 three times, ...
    assert answers == [REAL2, REAL1, REAL1, REAL1] * 10
    assert conns(lab) == {REAL1: (0, 30), REAL2: (0, 10)}


def test_an_upper_threshold_stops_new_connections_and_the_lower_lets_them_back(three_reals: SeedLab) -> None:
    lab = three_reals
    lab.pyvsadm("--set", "0", "2", "0")  # closed connections expire in 2 s (FIN_WAIT)
    add(lab, "fo", [(REAL1, ["-w", "1"]), (REAL2, ["-w", "2", "-x", "2", "-y", "1"])])
    held = hold(lab, 2)
    try:
        assert [real for _, real in held] == [REAL2, REAL2]  # fo: the highest weight
        assert lab.new_connections(3) == [REAL1] * 3  # REAL2 has 2 connections: overloaded
        assert "2          1          2          0" in lab.pyvsadm("-L", "-n", "--thresholds").stdout
        held[0][0].close()  # 1 left on REAL2, not below -y 1: still overloaded
        wait_for(lambda: conns(lab)[REAL2] == (1, 0))
        assert conns(lab)[REAL2] == (1, 0)
        assert lab.new_connections(1) == [REAL1]
        held[1][0].close()  # none left: below -y, REAL2 takes new connections again
        wait_for(lambda: conns(lab)[REAL2] == (0, 0))
        assert lab.new_connections(2) == [REAL2] * 2
    finally:
        for client, _ in held:
            client.close()


def test_the_connection_listing_shows_a_real_connections_states(three_reals: SeedLab) -> None:
    lab = three_reals
    add(lab, "rr", [(REAL1, [])])
    [(client, _)] = hold(lab, 1)
    try:
        listing = lab.pyvsadm("-L", "-n", "-c").stdout.splitlines()
        assert listing[0] == "IPVS connection entries"
        [line] = [row for row in listing[2:] if f":{client.connected_port} " in row]
        assert line.split()[0] == "TCP" and line.split()[2] == "ESTABLISHED"
        assert line.split()[1] in {"15:00", "14:59", "14:58"}  # 900 s, just started
    finally:
        client.close()
    def state() -> str:
        rows = [row for row in lab.pyvsadm("-L", "-n", "-c").stdout.splitlines()
                if f":{client.connected_port} " in row]
        return rows[0].split()[2] if rows else ""
    wait_for(lambda: state() == "FIN_WAIT")
    assert state() == "FIN_WAIT"  # the client's FIN; its last ACK keeps FIN_WAIT, as in IPVS


def test_rates_show_the_connections_and_packets_per_second(three_reals: SeedLab) -> None:
    lab = three_reals
    add(lab, "rr", [(REAL1, []), (REAL2, [])])
    assert set(lab.new_connections(30)) == {REAL1, REAL2}

    def service_rates() -> list[int]:
        lines = lab.pyvsadm("-L", "-n", "--rate", "--exact").stdout.splitlines()
        assert lines[1].split()[-5:] == ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]
        return [int(word) for word in lines[3].split()[2:]]

    wait_for(lambda: service_rates()[0] > 0)  # within an estimation (2 s) of the connections
    cps, inpps, outpps, inbps, outbps = service_rates()
    assert cps > 0 and inpps > cps and inbps > inpps and outpps == outbps == 0  # no replies seen
