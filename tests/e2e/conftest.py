"""Fixtures for the end-to-end tests: seed-lab topologies in namespaces of their own.

Every fixture builds its namespaces with names unique to the run
("pyvs-<role>-<random>") and removes them (with their processes and pinned
BPF state) when the test ends, whether it passed, failed or errored. Nothing
is added to the namespace pytest runs in.

seed_network
    The seed network only: client 10.1.1.1, router, director 10.2.2.2 with
    VIP 10.2.2.3, real server 10.3.3.3; plain routing checked by ping; no
    pyvs piece. Yields a SeedLab. Scope: function.
two_reals
    The seed lab with two real servers (10.3.3.3, 10.3.3.4): HTTP servers,
    `pyvs realserver up` on both, the director attached, and no virtual
    service yet (each test adds its own with `lab.pyvsadm`). Parametrized
    over the data planes (DATAPLANES): "xdp", the director's XDP program,
    and "python", the live Python forwarder (`pyvs director attach
    --dataplane python`); `lab.dataplane` says which. Yields a SeedLab.
    Scope: function.
three_reals
    The same with three real servers (10.3.3.3, 10.3.3.4, 10.3.3.5).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyvs.lab.seed import DATAPLANES, SeedLab, seed_topology
from tests.capabilities import require


@pytest.fixture
def seed_network() -> Iterator[SeedLab]:
    with seed_topology(reals=1, pyvs=False) as lab:
        yield lab


def _lab(request: pytest.FixtureRequest, reals: int) -> Iterator[SeedLab]:
    if request.param == "python":
        require("needs_nft")
    with seed_topology(reals=reals, services=False, dataplane=request.param) as lab:
        yield lab


@pytest.fixture(params=DATAPLANES, ids=[f"dataplane={d}" for d in DATAPLANES])
def two_reals(request: pytest.FixtureRequest) -> Iterator[SeedLab]:
    yield from _lab(request, 2)


@pytest.fixture(params=DATAPLANES, ids=[f"dataplane={d}" for d in DATAPLANES])
def three_reals(request: pytest.FixtureRequest) -> Iterator[SeedLab]:
    yield from _lab(request, 3)
