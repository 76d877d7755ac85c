"""Control plane: what the flow sweeper costs, one walk of the flow table.

The sweeper (bpf/sweeper.h) is a BPF timer that walks the whole flow table
every second (LB_SWEEP_INTERVAL_NS) and deletes the flows that expired,
taking them out of the connection counts. This times one walk, the body of
that timer, through BPF_PROG_TEST_RUN of lb_sweep, on a table of the
director's default size (262,144 entries; 16,384 with --smoke):

- empty: the walk over empty buckets alone (the baseline);
- full, none expired: every entry a live ESTABLISHED flow, the steady cost
  of a busy director each second;
- full, all expired: every entry past its timeout, so the walk deletes and
  uncounts every one (the table is filled again before each sample).

A walk takes the CPU it runs on for its whole duration, in softirq context:
with the full table's time per second, this is the share of one core the
sweeper takes, and the most an expired flow goes on counting past a second.
"""

from __future__ import annotations

import ctypes
import ipaddress
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from pyvs.bench.runner import Figure, Options
from pyvs.control import config as cfg
from pyvs.dataplane import libbpf, pins, xdp
from pyvs.model import FwdMethod, Protocol, RealServer, Scheduler, ServiceKey, VirtualService
from pyvs.model.enums import NSEC_PER_SEC, FlowState
from pyvs.packet import abi

SECTION = "control plane"
EMPTY = "flow sweep: empty table"
LIVE = "flow sweep: full table, no flow expired"
EXPIRED = "flow sweep: full table, every flow expired"
VIP = ipaddress.IPv4Address("10.2.2.3")
REALS = [ipaddress.IPv4Address(f"10.3.3.{n}") for n in range(3, 13)]
EXPIRED_AGE_S = 1000  # past ESTABLISHED's 900 s
U32 = ctypes.c_uint32


@contextmanager
def _director(flows: int) -> Iterator[tuple[libbpf.BpfObject, xdp.XdpDataplane]]:
    with ExitStack() as stack:
        pins.ensure_bpffs()
        pin_dir = pins.BPFFS / f"pyvs-bench-sweep-{uuid.uuid4().hex[:8]}"
        pin_dir.mkdir()
        stack.callback(pins.remove_dir, pin_dir)
        obj = stack.enter_context(xdp.open_director_object(pin_dir, max_flows=flows))
        dataplane = xdp.XdpDataplane(pin_dir)
        stack.callback(dataplane.close)
        key = ServiceKey(Protocol.TCP, VIP, 80)
        new = cfg.add_service(dataplane.read(), VirtualService(key, Scheduler.WLC))
        for address in REALS:
            new = cfg.add_real(new, key, RealServer(address, 80, 1, FwdMethod.TUNNEL))
        dataplane.commit(dataplane.read(), new)
        yield obj, dataplane


def _fill(dataplane: xdp.XdpDataplane, count: int, age_s: int) -> None:
    """`count` ESTABLISHED flows spread over the real servers, last seen `age_s` ago."""
    reals = sorted(dataplane.real_values.items())
    now = time.monotonic_ns()
    keys, values = [], []
    for n in range(count):
        real_id, real = reals[n % len(reals)]
        keys.append(abi.FlowKey(saddr=abi.be32(ipaddress.IPv4Address("10.64.0.0") + (n >> 16)),
                                daddr=abi.be32(VIP), sport=abi.be16(n & 0xFFFF), dport=abi.be16(80), proto=6))
        values.append(abi.Flow(last_seen_ns=now - age_s * NSEC_PER_SEC, real_id=real_id, real_gen=real.gen,
                               svc_id=real.svc_id, state=int(FlowState.ESTABLISHED), counted=1))
    dataplane.maps.flows.put_many(keys, values)


def _walk_ms(obj: libbpf.BpfObject) -> float:
    return xdp.run_once(obj, xdp.SWEEP_PROGRAM, "sweep the flow table") / 1e6


def _expired(dataplane: xdp.XdpDataplane) -> int:
    value = dataplane.maps.sweeper.get(U32(0))
    return 0 if value is None else int(value.expired)


def run(options: Options) -> list[Figure]:
    size = 16384 if options.smoke else 262144
    samples: dict[str, list[float]] = {EMPTY: [], LIVE: [], EXPIRED: []}
    with _director(size) as (obj, dataplane):
        capacity = int(dataplane.maps.flows.max_entries)
        for _ in range(options.reps):
            samples[EMPTY].append(_walk_ms(obj))
        _fill(dataplane, capacity, 0)
        for _ in range(options.reps):
            samples[LIVE].append(_walk_ms(obj))
        if len(dataplane.maps.flows.all_items()) != capacity:
            raise RuntimeError("the sweep deleted live flows")
        deleted = 0
        for _ in range(options.reps):
            _fill(dataplane, capacity, EXPIRED_AGE_S)
            before = _expired(dataplane)
            samples[EXPIRED].append(_walk_ms(obj))
            deleted = _expired(dataplane) - before
            if deleted != capacity or dataplane.maps.flows.all_items():
                raise RuntimeError(f"the sweep deleted {deleted} of {capacity} expired flows")
    extra = {"flow_table_capacity": capacity, "sweep_interval_s": 1}
    note = f"{capacity:,} entries, one walk (bpf_for_each_map_elem in lb_sweep)"
    return [
        Figure(SECTION, EMPTY, "ms", samples[EMPTY], None, note, extra),
        Figure(SECTION, LIVE, "ms", samples[LIVE], EMPTY, note, extra),
        Figure(SECTION, EXPIRED, "ms", samples[EXPIRED], EMPTY, note, extra | {"deleted_per_walk": deleted}),
    ]
