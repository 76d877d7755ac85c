"""Scheduling through the director with two real servers: rr, wrr, weight 0, deletion
(on both data planes: the two_reals fixture is parametrized over them)."""

from __future__ import annotations

from collections import Counter

import pytest

from pyvs.lab.seed import SeedLab, add_service, served_by

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
