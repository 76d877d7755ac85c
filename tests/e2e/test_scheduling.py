"""Scheduling through the director with two real servers: rr, wrr, weight 0, deletion
(on both data planes: the two_reals fixture is parametrized over them)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from pyvs.lab.seed import IFACE, VIP, SeedLab, add_service, served_by

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

REAL1, REAL2 = "10.3.3.3", "10.3.3.4"


def curl_served_by(lab: SeedLab) -> str:
    done = lab.curl("/")
    assert done.returncode == 0, f"curl failed: {done.stderr.strip()}"
    return served_by(done.stdout)


def test_rr_alternates(two_reals: SeedLab) -> None:
    add_service(two_reals, "rr")
    answers = [curl_served_by(two_reals) for _ in range(6)]
    first, second = answers[0], answers[1]
    assert {first, second} == {REAL1, REAL2}
    assert answers == [first, second] * 3


def test_wrr_weights(two_reals: SeedLab) -> None:
    add_service(two_reals, "wrr", weights=[3, 1])
    answers = two_reals.new_connections(100)
    assert len(answers) == 100
    assert Counter(answers) == {REAL1: 75, REAL2: 25}


def test_weight_zero_quiescent(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    client = lab.keepalive()
    try:
        kept = client.request()
        assert kept in (REAL1, REAL2)
        other = REAL2 if kept == REAL1 else REAL1
        lab.pyvsadm("-e", "-t", lab.service, "-r", kept, "-i", "-w", "0")
        assert lab.new_connections(10) == [other] * 10
        assert client.request() == kept  # same connection, still answered by the quiesced server
    finally:
        client.close()


def test_delete_real(two_reals: SeedLab) -> None:
    lab = two_reals
    add_service(lab, "rr")
    assert set(lab.new_connections(4)) == {REAL1, REAL2}
    lab.pyvsadm("-d", "-t", lab.service, "-r", REAL2)
    assert lab.new_connections(10) == [REAL1] * 10
    assert REAL2 not in lab.pyvsadm("-L", "-n").stdout


def test_persistence_netmask_keeps_a_subnet_together_until_it_expires(two_reals: SeedLab) -> None:
    lab = two_reals
    lab.pyvsadm("-A", "-t", lab.service, "-s", "rr", "-p", "2", "-M", "255.255.255.0")
    for address in lab.real_addresses:
        lab.pyvsadm("-a", "-t", lab.service, "-r", address, "-i")
    lab.client.addr_add(IFACE, "10.1.1.77/24")  # a second client in the first one's /24

    def from_(source: str) -> str:
        done = lab.client.run(["curl", "-sS", "--max-time", "5", "--interface", source,
                               f"http://{VIP}/"], check=False, timeout=15)
        assert done.returncode == 0, done.stderr
        return served_by(done.stdout)

    first = from_("10.1.1.1")
    assert [from_(source) for source in ["10.1.1.77", "10.1.1.1", "10.1.1.77"] * 3] == [first] * 9
    assert "persistent 2 mask 255.255.255.0" in lab.pyvsadm("-L", "-n").stdout
    templates = [line for line in lab.pyvsadm("-L", "-n", "-c").stdout.splitlines() if "NONE" in line]
    assert len(templates) == 1 and "10.1.1.0:0" in templates[0]
    time.sleep(3)  # the template expires: rr takes the /24 to the other real server
    assert from_("10.1.1.77") == (REAL2 if first == REAL1 else REAL1)
