"""The director and the real-server decapsulation, sans-IO: the executable
specification of bpf/director.h and bpf/decap.h.

Rule 1: no I/O, no clocks, no randomness: the frame, the maps, the FIB's
answers, the time and the random numbers (twos') come in as arguments.
Rule 2: stage order and names match the C (parse -> service lookup -> flow
lookup -> schedule -> next hop -> encapsulate -> verdict), and so do drop
reasons, counters and every map update, so that the differential test can
demand byte-identical results.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import socket
import struct
import sys
from collections.abc import Callable, Iterator

from pyvs.model.enums import (
    FLOW_STATES,
    FLOW_TIMEOUT_S,
    FRAG_TIMEOUT_S,
    NSEC_PER_SEC,
    Action,
    DecapCounter,
    DropReason,
    FlowState,
    IcmpCounter,
    Scheduler,
    Setting,
    SvcFlag,
)
from pyvs.model.errors import DataplaneError
from pyvs.packet import abi
from pyvs.packet import fib as fibmod
from pyvs.packet.fib import Fib, FibResult
from pyvs.packet.headers import (
    IP_DF,
    IP_OFFSET,
    IPPROTO_ICMP,
    IPPROTO_IPIP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MAX_L3_OFF,
    Frame,
    check_ipv4,
    csum_fold,
    csum_packet,
    ipv4_at,
    ipv4_decrease_ttl,
    ipv4_is_fragment,
    ipv4_set_checksum,
    l4_check,
    move_l2_header,
    parse_eth,
    pseudo_header_sum,
    put_csum,
    trim_frame,
)
from pyvs.packet.tables import BPF_NOEXIST, DecapMaps, DirectorMaps, MapHandle
from pyvs.packet.verdict import Verdict
from pyvs.sched import SCHED_SLOTS
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE
from pyvs.sched.mh import mh_hash
from pyvs.sched.table import sh_hash

U32 = ctypes.c_uint32
U32_MAX = (1 << 32) - 1
RandomU32 = Callable[[], int]  # a source of random 32-bit numbers (bpf_get_prandom_u32())
U64 = (1 << 64) - 1
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
ICMP_TTL = 64
ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_TIME_EXCEEDED = 3, 4, 11
ICMP_ERROR_MAX = 576  # an ICMP error and its IP header fit in this many bytes (LB_ICMP_ERROR_MAX)
FWD_REPLY, FWD_CSUM = 1, 2  # forward_to_real()'s flags (enum lb_forward_flag)


def add_u64(counters: object, index: int, by: int) -> None:
    """counters[index] += by, for a per-CPU array of __u64 (the XDP programs' `*value += by`)."""
    key = U32(index)
    per_cpu = counters.get_all(key)  # type: ignore[attr-defined]
    counters.put_cpu0(key, ctypes.c_uint64((per_cpu[0].value if per_cpu else 0) + by))  # type: ignore[attr-defined]


def drop(maps: DirectorMaps, reason: DropReason) -> None:
    """Count a drop (lb_drops[reason] += 1)."""
    add_u64(maps.drops, int(reason), 1)


def setting(maps: DirectorMaps, which: Setting) -> int:
    """One of pyvs's own switches (lb_settings): 0 or 1."""
    value = maps.settings.get(U32(int(which)))
    return 0 if value is None else int(value.value)


def _verdict_drop(maps: DirectorMaps, data: bytearray, reason: DropReason) -> Verdict:
    drop(maps, reason)
    return Verdict(Action.DROP, bytes(data), reason)


def drop_if_vip(maps: DirectorMaps, data: bytearray, daddr: bytes, reason: DropReason) -> Verdict:
    """Malformed traffic is dropped when addressed to a VIP, passed otherwise."""
    if maps.vip_addrs.get(U32(int.from_bytes(daddr, sys.byteorder))) is not None:
        return _verdict_drop(maps, data, reason)
    return Verdict(Action.PASS, bytes(data))


def count(stats: object, index: int, nbytes: int, new_conn: int) -> None:
    key = U32(index)
    per_cpu = stats.get_all(key)  # type: ignore[attr-defined]
    if not per_cpu:
        return
    c = per_cpu[0]
    c.conns += new_conn
    c.inpkts += 1
    c.inbytes += nbytes
    stats.put_cpu0(key, c)  # type: ignore[attr-defined]


# -- conns.h --------------------------------------------------------------------

def real_current(maps: DirectorMaps, real_id: int, gen: int, svc_id: int) -> abi.Real | None:
    """The real server `real_id` while it is the one of generation `gen` in service `svc_id`."""
    real = maps.reals.get(U32(real_id))
    if real is None or real.gen == 0 or real.gen != gen or real.svc_id != svc_id:
        return None
    return real


def conns_overloaded(conns: abi.Conns, real: abi.Real) -> bool:
    return bool(conns.overload != 0 and conns.overload == real.overload_epoch)


def real_overloaded(maps: DirectorMaps, real_id: int, real: abi.Real) -> bool:
    conns = maps.conns.get(U32(real_id))
    return conns is not None and conns_overloaded(conns, real)


def _conns(maps: DirectorMaps, real_id: int, gen: int, svc_id: int) -> tuple[abi.Real, abi.Conns] | None:
    real = real_current(maps, real_id, gen, svc_id)
    if real is None:
        return None
    conns = maps.conns.get(U32(real_id))
    return None if conns is None else (real, conns)


def _count(maps: DirectorMaps, real_id: int, gen: int, svc_id: int, state: int,
           step: int) -> tuple[abi.Real, abi.Conns] | None:
    """Add `step` to the count of `state`'s kind (active or inactive) of a current real server."""
    found = _conns(maps, real_id, gen, svc_id)
    if found is not None:
        _real, conns = found
        if state == FlowState.ESTABLISHED:
            conns.active = (conns.active + step) & U32_MAX
        else:
            conns.inactive = (conns.inactive + step) & U32_MAX
    return found


def conns_bind(maps: DirectorMaps, real_id: int, gen: int, svc_id: int, state: int) -> None:
    """A new connection, or one taken over, of the real server's (ip_vs_bind_dest)."""
    found = _count(maps, real_id, gen, svc_id, state, 1)
    if found is None:
        return
    real, conns = found
    if real.u_threshold and (conns.active + conns.inactive) & U32_MAX >= real.u_threshold:
        conns.overload = real.overload_epoch
    maps.conns.put(U32(real_id), conns)


def conns_unbind(maps: DirectorMaps, real_id: int, gen: int, svc_id: int, state: int) -> None:
    """A connection that leaves the real server's counts (ip_vs_unbind_dest)."""
    found = _count(maps, real_id, gen, svc_id, state, -1)
    if found is None:
        return
    real, conns = found
    total = (conns.active + conns.inactive) & U32_MAX
    if real.l_threshold:
        if total < real.l_threshold:
            conns.overload = 0
    elif real.u_threshold:
        if total * 4 < real.u_threshold * 3:
            conns.overload = 0
    else:
        conns.overload = 0
    maps.conns.put(U32(real_id), conns)


def conns_move(maps: DirectorMaps, flow: abi.Flow, old: int, new: int) -> None:
    """A connection that goes from inactive to active or back (set_tcp_state)."""
    if (old == FlowState.ESTABLISHED) == (new == FlowState.ESTABLISHED):
        return
    found = _conns(maps, flow.real_id, flow.real_gen, flow.svc_id)
    if found is None:
        return
    _real, conns = found
    step = 1 if new == FlowState.ESTABLISHED else -1
    conns.active = (conns.active + step) & U32_MAX
    conns.inactive = (conns.inactive - step) & U32_MAX
    maps.conns.put(U32(flow.real_id), conns)


def flow_set_state(maps: DirectorMaps, flow: abi.Flow, state: int) -> None:
    """Move a counted flow to `state`, and its count with it (the caller writes the flow back)."""
    if flow.state == state or not flow.counted:
        return
    old = flow.state
    flow.state = state
    conns_move(maps, flow, old, state)


def flow_release(maps: DirectorMaps, flow: abi.Flow) -> bool:
    """Take a counted flow out of the counts (the caller writes it back); False: not counted."""
    if not flow.counted:
        return False
    flow.counted = 0
    conns_unbind(maps, flow.real_id, flow.real_gen, flow.svc_id, flow.state)
    return True


def flow_timeout_ns(maps: DirectorMaps, state: int) -> int:
    """The idle timeout of a state: ipvsadm --set's, or IPVS's default."""
    if state < FLOW_STATES:
        configured = maps.timeouts.get(U32(state))
        if configured is not None and configured.value:
            return int(configured.value) * NSEC_PER_SEC
    try:
        return FLOW_TIMEOUT_S[FlowState(state)] * NSEC_PER_SEC
    except ValueError:
        return FLOW_TIMEOUT_S[FlowState.NONE] * NSEC_PER_SEC


# -- sweeper.h ------------------------------------------------------------------

def _signed(value: int) -> int:
    """A u64 difference as the C's (__s64) cast reads it."""
    value &= U64
    return value - (1 << 64) if value >> 63 else value


def flow_expired(maps: DirectorMaps, flow: abi.Flow, now: int) -> bool:
    idle = _signed(now - flow.last_seen_ns)  # negative: seen after `now`, on another CPU
    return idle > 0 and idle > flow_timeout_ns(maps, flow.state)


def sweep_flows(maps: DirectorMaps, now: int) -> int:
    """One walk of the flow table, as the sweeper's timer makes it: flows whose timeout
    has passed leave the counts and the table (those of a removed real server too, no
    sooner). Returns how many."""
    expired = 0
    for key, flow in maps.flows.all_items():
        if not flow_expired(maps, flow, now):
            continue
        if not flow_release(maps, flow):
            continue
        maps.flows.delete(key)
        expired += 1
    sweeper = maps.sweeper.get(U32(0))
    if sweeper is not None:
        sweeper.sweeps += 1
        sweeper.expired += expired
        maps.sweeper.put(U32(0), sweeper)
    return expired


# -- estimator.h ------------------------------------------------------------------

# (estimate, counter, shift): connections and packets scaled by 2^10, bytes by 2^5, both
# divided by the 2 seconds between estimations.
ESTIMATES = (("cps", "conns", 9), ("inpps", "inpkts", 9), ("outpps", "outpkts", 9), ("inbps", "inbytes", 4),
             ("outbps", "outbytes", 4))


def _estimate_step(rate: abi.Rate, estimate: str, last: str, now: int, shift: int) -> None:
    """estimate_step(): the C's u64 and s64 arithmetic, wraps included."""
    sample = ((now - getattr(rate, last)) << shift) & U64
    setattr(rate, last, now)
    value = getattr(rate, estimate)
    diff = (sample - value) & U64
    diff -= (diff >> 63) << 64  # as an s64
    setattr(rate, estimate, (value + (diff >> 2)) & U64)


def _estimate(rates: MapHandle[ctypes.c_uint32, abi.Rate], stats: object, index: int) -> None:
    rate = rates.get(U32(index))
    if rate is None:
        return
    per_cpu = stats.get_all(U32(index))  # type: ignore[attr-defined]
    totals = {name: sum(getattr(c, name) for c in per_cpu) & U64
              for name in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")}
    for estimate, total, shift in ESTIMATES:
        _estimate_step(rate, estimate, "last_" + total, totals[total], shift)
    rates.put(U32(index), rate)


def estimate_rates(maps: DirectorMaps) -> None:
    """One estimation, as the estimator's timer makes one every 2 seconds (IPVS's
    estimation_timer()): every service and every live real server."""
    for _key, svc in maps.services.all_items():
        _estimate(maps.svc_rates, maps.svc_stats, svc.id)
    for key, real in maps.reals.all_items():
        if real.gen != 0 and real.svc_id != U32_MAX:
            _estimate(maps.real_rates, maps.real_stats, key.value)
    estimator = maps.estimator.get(U32(0))
    if estimator is not None:
        estimator.ticks += 1
        maps.estimator.put(U32(0), estimator)


# -- select.h ------------------------------------------------------------------

def service_lookup(maps: DirectorMaps, vip: int, port: int, proto: int) -> abi.Svc | None:
    """The service at (vip, port, proto), or else the one at port 0 (a persistent service on
    port 0 takes every port of its VIP, as in IPVS)."""
    svc = maps.services.get(abi.SvcKey(addr=vip, port=port, proto=proto))
    return svc if svc is not None else maps.services.get(abi.SvcKey(addr=vip, port=0, proto=proto))


def tcp_next_state(state: int, flags: int) -> int:
    """IPVS's table for input-only connections; flag priority RST, SYN, FIN, ACK."""
    if flags & TCP_RST:
        return FlowState.SYN_RECV if state == FlowState.SYN_RECV else FlowState.CLOSE
    if flags & TCP_SYN:
        return FlowState.ESTABLISHED if state == FlowState.ESTABLISHED else FlowState.SYN_RECV
    if flags & TCP_FIN:
        if state in (FlowState.ESTABLISHED, FlowState.FIN_WAIT):
            return FlowState.FIN_WAIT
        if state in (FlowState.SYN_RECV, FlowState.TIME_WAIT):
            return FlowState.TIME_WAIT
        return FlowState.CLOSE
    if flags & TCP_ACK and state in (FlowState.NONE, FlowState.SYN_RECV):
        return FlowState.ESTABLISHED
    return state


def flow_is_alive(maps: DirectorMaps, flow: abi.Flow, svc_id: int, syn_only: bool, now: int) -> bool:
    if flow.svc_id != svc_id or not flow.counted:
        return False
    if (now - flow.last_seen_ns) & U64 > flow_timeout_ns(maps, flow.state):
        return False
    return not (syn_only and flow.state in (FlowState.TIME_WAIT, FlowState.CLOSE))


def real_draining(maps: DirectorMaps, real_id: int, gen: int) -> abi.Real | None:
    """The removed real server `real_id` of generation `gen`, while its id is not given out again."""
    real = maps.reals.get(U32(real_id))
    if real is None or real.gen != gen or not real.addr:
        return None
    return real


def persist_lookup(maps: DirectorMaps, svc: abi.Svc, client: int, now: int) -> abi.Persist | None:
    """The live persistence template of a client, refreshed."""
    if not svc.flags & SvcFlag.PERSISTENT:
        return None
    key = abi.PersistKey(svc_id=svc.id, client=client)
    tpl = maps.persist.get(key)
    if tpl is None or (now - tpl.last_seen_ns) & U64 > svc.timeout * NSEC_PER_SEC:
        return None
    if real_current(maps, tpl.real_id, tpl.real_gen, svc.id) is None:
        return None
    tpl.last_seen_ns = now
    maps.persist.put(key, tpl)
    return tpl


def persist_record(maps: DirectorMaps, svc: abi.Svc, client: int, real_id: int, real_gen: int,
                   now: int) -> None:
    if svc.flags & SvcFlag.PERSISTENT:
        maps.persist.put(abi.PersistKey(svc_id=svc.id, client=client),
                         abi.Persist(last_seen_ns=now, real_id=real_id, real_gen=real_gen))


def real_available(maps: DirectorMaps, real_id: int) -> bool:
    """The real server takes new connections: weight above 0 and not overloaded."""
    real = maps.reals.get(U32(real_id))
    return real is not None and real.weight > 0 and not real_overloaded(maps, real_id, real)


def sequence_slot(maps: DirectorMaps, svc: abi.Svc) -> int:
    """Take the next position of the service's rr/wrr sequence: the real server id there, or -1."""
    pos = maps.sched_pos.get(U32(svc.id))
    if pos is None:
        return -1
    maps.sched_pos.put(U32(svc.id), U32((pos.value + 1) & U32_MAX))
    slot = pos.value % svc.sched_len + (svc.id * 2 + (svc.bank & 1)) * SCHED_SLOTS
    real_id = maps.sched.get(U32(slot & U32_MAX))
    return -1 if real_id is None else int(real_id.value)


def schedule_real(maps: DirectorMaps, svc: abi.Svc) -> int:
    """The next real server of the service's rr/wrr sequence that is not overloaded
    (past an unavailable one, sequence_skip(): at most a whole sequence more), or -1."""
    if svc.sched_len == 0 or svc.sched_len > SCHED_SLOTS or maps.sched_pos.get(U32(svc.id)) is None:
        return -1
    real_id = sequence_slot(maps, svc)
    if real_id < 0 or real_available(maps, real_id):
        return real_id
    for _ in range(svc.sched_len):
        real_id = sequence_slot(maps, svc)
        if real_id >= 0 and real_available(maps, real_id):
            return real_id
    return -1


def available_real(maps: DirectorMaps, table: MapHandle[ctypes.c_uint32, ctypes.c_uint32], slot: int) -> int:
    """The real server id at `slot` of `table` (sched or mh), if it takes new connections; -1 otherwise."""
    real_id = table.get(U32(slot & U32_MAX))
    if real_id is None or not real_available(maps, int(real_id.value)):
        return -1
    return int(real_id.value)


def table_pick(maps: DirectorMaps, svc: abi.Svc, key: abi.FlowKey) -> int:
    """The real server in the bucket of the service's sh or dh table for this flow,
    if it is available; -1 otherwise."""
    if svc.sched_len != SCHED_SLOTS:
        return -1
    port = 0
    if svc.sched == Scheduler.DH:
        address = socket.ntohl(key.daddr)
    else:
        address = socket.ntohl(key.saddr)
        if svc.flags & SvcFlag.SCHED2:
            port = socket.ntohs(key.sport)
    bucket = sh_hash(address, port)
    return available_real(maps, maps.sched, (svc.id * 2 + (svc.bank & 1)) * SCHED_SLOTS + bucket)


def mh_pick(maps: DirectorMaps, svc: abi.Svc, key: abi.FlowKey) -> int:
    """The real server of the service's Maglev table for this flow, if available; with
    mh-fallback the first available one of the kernel's walk from its bucket; -1 otherwise."""
    if svc.sched_len != MH_TABLE_SIZE:
        return -1
    port = socket.ntohs(key.sport) if svc.flags & SvcFlag.SCHED2 else 0
    address = socket.ntohl(key.saddr)
    base = (svc.table * 2 + (svc.bank & 1)) * MH_TABLE_SIZE
    first = mh_hash(address, port) % MH_TABLE_SIZE
    picked = available_real(maps, maps.mh, base + first)
    if picked >= 0 or not svc.flags & SvcFlag.SCHED1:
        return picked
    for offset in range(MH_TABLE_SIZE):  # mh-fallback: ip_vs_mh_get_fallback()'s walk
        bucket = mh_hash(address, port, offset=(offset + first) % MH_TABLE_SIZE) % MH_TABLE_SIZE
        picked = available_real(maps, maps.mh, base + bucket)
        if picked >= 0:
            return picked
    return -1


# conns_pick()'s weighing per scheduler: (factor of active connections, inactive counts,
# + 1, weighted, ovf's rule, nq's rule), as conns_how_of() gives it.
CONNS_HOW: dict[int, tuple[int, bool, bool, bool, bool, bool]] = {
    Scheduler.LC: (256, True, False, False, False, False),
    Scheduler.WLC: (256, True, False, True, False, False),
    Scheduler.SED: (1, False, True, True, False, False),
    Scheduler.NQ: (1, False, True, True, False, True),
    Scheduler.FO: (0, False, True, True, False, False),
    Scheduler.OVF: (0, False, True, True, True, False),
}


def walk(maps: DirectorMaps, svc: abi.Svc) -> Iterator[tuple[int, abi.Real | None, abi.Conns | None]]:
    """The service's live bank, position by position (walk_at() in walks.h): each real
    server's id, entry and counts, up to the end of the bank."""
    base = (svc.id * 2 + (svc.bank & 1)) * SCHED_SLOTS
    for i in range(svc.sched_len):
        real_id = maps.sched.get(U32((base + i) & U32_MAX))
        if real_id is None:
            return
        yield int(real_id.value), maps.reals.get(real_id), maps.conns.get(real_id)


def conns_pick(maps: DirectorMaps, svc: abi.Svc, sched: int | None = None) -> int:
    """What a scheduler that reads connection counts (the service's, or `sched`) picks,
    as conns_pick() in walks.h."""
    how = CONNS_HOW.get(svc.sched if sched is None else sched)
    if how is None or svc.sched_len > SCHED_SLOTS:
        return -1
    active_factor, inactive, plus_one, weighted, ovf, nq = how
    best, best_overhead, best_weight = -1, 1, 0
    for real_id, real, conns in walk(maps, svc):
        if real is None or conns is None or conns_overloaded(conns, real):
            continue
        weight = real.weight
        if weight == 0 or (ovf and conns.active > weight):
            continue
        overhead = (conns.active * active_factor + (conns.inactive if inactive else 0) + plus_one) & U32_MAX
        if nq and conns.active == 0:
            overhead = 0
        if not weighted:
            weight = 1
        if best_overhead * weight <= overhead * best_weight:
            continue
        best, best_overhead, best_weight = real_id, overhead, weight
    return best


def weight_walk(maps: DirectorMaps, svc: abi.Svc, until: int) -> int:
    """The first available real server whose running total of weights reaches `until`,
    else -1 - the total (weight_walk() in walks.h)."""
    total = 0
    for real_id, real, conns in walk(maps, svc):
        if real is None or conns is None or real.weight == 0 or conns_overloaded(conns, real):
            continue
        total += real.weight
        if total >= until:
            return real_id
    return -1 - total


def twos_pick(maps: DirectorMaps, svc: abi.Svc, r1: int, r2: int) -> int:
    """ip_vs_twos_schedule() with the random numbers r1 and r2 (twos_pick() in walks.h)."""
    total = -1 - weight_walk(maps, svc, U32_MAX)
    if total <= 0:
        return -1
    choices = [weight_walk(maps, svc, r % (total + 1)) for r in (r1, r2)]
    if min(choices) < 0:
        return -1

    def overhead_and_weight(real_id: int) -> tuple[int, int]:
        real, conns = maps.reals.get(U32(real_id)), maps.conns.get(U32(real_id))
        return ((conns.active << 8) + conns.inactive if conns else 0), (real.weight if real else 0)

    (overhead1, weight1), (overhead2, weight2) = (overhead_and_weight(c) for c in choices)
    return choices[1] if weight2 * overhead1 > weight1 * overhead2 else choices[0]


# -- lblc.h ------------------------------------------------------------------------

LBLC_EXPIRATION_NS = 24 * 60 * 60 * NSEC_PER_SEC  # LB_LBLC_EXPIRATION_NS


def half_idle(maps: DirectorMaps, svc: abi.Svc) -> bool:
    """Some real server of the service has fewer active connections than half its weight."""
    return any(real is not None and conns is not None and conns.active * 2 < real.weight
               for _id, real, conns in walk(maps, svc))


def lblc_overloaded(maps: DirectorMaps, svc: abi.Svc, real_id: int, real: abi.Real) -> bool:
    """The kernel's is_overloaded() of lblc and lblcr (not the -x flag)."""
    conns = maps.conns.get(U32(real_id))
    return conns is not None and conns.active > real.weight and half_idle(maps, svc)


def conn_overhead(maps: DirectorMaps, real_id: int) -> int:
    conns = maps.conns.get(U32(real_id))
    return (conns.active << 8) + conns.inactive if conns is not None else 0


def set_min(maps: DirectorMaps, en: abi.Lblc, svc_id: int) -> int:
    """ip_vs_dest_set_min(): the index of the least loaded available member, or -1."""
    least, least_overhead, least_weight = -1, 0, 0
    for i in range(min(en.size, abi.LBLC_SET_MAX)):
        real = real_current(maps, en.real_id[i], en.real_gen[i], svc_id)
        if real is None or real_overloaded(maps, en.real_id[i], real):
            continue
        overhead = conn_overhead(maps, en.real_id[i])
        if (real.weight > 0 if least < 0 else least_overhead * real.weight > overhead * least_weight):
            least, least_overhead, least_weight = i, overhead, real.weight
    return least


def set_max(maps: DirectorMaps, en: abi.Lblc) -> int:
    """ip_vs_dest_set_max(): the index of the most loaded member of weight above 0, or -1."""
    most, most_overhead, most_weight = -1, 0, 0
    for i in range(min(en.size, abi.LBLC_SET_MAX)):
        real = maps.reals.get(U32(en.real_id[i]))
        weight = real.weight if real is not None and real.gen == en.real_gen[i] else 0
        if weight <= 0:
            continue
        overhead = conn_overhead(maps, en.real_id[i])
        if most < 0 or most_overhead * weight < overhead * most_weight:
            most, most_overhead, most_weight = i, overhead, weight
    return most


def set_erase(en: abi.Lblc, at: int, now: int) -> None:
    for i in range(at, min(en.size, abi.LBLC_SET_MAX) - 1):
        en.real_id[i], en.real_gen[i] = en.real_id[i + 1], en.real_gen[i + 1]
    if en.size > 0:
        en.size -= 1
    en.lastmod_ns = now


def set_insert(maps: DirectorMaps, en: abi.Lblc, svc_id: int, real_id: int, gen: int, now: int) -> None:
    """ip_vs_dest_set_insert() with the check; removed members leave, and the oldest when full."""
    if any(en.real_id[i] == real_id and en.real_gen[i] == gen for i in range(min(en.size, abi.LBLC_SET_MAX))):
        return
    for i in reversed(range(abi.LBLC_SET_MAX)):
        if i < en.size and real_current(maps, en.real_id[i], en.real_gen[i], svc_id) is None:
            set_erase(en, i, now)
    for i in reversed(range(1, abi.LBLC_SET_MAX)):
        en.real_id[i], en.real_gen[i] = en.real_id[i - 1], en.real_gen[i - 1]
    en.real_id[0], en.real_gen[0] = real_id, gen
    en.size = min(en.size + 1, abi.LBLC_SET_MAX)
    en.lastmod_ns = now


def lblc_cached(maps: DirectorMaps, svc: abi.Svc, daddr: int, lblcr: bool, now: int) -> int:
    """The cache's choice (lblc_cached() in lblc.h), or -1: schedule as wlc, then lblc_record()."""
    key = abi.LblcKey(svc_id=svc.id, daddr=daddr)
    en = maps.lblc.get(key)
    if en is None or not 0 < en.size <= abi.LBLC_SET_MAX or _signed(now - en.lastuse_ns) > LBLC_EXPIRATION_NS:
        return -1
    en.lastuse_ns = now
    try:
        if not lblcr:
            real_id = en.real_id[0]
            real = real_current(maps, real_id, en.real_gen[0], svc.id)
            if real is not None and real.weight > 0 and not lblc_overloaded(maps, svc, real_id, real):
                return int(real_id)
            return -1
        at = set_min(maps, en, svc.id)
        real_id = en.real_id[at] if at >= 0 else 0
        if en.size > 1 and _signed(now - en.lastmod_ns) > LBLC_EXPIRATION_NS:
            most = set_max(maps, en)
            if most >= 0:
                set_erase(en, most, now)
        real = maps.reals.get(U32(real_id))
        if at >= 0 and real is not None and not lblc_overloaded(maps, svc, real_id, real):
            return int(real_id)
        return -1
    finally:
        maps.lblc.put(key, en)


def lblc_record(maps: DirectorMaps, svc: abi.Svc, daddr: int, real_id: int, lblcr: bool, now: int) -> None:
    """The cache after wlc scheduled `real_id` (lblc_record() in lblc.h)."""
    key = abi.LblcKey(svc_id=svc.id, daddr=daddr)
    en = maps.lblc.get(key)
    real = maps.reals.get(U32(real_id))
    if real is None:
        return
    if (en is not None and lblcr and 0 < en.size <= abi.LBLC_SET_MAX
            and _signed(now - en.lastuse_ns) <= LBLC_EXPIRATION_NS):
        set_insert(maps, en, svc.id, real_id, real.gen, now)
        maps.lblc.put(key, en)
        return
    fresh = abi.Lblc(lastuse_ns=now, lastmod_ns=now, size=1)
    fresh.real_id[0], fresh.real_gen[0] = real_id, real.gen
    maps.lblc.put(key, fresh)


def lblc_pick(maps: DirectorMaps, svc: abi.Svc, daddr: int, now: int) -> int:
    """lblc or lblcr: the cache's choice, else wlc's, recorded (schedule() in select.h)."""
    if svc.sched_len > SCHED_SLOTS:
        return -1
    lblcr = svc.sched == Scheduler.LBLCR
    picked = lblc_cached(maps, svc, daddr, lblcr, now)
    if picked >= 0:
        return picked
    picked = conns_pick(maps, svc, Scheduler.WLC)  # __ip_vs_lblc(r)_schedule() is wlc's
    if picked >= 0:
        lblc_record(maps, svc, daddr, picked, lblcr, now)
    return picked


def _zero() -> int:
    return 0


def schedule(maps: DirectorMaps, svc: abi.Svc, key: abi.FlowKey, random_u32: RandomU32 = _zero,
             now: int = 0) -> int:
    """A real server for a new connection of the service, by its scheduler; -1: none.
    twos draws two numbers from `random_u32` (bpf_get_prandom_u32() in the C); lblc and
    lblcr keep their caches' times in `now`."""
    if svc.sched in (Scheduler.LBLC, Scheduler.LBLCR):
        return lblc_pick(maps, svc, key.daddr, now)
    if svc.sched in (Scheduler.SH, Scheduler.DH):
        return table_pick(maps, svc, key)
    if svc.sched == Scheduler.MH:
        return mh_pick(maps, svc, key)
    if svc.sched in (Scheduler.RR, Scheduler.WRR):
        return schedule_real(maps, svc)
    if svc.sched == Scheduler.TWOS:
        if svc.sched_len > SCHED_SLOTS:
            return -1
        return twos_pick(maps, svc, random_u32(), random_u32())
    return conns_pick(maps, svc)


# -- director.h -------------------------------------------------------------------

def select_flow(maps: DirectorMaps, key: abi.FlowKey, svc: abi.Svc, tcp_flags: int | None,
                now: int, random_u32: RandomU32 = _zero) -> tuple[abi.Real, int, int] | DropReason:
    """(real server, its id, new connection?) for this packet, recording and counting the
    flow; or why the packet is dropped."""
    flow = maps.flows.get(key)
    syn_only = tcp_flags is not None and bool(tcp_flags & TCP_SYN) and not tcp_flags & TCP_ACK
    if flow is not None and flow_is_alive(maps, flow, svc.id, syn_only, now):
        real = real_current(maps, flow.real_id, flow.real_gen, svc.id)
        if real is None and setting(maps, Setting.DRAIN):
            real = real_draining(maps, flow.real_id, flow.real_gen)
        if real is None:  # its real server was removed: IPVS drops the packet
            return DropReason.REAL_SERVER_GONE
        flow.last_seen_ns = now
        if tcp_flags is not None:
            flow_set_state(maps, flow, tcp_next_state(flow.state, tcp_flags))
        maps.flows.put(key, flow)
        persist_lookup(maps, svc, key.saddr & svc.netmask, now)
        return real, flow.real_id, 0

    tpl = persist_lookup(maps, svc, key.saddr & svc.netmask, now)
    if tpl is not None:
        real_id = tpl.real_id
    else:
        picked = schedule(maps, svc, key, random_u32, now)
        if picked < 0:
            return DropReason.NO_REAL_SERVER
        real_id = picked
    real = maps.reals.get(U32(real_id))
    if real is None or real.gen == 0 or real.svc_id != svc.id:
        return DropReason.NO_REAL_SERVER
    if tpl is None:
        persist_record(maps, svc, key.saddr & svc.netmask, real_id, real.gen, now)
    state = tcp_next_state(FlowState.NONE, tcp_flags) if tcp_flags is not None else FlowState.UDP
    if not (svc.flags & SvcFlag.ONEPACKET and tcp_flags is None):  # -o: no flow kept
        fresh = abi.Flow(last_seen_ns=now, real_id=real_id, real_gen=real.gen, svc_id=svc.id, state=state,
                         counted=1)
        if flow is not None:  # an expired or closed connection's entry, taken over
            if not flow_release(maps, flow):
                return DropReason.FLOW_BUSY
            maps.flows.put(key, fresh)
        else:
            try:
                maps.flows.put(key, fresh, BPF_NOEXIST)
            except DataplaneError as exc:
                if exc.errno == errno.EEXIST:
                    return DropReason.FLOW_BUSY
                if tcp_flags is not None:  # a full table refuses TCP; UDP goes on untracked
                    return DropReason.FLOW_TABLE_FULL
                return real, real_id, 1
        conns_bind(maps, real_id, real.gen, svc.id, state)
    return real, real_id, 1


# -- encap_ipip.h, icmp_frag.h ------------------------------------------------------

def encap_ipip4(data: bytearray, frame: Frame, real_addr: bytes) -> bytearray:
    """Wrap the IPv4 packet at l3_off toward real_addr; the outer source is set later."""
    l2_len = frame.l3_off
    ipv4_decrease_ttl(data, l2_len)
    data = move_l2_header(data, l2_len, -20)
    inner = l2_len + 20
    tos = data[inner + 1]
    inner_len = struct.unpack_from("!H", data, inner + 2)[0]
    inner_id = data[inner + 4:inner + 6]
    df = struct.unpack_from("!H", data, inner + 6)[0] & IP_DF
    outer = bytearray(20)
    outer[0] = 0x45
    outer[1] = tos
    struct.pack_into("!H", outer, 2, (inner_len + 20) & 0xFFFF)
    if df:
        struct.pack_into("!HH", outer, 4, 0, IP_DF)
    else:
        outer[4:6] = inner_id
    outer[8] = data[inner + 8]
    outer[9] = IPPROTO_IPIP
    outer[16:20] = real_addr
    data[l2_len:l2_len + 20] = outer
    return data


def reply_frag_needed(data: bytearray, frame: Frame, mtu: int) -> bytearray | None:
    """The frame turned into ICMP "fragmentation needed" to the client, from the VIP, quoting
    the packet as it would have been forwarded (TTL one less), as much as fits in 576 bytes."""
    l2_len = frame.l3_off
    quote_len = min(frame.l3_len, ICMP_ERROR_MAX - 28)
    icmp_len = 8 + quote_len
    data = move_l2_header(data, l2_len, -28)
    trim_frame(data, l2_len + 20 + icmp_len)
    data[0:6], data[6:12] = data[6:12], data[0:6]
    quoted = l2_len + 28
    ipv4_decrease_ttl(data, quoted)
    ip = bytearray(20)
    ip[0] = 0x45
    ip[1] = (data[quoted + 1] & 0x1E) | 0xC0
    struct.pack_into("!H", ip, 2, 20 + icmp_len)
    ip[8] = ICMP_TTL
    ip[9] = IPPROTO_ICMP
    ip[12:16] = data[quoted + 16:quoted + 20]
    ip[16:20] = data[quoted + 12:quoted + 16]
    data[l2_len:l2_len + 20] = ip
    ipv4_set_checksum(data, l2_len)
    icmp = l2_len + 20
    data[icmp:icmp + 8] = struct.pack("!BBHHH", ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 0,
                                      (mtu - 20) & 0xFFFF)
    total = csum_packet(data, icmp, icmp_len)
    if total < 0:
        return None
    put_csum(data, icmp + 2, csum_fold(total))
    return data


def lookup_next_hop(fib: Fib, real_addr: bytes, outer_len: int, ingress_ifindex: int) -> FibResult:
    """As the C: one lookup, no flags (the outer source is the real server's entry's)."""
    return fib.lookup(ipaddress.IPv4Address(real_addr), tot_len=outer_len, ingress_ifindex=ingress_ifindex)


def send_encapsulated(data: bytearray, result: FibResult, l2_len: int, ingress_ifindex: int,
                      saddr: bytes) -> Verdict:
    data[l2_len + 12:l2_len + 16] = saddr
    ipv4_set_checksum(data, l2_len)
    if result.rc != fibmod.FIB_SUCCESS:
        return Verdict(Action.PASS, bytes(data))
    data[0:6] = result.dmac
    data[6:12] = result.smac
    if result.ifindex == ingress_ifindex:
        return Verdict(Action.TX, bytes(data))
    return Verdict(Action.REDIRECT, bytes(data), ifindex=result.ifindex)


# -- forward.h, csum_offload.h ------------------------------------------------------

def offloaded_csum_at(data: bytearray, frame: Frame) -> int:
    """Where the TCP or UDP checksum field is when it holds only the pseudo-header's sum
    (left to offload by a sender on the same host); 0 otherwise."""
    l3 = frame.l3_off
    at = frame.l4_off + (16 if data[l3 + 9] == IPPROTO_TCP else 6)
    if at > 128 or at + 2 > len(data):
        return 0
    field = int.from_bytes(data[at:at + 2], sys.byteorder)
    if data[l3 + 9] == IPPROTO_UDP and field == 0:
        return 0
    pseudo = pseudo_header_sum(data, l3, frame.l3_len - (frame.l4_off - l3))
    if field == pseudo or (field in (0, 0xFFFF) and pseudo in (0, 0xFFFF)):
        return at
    return 0


def finish_offloaded_csum(data: bytearray, frame: Frame, at: int) -> None:
    total = csum_packet(data, frame.l4_off, frame.l3_len - (frame.l4_off - frame.l3_off))
    if total < 0:
        return
    folded = csum_fold(total)
    if data[frame.l3_off + 9] == IPPROTO_UDP and folded == 0:
        folded = 0xFFFF  # UDP's 0 means "no checksum"
    put_csum(data, at, folded)


def forward_to_real(data: bytearray, frame: Frame, real: abi.Real, flags: int, maps: DirectorMaps, fib: Fib,
                    ingress_ifindex: int) -> Verdict:
    """The packet encapsulated toward `real`: next hop -> encapsulate -> verdict."""
    l3 = frame.l3_off
    real_addr = int(real.addr).to_bytes(4, sys.byteorder)
    saddr = int(real.saddr).to_bytes(4, sys.byteorder)
    # next hop: forward, let the kernel finish, or tell the client to send less
    result = lookup_next_hop(fib, real_addr, frame.l3_len + 20, ingress_ifindex)
    if result.rc == fibmod.FIB_FRAG_NEEDED and struct.unpack_from("!H", data, l3 + 6)[0] & IP_DF:
        drop(maps, DropReason.FRAG_NEEDED)
        reply = reply_frag_needed(data, frame, result.mtu) if flags & FWD_REPLY else None
        if reply is None:
            return Verdict(Action.DROP, bytes(data), DropReason.FRAG_NEEDED)
        return Verdict(Action.TX, bytes(reply), DropReason.FRAG_NEEDED)
    if result.rc not in (fibmod.FIB_SUCCESS, fibmod.FIB_NO_NEIGH, fibmod.FIB_FRAG_NEEDED) or not real.saddr:
        return _verdict_drop(maps, data, DropReason.NO_ROUTE)

    # encapsulate, verdict
    if result.rc == fibmod.FIB_SUCCESS and flags & FWD_CSUM:
        at = offloaded_csum_at(data, frame)
        if at and not setting(maps, Setting.SKB_MODE):
            finish_offloaded_csum(data, frame, at)
    trim_frame(data, frame.l3_off + frame.l3_len)
    data = encap_ipip4(data, frame, real_addr)
    return send_encapsulated(data, result, frame.l3_off, ingress_ifindex, saddr)


# -- icmp_errors.h --------------------------------------------------------------------

def icmp_real(maps: DirectorMaps, key: abi.FlowKey, svc: abi.Svc, now: int) -> abi.Real | None:
    """The real server of the connection an ICMP error quotes: its flow's while alive, else
    the hashing schedulers' choice."""
    flow = maps.flows.get(key)
    if flow is not None and flow_is_alive(maps, flow, svc.id, False, now):
        real = real_current(maps, flow.real_id, flow.real_gen, svc.id)
        if real is None and setting(maps, Setting.DRAIN):
            real = real_draining(maps, flow.real_id, flow.real_gen)
        return real
    if svc.sched in (Scheduler.SH, Scheduler.DH):
        picked = table_pick(maps, svc, key)
    elif svc.sched == Scheduler.MH:
        picked = mh_pick(maps, svc, key)
    else:
        return None
    if picked < 0:
        return None
    real = maps.reals.get(U32(picked))
    if real is None or real.svc_id != svc.id or real.gen == 0:
        return None
    return real


def icmp_error_to_vip(data: bytearray, maps: DirectorMaps, fib: Fib, now: int,
                      ingress_ifindex: int) -> Verdict:
    """An ICMP packet: an error about a virtual service's connection goes to its real server."""
    frame = Frame()
    parse_eth(data, frame)
    l3 = frame.l3_off
    if maps.vip_addrs.get(U32(int.from_bytes(data[l3 + 16:l3 + 20], sys.byteorder))) is None:
        return Verdict(Action.PASS, bytes(data))
    rc = check_ipv4(data, l3, frame)
    if rc == -2:
        return _verdict_drop(maps, data, DropReason.BAD_IP_CHECKSUM)
    if rc:
        return _verdict_drop(maps, data, DropReason.BAD_IP_HEADER)
    icmp = frame.l4_off
    quoted = icmp + 8
    if ipv4_is_fragment(data, l3) or icmp > MAX_L3_OFF or quoted + 20 > len(data):
        return Verdict(Action.PASS, bytes(data))
    if data[icmp] == ICMP_DEST_UNREACH:
        which = IcmpCounter.FWD_FRAG_NEEDED if data[icmp + 1] == ICMP_FRAG_NEEDED else IcmpCounter.FWD_UNREACH
    elif data[icmp] == ICMP_TIME_EXCEEDED:
        which = IcmpCounter.FWD_TIME_EXCEEDED
    else:
        return Verdict(Action.PASS, bytes(data))
    proto = data[quoted + 9]
    if data[quoted] >> 4 != 4 or data[quoted] & 0x0F < 5 or proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return Verdict(Action.PASS, bytes(data))
    ports = quoted + (data[quoted] & 0x0F) * 4
    if ports + 4 > frame.l3_off + frame.l3_len or ports > MAX_L3_OFF + 8 + 60 or ports + 4 > len(data):
        return Verdict(Action.PASS, bytes(data))
    sport, dport = struct.unpack_from("=HH", data, ports)
    vip = int.from_bytes(data[quoted + 12:quoted + 16], sys.byteorder)
    svc = service_lookup(maps, vip, sport, proto)
    if svc is None:
        return Verdict(Action.PASS, bytes(data))
    key = abi.FlowKey(saddr=int.from_bytes(data[quoted + 16:quoted + 20], sys.byteorder), daddr=vip,
                      sport=dport, dport=sport, proto=proto)
    real = icmp_real(maps, key, svc, now)
    if real is None:
        add_u64(maps.icmp, IcmpCounter.PASSED, 1)
        return Verdict(Action.PASS, bytes(data))
    if data[l3 + 8] <= 1:
        return _verdict_drop(maps, data, DropReason.TTL_EXCEEDED)
    add_u64(maps.icmp, which, 1)
    return forward_to_real(data, frame, real, 0, maps, fib, ingress_ifindex)


# -- fragments.h ----------------------------------------------------------------------

def frag_key(data: bytearray, l3: int) -> abi.FragKey:
    return abi.FragKey(saddr=int.from_bytes(data[l3 + 12:l3 + 16], sys.byteorder),
                       daddr=int.from_bytes(data[l3 + 16:l3 + 20], sys.byteorder),
                       id=int.from_bytes(data[l3 + 4:l3 + 6], sys.byteorder), proto=data[l3 + 9])


def fragment_to_vip(data: bytearray, maps: DirectorMaps, fib: Fib, now: int, ingress_ifindex: int) -> Verdict:
    """A later fragment, to where its datagram's first fragment went."""
    frame = Frame()
    parse_eth(data, frame)
    l3 = frame.l3_off
    check_ipv4(data, l3, frame)
    frag = maps.frags.get(frag_key(data, l3))
    if frag is None or (now - frag.seen_ns) & U64 > FRAG_TIMEOUT_S * NSEC_PER_SEC:
        return drop_if_vip(maps, data, bytes(data[l3 + 16:l3 + 20]), DropReason.FRAGMENT)
    real = real_current(maps, frag.real_id, frag.real_gen, frag.svc_id)
    if real is None and setting(maps, Setting.DRAIN):
        real = real_draining(maps, frag.real_id, frag.real_gen)
    if real is None:
        return _verdict_drop(maps, data, DropReason.REAL_SERVER_GONE)
    if data[l3 + 8] <= 1:
        return _verdict_drop(maps, data, DropReason.TTL_EXCEEDED)
    count(maps.svc_stats, frag.svc_id, frame.l3_len, 0)
    count(maps.real_stats, frag.real_id, frame.l3_len, 0)
    return forward_to_real(data, frame, real, 0, maps, fib, ingress_ifindex)


# -- director.h --------------------------------------------------------------------

def process_director(frame_in: bytes, maps: DirectorMaps, fib: Fib, *, now_ns: int,
                     ingress_ifindex: int, random_u32: RandomU32 = _zero) -> Verdict:
    """One frame through the director, as lb_director() handles it; `random_u32` stands for
    bpf_get_prandom_u32() (only twos draws numbers)."""
    data = bytearray(frame_in)
    frame = Frame()

    # parse
    if parse_eth(data, frame) or not ipv4_at(data, frame.l3_off):
        return Verdict(Action.PASS, bytes(data))
    l3 = frame.l3_off
    proto = data[l3 + 9]
    daddr = bytes(data[l3 + 16:l3 + 20])
    if proto == IPPROTO_ICMP:
        return icmp_error_to_vip(data, maps, fib, now_ns, ingress_ifindex)
    if proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return Verdict(Action.PASS, bytes(data))
    rc = check_ipv4(data, l3, frame)
    if rc == -2:
        return drop_if_vip(maps, data, daddr, DropReason.BAD_IP_CHECKSUM)
    if rc:
        return drop_if_vip(maps, data, daddr, DropReason.BAD_IP_HEADER)
    if struct.unpack_from("!H", data, l3 + 6)[0] & IP_OFFSET:
        return fragment_to_vip(data, maps, fib, now_ns, ingress_ifindex)
    first_fragment = ipv4_is_fragment(data, l3)
    if l4_check(data, proto, frame, first_fragment):
        return drop_if_vip(maps, data, daddr, DropReason.BAD_L4_HEADER)
    sport, dport = struct.unpack_from("=HH", data, frame.l4_off)

    # service lookup
    vip = int.from_bytes(daddr, sys.byteorder)
    svc = service_lookup(maps, vip, dport, proto)
    if svc is None:
        return Verdict(Action.PASS, bytes(data))
    if data[l3 + 8] <= 1:
        return _verdict_drop(maps, data, DropReason.TTL_EXCEEDED)

    # flow lookup, schedule
    tcp_flags = data[frame.l4_off + 13] if proto == IPPROTO_TCP else None
    key = abi.FlowKey(saddr=int.from_bytes(data[l3 + 12:l3 + 16], sys.byteorder),
                      daddr=int.from_bytes(daddr, sys.byteorder), sport=sport, dport=dport, proto=proto)
    picked = select_flow(maps, key, svc, tcp_flags, now_ns, random_u32)
    if isinstance(picked, DropReason):
        return _verdict_drop(maps, data, picked)
    real, real_id, new_conn = picked
    count(maps.svc_stats, svc.id, frame.l3_len, new_conn)
    count(maps.real_stats, real_id, frame.l3_len, new_conn)
    if first_fragment:
        maps.frags.put(frag_key(data, l3), abi.Frag(seen_ns=now_ns, real_id=real_id, real_gen=real.gen,
                                                    svc_id=svc.id))
        return forward_to_real(data, frame, real, FWD_REPLY, maps, fib, ingress_ifindex)
    return forward_to_real(data, frame, real, FWD_REPLY | FWD_CSUM, maps, fib, ingress_ifindex)


# -- decap.h -----------------------------------------------------------------------

def _drop_tunnel_packet(maps: DecapMaps, data: bytearray) -> Verdict:
    add_u64(maps.stats, DecapCounter.DROPPED, 1)
    return Verdict(Action.DROP, bytes(data))


def process_decap(frame_in: bytes, maps: DecapMaps) -> Verdict:
    """One frame through the real server's decapsulation, as lb_decap() handles it."""
    data = bytearray(frame_in)
    outer, inner = Frame(), Frame()
    if parse_eth(data, outer) or not ipv4_at(data, outer.l3_off):
        return Verdict(Action.PASS, bytes(data))
    l3 = outer.l3_off
    if data[l3 + 9] != IPPROTO_IPIP:
        return Verdict(Action.PASS, bytes(data))
    if maps.locals.get(U32(int.from_bytes(data[l3 + 16:l3 + 20], sys.byteorder))) is None:
        return Verdict(Action.PASS, bytes(data))
    if check_ipv4(data, l3, outer) or ipv4_is_fragment(data, l3):
        return _drop_tunnel_packet(maps, data)
    inner.l3_off = outer.l4_off
    if inner.l3_off > 78 or inner.l3_off + 20 > len(data):
        return _drop_tunnel_packet(maps, data)
    if check_ipv4(data, inner.l3_off, inner):
        return _drop_tunnel_packet(maps, data)
    if inner.l3_len != outer.l3_len - (outer.l4_off - outer.l3_off):
        return _drop_tunnel_packet(maps, data)
    daddr = int.from_bytes(data[inner.l3_off + 16:inner.l3_off + 20], sys.byteorder)
    if maps.vips.get(U32(daddr)) is None:
        return Verdict(Action.PASS, bytes(data))
    add_u64(maps.stats, DecapCounter.PACKETS, 1)
    add_u64(maps.stats, DecapCounter.BYTES, inner.l3_len)
    trim_frame(data, outer.l3_off + outer.l3_len)
    return Verdict(Action.PASS, bytes(move_l2_header(data, outer.l3_off, outer.l4_off - outer.l3_off)))
