"""The rate estimator (bpf/estimator.h) under BPF_PROG_TEST_RUN: counters in, IPVS's
estimates out, the same as pyvs.packet.pipeline.estimate_rates() makes of them."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator

import pytest

from pyvs.bpf import build
from pyvs.dataplane import libbpf, pins, xdp
from pyvs.dataplane.state import read_rates
from pyvs.model.enums import Scheduler
from pyvs.model.status import Rates
from pyvs.packet import abi
from pyvs.packet.pipeline import estimate_rates
from pyvs.packet.tables import DirectorMaps
from tests.bpf.conftest import Director
from tests.vectors.frames import REAL1, REAL2

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_bpf]
U32 = ctypes.c_uint32


@pytest.fixture
def estimator(director: Director) -> Iterator[libbpf.BpfObject]:
    with libbpf.BpfObject(build.object_path("estimator_xdp"), pin_root=pins.netns_dir()) as obj:
        xdp.size_like_pins(obj, pins.netns_dir())
        obj.load()
        yield obj


def estimate(obj: libbpf.BpfObject) -> None:
    xdp.run_once(obj, xdp.ESTIMATE_PROGRAM, "estimate")


def set_counters(maps: DirectorMaps, svc_id: int, real_id: int, conns: int, pkts: int, nbytes: int) -> None:
    value = abi.Counters(conns=conns, inpkts=pkts, inbytes=nbytes)
    maps.svc_stats.put_cpu0(U32(svc_id), value)
    maps.real_stats.put_cpu0(U32(real_id), value)


def test_one_estimation_is_a_quarter_of_the_last_two_seconds_rate(director: Director,
                                                                   estimator: libbpf.BpfObject) -> None:
    key = director.add_service(scheduler=Scheduler.WLC, reals=((REAL1, 1), (REAL2, 1)))
    maps = director.dataplane.maps
    svc_id = maps.services.get(abi.SvcKey.from_model(key)).id  # type: ignore[union-attr]
    real_id = min(director.dataplane.real_values)
    set_counters(maps, svc_id, real_id, 1000, 5000, 500_000)  # in the last 2 seconds
    estimate(estimator)
    # cps: (1000 << 9) >> 2 = 128000, read as (128000 + 0x1FF) >> 10 = 125 (500 per second, a
    # quarter of the way); inbps: (500000 << 4) >> 2 = 2000000, read as (+ 0xF) >> 5 = 62500
    assert read_rates(maps.svc_rates.get(U32(svc_id))) == Rates(125, 625, 0, 62500, 0)
    assert read_rates(maps.real_rates.get(U32(real_id))) == Rates(125, 625, 0, 62500, 0)
    estimate(estimator)  # nothing new: down by a quarter, 96000 >> 10
    assert read_rates(maps.svc_rates.get(U32(svc_id))).cps == 94
    value = maps.estimator.get(U32(0))
    assert value is not None and value.ticks == 2


def test_the_kernel_and_the_reference_estimate_alike(director: Director, estimator: libbpf.BpfObject) -> None:
    key = director.add_service(scheduler=Scheduler.RR, reals=((REAL1, 1), (REAL2, 3)))
    kernel = director.dataplane.maps
    twin = DirectorMaps.in_memory(max_services=64, max_reals=256, max_flows=4096)
    for name in ("services", "reals"):
        for k, v in getattr(kernel, name).all_items():
            getattr(twin, name).put(k, v)
    svc_id = kernel.services.get(abi.SvcKey.from_model(key)).id  # type: ignore[union-attr]
    reals = sorted(director.dataplane.real_values)
    samples = [(10, 100, 6000), (10, 250, 9000), (90, 9000, 10**9), (90, 9000, 10**9)]
    for step, (conns, pkts, nbytes) in enumerate(samples):
        for maps in (kernel, twin):
            set_counters(maps, svc_id, reals[step % 2], conns, pkts, nbytes)
        estimate(estimator)
        estimate_rates(twin)
        for table in ("svc_rates", "real_rates"):
            assert {bytes(k): bytes(v) for k, v in getattr(kernel, table).all_items()} == \
                   {bytes(k): bytes(v) for k, v in getattr(twin, table).all_items()}, (step, table)


def test_the_estimator_timer_runs_every_two_seconds_once_started(director: Director,
                                                                 estimator: libbpf.BpfObject) -> None:
    xdp.run_once(estimator, xdp.ESTIMATOR_PROGRAM, "start the estimator")
    assert director.dataplane.estimating()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        value = director.dataplane.maps.estimator.get(U32(0))
        if value is not None and value.ticks >= 2:
            break
        time.sleep(0.2)
    assert value is not None and value.ticks >= 2


def test_zero_resets_the_estimates_with_the_counters(director: Director, estimator: libbpf.BpfObject) -> None:
    key = director.add_service(reals=((REAL1, 1),))
    maps = director.dataplane.maps
    svc_id = maps.services.get(abi.SvcKey.from_model(key)).id  # type: ignore[union-attr]
    [real_id] = director.dataplane.real_values
    set_counters(maps, svc_id, real_id, 1000, 5000, 500_000)
    estimate(estimator)
    assert read_rates(maps.svc_rates.get(U32(svc_id))).cps == 125
    director.dataplane.zero(None)  # ipvsadm -Z: counters and estimates (ip_vs_zero_estimator)
    assert read_rates(maps.svc_rates.get(U32(svc_id))) == Rates()
    assert read_rates(maps.real_rates.get(U32(real_id))) == Rates()
