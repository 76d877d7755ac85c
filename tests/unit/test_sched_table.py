"""sh and dh against an independent model of IPVS's own schedulers (pure).

`KernelHash` follows ip_vs_sh.c and ip_vs_dh.c step by step: destinations
in a list with new ones added at the head, the bucket table rebuilt on every
change with the kernel's walk (a pointer that skips the list head), the
kernel's hash, sh's availability test and its fallback loop. pyvs plans the
same edits into its maps (pyvs.control.plan) and picks with the reference
pipeline's table_pick(), which the differential test holds the XDP program
to; hypothesis drives both through random edits and clients and compares
every pick.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvs.model import Scheduler
from pyvs.model.enums import SvcFlag
from pyvs.sched import slots
from pyvs.sched.table import dh_table, sh_table
from tests.unit.sched_replay import VIP, Step, clients, edits, pyvs_pick, replay

IP = ipaddress.IPv4Address
HEAD = -1  # the list head, which is no destination


@dataclass
class KernelHash:
    scheduler: Scheduler
    fallback: bool = False
    port: bool = False
    dests: list[list[object]] = field(default_factory=list)  # [address, weight], head first
    buckets: list[int | None] = field(default_factory=lambda: [None] * 256)  # index into dests

    def reassign(self) -> None:
        """ip_vs_sh_reassign() / ip_vs_dh_reassign(), with list_head pointers as indices."""
        p, d_count = HEAD, 0
        for i in range(256):
            if not self.dests:
                self.buckets[i] = None
                continue
            if p == HEAD:
                p = 0
            self.buckets[i] = p
            if self.scheduler == Scheduler.SH:
                d_count += 1
                if d_count >= int(self.dests[p][1]):  # type: ignore[call-overload]
                    p = p + 1 if p + 1 < len(self.dests) else HEAD
                    d_count = 0
            else:
                p = p + 1 if p + 1 < len(self.dests) else HEAD

    def add(self, address: IP, weight: int) -> None:
        self.dests.insert(0, [address, weight])
        self.reassign()

    def edit(self, address: IP, weight: int) -> None:
        for dest in self.dests:
            if dest[0] == address:
                dest[1] = weight
        if self.scheduler == Scheduler.SH:  # dh has no upd_dest: its table ignores weights
            self.reassign()

    def delete(self, address: IP) -> None:
        self.dests = [d for d in self.dests if d[0] != address]
        self.reassign()

    @staticmethod
    def hashkey(address: int, port: int, offset: int) -> int:
        return (offset + ((port + address) & 0xFFFFFFFF) * 2654435761) & 255

    def _available(self, index: int) -> bool:
        return int(self.dests[index][1]) > 0  # type: ignore[call-overload]

    def schedule(self, client: IP, sport: int) -> IP | None:
        if self.scheduler == Scheduler.DH:
            index = self.buckets[(int(VIP) * 2654435761) & 255]
            return None if index is None or not self._available(index) else self.dests[index][0]  # type: ignore[return-value]
        port = sport if self.port else 0
        ihash = self.hashkey(int(client), port, 0)
        index = self.buckets[ihash]
        if index is None:
            return None
        if self._available(index):
            return self.dests[index][0]  # type: ignore[return-value]
        if not self.fallback:
            return None
        for offset in range(256):
            roffset = (offset + ihash) % 256
            index = self.buckets[self.hashkey(int(client), port, roffset)]
            if index is None:
                break
            if self._available(index):
                return self.dests[index][0]  # type: ignore[return-value]
        return None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(scheduler=st.sampled_from([Scheduler.SH, Scheduler.DH]), fallback=st.booleans(), port=st.booleans(),
       steps=edits([0, 1, 1, 2, 3, 7, 100, 300], 12), probes=clients(8))
def test_pyvs_places_clients_where_the_kernel_does(scheduler: Scheduler, fallback: bool, port: bool,
                                                     steps: list[Step], probes: list[tuple[IP, int]]) -> None:
    model = KernelHash(scheduler, fallback, port)
    flags = (SvcFlag.SCHED1 if fallback else 0) | (SvcFlag.SCHED2 if port else 0)
    for maps in replay(steps, model, scheduler, flags):
        for client, sport in probes + _aimed_at_unavailable(model, probes, port):
            assert pyvs_pick(maps, client, sport) == model.schedule(client, sport), (client, sport)


INVERSE = pow(2654435761, -1, 256)  # the multiplier is odd: every bucket has its addresses


def _aimed_at_unavailable(model: KernelHash, probes: list[tuple[IP, int]],
                          port: bool) -> list[tuple[IP, int]]:
    """Clients whose first bucket holds a real server of weight 0, where sh falls back
    (a random client finds one bucket in 256)."""
    aimed = []
    for bucket, index in enumerate(model.buckets):
        if index is None or model._available(index):
            continue
        for client, sport in probes:
            low = (bucket * INVERSE - (sport if port else 0)) % 256
            aimed.append((IP((int(client) & ~0xFF) | low), sport))
    return aimed


def test_sh_gives_each_real_server_its_weight_in_buckets_newest_first() -> None:
    # list order (newest first) [3, 1]: three buckets for the first, one for the second, again and again
    assert sh_table([3, 1])[:8] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert sh_table([0, 2])[:6] == [0, 1, 1, 0, 1, 1]  # weight 0: one bucket, in which it is unavailable
    assert sh_table([]) == []
    assert slots(Scheduler.SH, [1, 1, 1]) == [i % 3 for i in range(256)]


def test_dh_ignores_weights() -> None:
    assert dh_table(3) == slots(Scheduler.DH, [5, 0, 1]) == [i % 3 for i in range(256)]


def test_sh_hash_is_the_kernels() -> None:
    # (ntohl(10.1.1.1) * 2654435761) & 255, worked by hand: 0x0A010101 * 0x9E3779B1 ends in ...0xB1
    assert KernelHash.hashkey(int(IP("10.1.1.1")), 0, 0) == (0x0A010101 * 0x9E3779B1) & 255 == 0xB1
