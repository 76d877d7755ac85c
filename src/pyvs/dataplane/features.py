"""What pyvs needs of the running kernel, the first Linux release of each
feature, and a probe for each.

`pyvs director attach` and `pyvs realserver up` call `require()` before they
load or change anything: a kernel without a feature gets one line naming it
and the first release that has it, never a program that loads and then drops
traffic (a helper flag the kernel does not know makes every call fail with
-EINVAL at run time, after the verifier has accepted the program).

What a program needs is read off the compiled object itself
(`program_needs()`): the helpers it calls, its 32-bit jumps, atomic
fetch-and-adds and loops, the types and flags of its maps. What pyvs does with
it at run time is declared beside it: the director's bpf_fib_lookup() must
answer with the route's MTU (run in a private network namespace, as the
director will call it), and pyvsadm reads maps in batches.

Rule 1: `kernel_has(feature)` is the only function that asks the kernel;
tests replace it to make one probe fail, and nothing else changes.
Rule 2: the distribution's version number decides nothing: kernels carry
backports (RHEL 9's 5.14 has BPF from later releases), so every feature is
probed, and `MINIMUM` only says which mainline release has them all.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyvs.bpf import build
from pyvs.child_env import child_env
from pyvs.dataplane import libbpf
from pyvs.model.errors import DataplaneError, LbError
from pyvs.packet import abi

BPF_PROG_TYPE_XDP = 6
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_HASH = 9
BPF_F_NO_PREALLOC = 1 << 0

# Instruction encoding (linux/bpf_common.h, linux/bpf.h)
BPF_CLASS_MASK, BPF_OP_MASK, BPF_MODE_MASK = 0x07, 0xF0, 0xE0
BPF_STX, BPF_JMP, BPF_JMP32 = 0x03, 0x05, 0x06
BPF_JA, BPF_CALL, BPF_EXIT = 0x00, 0x80, 0x90
BPF_ATOMIC, BPF_FETCH = 0xC0, 0x01
BPF_LD_IMM64 = 0x18  # takes two instruction slots
BPF_PSEUDO_CALL = 1  # src_reg of a call to a BPF function rather than a helper
BPF_PSEUDO_FUNC = 4  # src_reg of an ld_imm64 loading a BPF function's address (a callback)
BPF_FIB_LKUP_RET_FRAG_NEEDED = 8


class MissingFeature(LbError):
    """The running kernel lacks a feature pyvs needs; the message names it and its first release."""

    def __init__(self, feature: Feature, release: str | None = None) -> None:
        self.feature = feature
        release = release or platform.release()
        super().__init__(f"this kernel ({release}) lacks {feature.name}, first in Linux {feature.since}: "
                         "nothing was loaded or changed")


@dataclass(frozen=True, slots=True)
class Feature:
    """One thing pyvs asks of the kernel.

    `kind` says how to probe it (program, helper, map, map-flag, insn, run)
    and `ident` what to probe (helper number, map type, flag bit, or a key of
    the instruction and run-time probes).
    """

    kind: str
    ident: int
    name: str
    since: str  # the first mainline release that has it


PROGRAM_XDP = Feature("program", BPF_PROG_TYPE_XDP, "XDP programs", "4.8")
HELPERS = {f.ident: f for f in (
    Feature("helper", 1, "the BPF helper bpf_map_lookup_elem()", "3.19"),
    Feature("helper", 2, "the BPF helper bpf_map_update_elem()", "3.19"),
    Feature("helper", 3, "the BPF helper bpf_map_delete_elem()", "3.19"),
    Feature("helper", 5, "the BPF helper bpf_ktime_get_ns()", "4.1"),
    Feature("helper", 7, "the BPF helper bpf_get_prandom_u32() (the twos scheduler)", "4.1"),
    Feature("helper", 23, "the BPF helper bpf_redirect() in XDP programs", "4.14"),
    Feature("helper", 28, "the BPF helper bpf_csum_diff() in XDP programs (checksums left to offload)",
            "4.15"),
    Feature("helper", 44, "the BPF helper bpf_xdp_adjust_head()", "4.10"),
    Feature("helper", 65, "the BPF helper bpf_xdp_adjust_tail()", "4.18"),
    Feature("helper", 69, "the BPF helper bpf_fib_lookup()", "4.18"),
    Feature("helper", 164, "the BPF helper bpf_for_each_map_elem() (the sweeper's walk)", "5.13"),
    Feature("helper", 169, "BPF timers: bpf_timer_init() (the sweeper)", "5.15"),
    Feature("helper", 170, "BPF timers: bpf_timer_set_callback()", "5.15"),
    Feature("helper", 171, "BPF timers: bpf_timer_start()", "5.15"),
    Feature("helper", 195, "the BPF helper bpf_map_lookup_percpu_elem() (the rate estimator)", "5.19"),
)}
MAP_TYPES = {f.ident: f for f in (
    Feature("map", BPF_MAP_TYPE_HASH, "BPF hash maps", "3.19"),
    Feature("map", BPF_MAP_TYPE_ARRAY, "BPF array maps", "3.19"),
    Feature("map", BPF_MAP_TYPE_PERCPU_ARRAY, "per-CPU BPF array maps", "4.6"),
    Feature("map", BPF_MAP_TYPE_LRU_HASH, "LRU hash BPF maps", "4.10"),
)}
MAP_FLAGS = {f.ident: f for f in (
    Feature("map-flag", BPF_F_NO_PREALLOC, "BPF hash maps without preallocation (BPF_F_NO_PREALLOC)", "4.6"),
)}
JMP32 = Feature("insn", 1, "32-bit BPF jumps (JMP32: the programs are built with -mcpu=v3)", "5.1")
LOOPS = Feature("insn", 2, "bounded loops in BPF programs", "5.3")
ATOMIC_FETCH = Feature("insn", 3, "BPF atomic fetch-and-add (BPF_ATOMIC with BPF_FETCH)", "5.12")
# The director's mh fallback is a global function, which verifiers from 5.6 check once, on its own
# (its loop over half the Maglev table fits no other way); its probe can only show that calls load.
CALLS = Feature("insn", 4, "BPF-to-BPF calls to global functions, each verified on its own", "5.6")
FIB_MTU = Feature("run", 1, "bpf_fib_lookup() answering a too-big packet with the route's MTU (mtu_result)",
                  "5.12")
BATCH_READS = Feature("run", 2, "batched BPF map reads and writes (BPF_MAP_LOOKUP_BATCH, "
                      "BPF_MAP_UPDATE_BATCH)", "5.6")

FEATURES: tuple[Feature, ...] = (PROGRAM_XDP, *HELPERS.values(), *MAP_TYPES.values(), *MAP_FLAGS.values(),
                                 JMP32, LOOPS, ATOMIC_FETCH, CALLS, FIB_MTU, BATCH_READS)


def release_key(release: str) -> tuple[int, ...]:
    """'5.12' -> (5, 12): releases in order."""
    return tuple(int(part) for part in release.split("."))


# -- what a program needs, read off its object ---------------------------------------

def _unknown(kind: str, ident: int, what: str) -> Feature:
    return Feature(kind, ident, what, "? (not in pyvs' table)")


def insn_needs(insns: Sequence[libbpf.BpfInsn]) -> list[Feature]:
    """The helpers and instruction-set features a program's instructions use."""
    needs: list[Feature] = []
    for insn in insns:
        cls = insn.code & BPF_CLASS_MASK
        if insn.code == BPF_JMP | BPF_CALL and insn.src_reg == 0:
            needs.append(HELPERS.get(insn.imm) or _unknown("helper", insn.imm, f"the BPF helper #{insn.imm}"))
        elif insn.code == BPF_JMP | BPF_CALL and insn.src_reg == BPF_PSEUDO_CALL:
            needs.append(CALLS)
        elif cls == BPF_JMP32:
            needs.append(JMP32)
        elif cls == BPF_STX and insn.code & BPF_MODE_MASK == BPF_ATOMIC and insn.imm & BPF_FETCH:
            needs.append(ATOMIC_FETCH)
    if has_loop(insns):
        needs.append(LOOPS)
    return needs


def _successors(insns: Sequence[libbpf.BpfInsn], i: int) -> list[int]:
    insn = insns[i]
    cls, op = insn.code & BPF_CLASS_MASK, insn.code & BPF_OP_MASK
    step = 2 if insn.code == BPF_LD_IMM64 else 1
    if cls not in (BPF_JMP, BPF_JMP32) or op == BPF_CALL:
        return [i + step]
    if op == BPF_EXIT:
        return []
    target = i + 1 + insn.off
    return [target] if op == BPF_JA and cls == BPF_JMP else [i + 1, target]


def has_loop(insns: Sequence[libbpf.BpfInsn]) -> bool:
    """True when the control-flow graph from the first instruction has a cycle (what
    verifiers before Linux 5.3 reject as a "back-edge")."""
    on_path, done = set(), set()
    stack: list[tuple[int, list[int]]] = [(0, _successors(insns, 0))] if insns else []
    on_path.add(0)
    while stack:
        node, pending = stack[-1]
        if not pending:
            stack.pop()
            on_path.discard(node)
            done.add(node)
            continue
        nxt = pending.pop()
        if nxt in on_path:
            return True
        if nxt in done or not 0 <= nxt < len(insns):
            continue
        on_path.add(nxt)
        stack.append((nxt, _successors(insns, nxt)))
    return False


def map_needs(specs: Iterable[libbpf.ObjectMap]) -> list[Feature]:
    needs: list[Feature] = []
    for spec in specs:
        needs.append(MAP_TYPES.get(spec.type) or _unknown("map", spec.type, f"BPF maps of type {spec.type}"))
        for bit in range(32):
            if spec.flags & (1 << bit):
                needs.append(MAP_FLAGS.get(1 << bit)
                             or _unknown("map-flag", 1 << bit, f"the BPF map flag {1 << bit:#x}"))
    return needs


def program_needs(obj: libbpf.BpfObject, program: str,
                  functions: Sequence[libbpf.BpfInsn] = ()) -> list[Feature]:
    """Everything loading `program` of the opened (not yet loaded) `obj` asks of the kernel.

    Before loading, libbpf shows a program without the functions it calls, which
    live in the object's .text (`functions`): what they need counts when it calls
    any, and a jump backwards there is a loop.
    """
    insns = obj.program_insns(program)
    needs = [PROGRAM_XDP, *insn_needs(insns), *map_needs(obj.object_maps())]
    callbacks = any(insn.code == BPF_LD_IMM64 and insn.src_reg == BPF_PSEUDO_FUNC for insn in insns)
    if CALLS in needs or callbacks:
        needs += insn_needs(functions)
        if any(insn.code & BPF_CLASS_MASK in (BPF_JMP, BPF_JMP32) and insn.code & BPF_OP_MASK
               not in (BPF_CALL, BPF_EXIT) and insn.off < 0 for insn in functions):
            needs.append(LOOPS)
    return unique(needs)


def object_needs(name: str, *programs: str) -> list[Feature]:
    """program_needs() of `programs` of the compiled object `name` (see pyvs.bpf.build.OBJECTS)."""
    path = build.object_path(name)
    with libbpf.BpfObject(path) as obj:
        functions = text_insns(path)
        return unique(need for program in programs for need in program_needs(obj, program, functions))


def text_insns(path: Path) -> list[libbpf.BpfInsn]:
    """The instructions of an ELF object's .text section (its BPF functions); [] when it has none."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(index: int) -> tuple[int, int, int]:
        at = shoff + index * shentsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, at)
        return name, offset, size

    _, names_at, _ = header(shstrndx)
    for index in range(shnum):
        name, offset, size = header(index)
        if data[names_at + name:data.index(b"\0", names_at + name)] == b".text":
            return [libbpf.BpfInsn.from_buffer_copy(data, offset + i) for i in range(0, size, 8)]
    return []


# Every program of lb_xdp.o: loading the object loads them all.
DIRECTOR_PROGRAMS = ("lb_director", "lb_sweep", "lb_sweeper_start")
ESTIMATOR_PROGRAMS = ("lb_estimate", "lb_estimator_start")


def director_needs() -> list[Feature]:
    """The XDP director's needs, with what it does at run time and what pyvsadm does."""
    return unique([*object_needs("lb_xdp", *DIRECTOR_PROGRAMS), FIB_MTU, BATCH_READS])


def maps_only_needs() -> list[Feature]:
    """What the live Python data plane needs: the director's maps (its object still loads)."""
    return unique([*object_needs("lb_xdp", *DIRECTOR_PROGRAMS), BATCH_READS])


def estimator_needs() -> list[Feature]:
    """The rate estimator's needs (`-L --rate`): the director runs without it where they lack."""
    return object_needs("estimator_xdp", *ESTIMATOR_PROGRAMS)


def has_all(features: Iterable[Feature]) -> bool:
    return all(kernel_has(feature) for feature in unique(features))


def decap_needs() -> list[Feature]:
    return object_needs("decap_xdp", "lb_decap")


def unique(features: Iterable[Feature]) -> list[Feature]:
    """In order of first release (then first mention), each feature once."""
    seen: dict[Feature, None] = dict.fromkeys(features)
    known = [f for f in seen if f.since[0].isdigit()]
    unknown = [f for f in seen if not f.since[0].isdigit()]
    return sorted(known, key=lambda f: release_key(f.since)) + unknown


def minimum(features: Iterable[Feature]) -> str:
    """The first mainline release that has all of them."""
    return max((f.since for f in features if f.since[0].isdigit()), key=release_key)


# -- asking the kernel ----------------------------------------------------------------

def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> libbpf.BpfInsn:
    return libbpf.BpfInsn(code=code, regs=(src << 4) | dst, off=off, imm=imm)


_R0, _R1, _R10 = 0, 1, 10
_EXIT = _insn(BPF_JMP | BPF_EXIT)
_RETURN_PASS = [_insn(0xB7, _R0, imm=2), _EXIT]  # r0 = XDP_PASS; exit
INSN_PROBES: dict[int, list[libbpf.BpfInsn]] = {
    # w0 = 2; if w0 != 3 goto +0; exit
    JMP32.ident: [_insn(0xB4, _R0, imm=2), _insn(BPF_JMP32 | 0x50, _R0, imm=3), _EXIT],
    # r0 = 0; loop: r0 += 1; if r0 < 4 goto loop; r0 = 2; exit
    LOOPS.ident: [_insn(0xB7, _R0), _insn(0x07, _R0, imm=1), _insn(BPF_JMP | 0xA0, _R0, off=-2, imm=4),
                  *_RETURN_PASS],
    # call +2 (a BPF function: r0 = 0; exit); r0 = XDP_PASS; exit
    CALLS.ident: [_insn(BPF_JMP | BPF_CALL, src=BPF_PSEUDO_CALL, imm=2), *_RETURN_PASS,
                  _insn(0xB7, _R0), _EXIT],
    # *(u32 *)(r10 - 4) = 0 (via r1); r1 = 1; r1 = atomic_fetch_add((u32 *)(r10 - 4), r1); return XDP_PASS
    ATOMIC_FETCH.ident: [_insn(0xB7, _R1), _insn(0x63, _R10, _R1, off=-4), _insn(0xB7, _R1, imm=1),
                         _insn(BPF_STX | BPF_ATOMIC | 0x00, _R10, _R1, off=-4, imm=BPF_FETCH),
                         *_RETURN_PASS],
}


def _loads(insns: list[libbpf.BpfInsn]) -> bool:
    try:
        os.close(libbpf.prog_load(BPF_PROG_TYPE_XDP, insns))
        return True
    except DataplaneError:
        return False


def _creates_map(flags: int) -> bool:
    try:
        os.close(libbpf.map_create(BPF_MAP_TYPE_HASH, 4, 4, 1, flags))
        return True
    except DataplaneError:
        return False


def _reads_in_batches() -> bool:
    try:
        fd = libbpf.map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    except DataplaneError:
        return False
    try:
        libbpf.map_update_batch(fd, bytes(8), bytes(16), 2)
        libbpf.map_lookup_batch(fd, 4, 8, 4)
        return True
    except DataplaneError:
        return False
    finally:
        os.close(fd)


# The FIB probe's private namespace: 192.0.2.0/24 (TEST-NET-1) routed through lo
# with a locked MTU, so that a 1500-byte packet is too big for it.
PROBE_NET, PROBE_DST, PROBE_MTU, PROBE_LEN = "192.0.2.0/24", "192.0.2.1", 1280, 1500


def fib_probe_here() -> tuple[int, int]:
    """In a fresh network namespace (the caller's): route, then one lookup as the
    director makes it; returns (bpf_fib_lookup's code, mtu_result)."""
    for argv in (["ip", "link", "set", "lo", "up"],
                 ["ip", "route", "add", PROBE_NET, "dev", "lo", "mtu", "lock", str(PROBE_MTU)]):
        subprocess.run(argv, check=True, capture_output=True, timeout=10)
    Path("/proc/sys/net/ipv4/conf/lo/forwarding").write_text("1\n")
    question = abi.FibProbe(dst=abi.be32(ipaddress.IPv4Address(PROBE_DST)), tot_len=PROBE_LEN)
    with libbpf.BpfObject(build.object_path("probe_xdp")) as obj:
        obj.load()
        # No context: the test run's ingress is this namespace's loopback, which
        # every kernel with BPF_PROG_TEST_RUN for XDP (4.12) accepts.
        _, out, _ = libbpf.prog_test_run(obj.program_fd("fib_probe"), bytes(question) + bytes(48))
    answer = abi.FibProbe.from_buffer_copy(out)
    return answer.rc, answer.mtu_result


def fib_probe_argv() -> list[str]:
    """The command that runs fib_probe_here() (in whatever namespace it is started in)."""
    return [sys.executable, "-m", "pyvs.dataplane.features", "--fib-probe"]


def _fib_answers_mtu() -> bool:
    argv = ["unshare", "--net", "--", *fib_probe_argv()]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env(), cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataplaneError(5, f"the bpf_fib_lookup() probe could not run ({exc})") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise DataplaneError(5, f"the bpf_fib_lookup() probe could not run ({why})")
    rc, mtu = (int(word) for word in done.stdout.split()[:2])
    return rc == BPF_FIB_LKUP_RET_FRAG_NEEDED and mtu == PROBE_MTU


RUN_PROBES: dict[int, Callable[[], bool]] = {FIB_MTU.ident: _fib_answers_mtu,
                                             BATCH_READS.ident: _reads_in_batches}


def kernel_has(feature: Feature) -> bool:
    """Ask the running kernel whether it has `feature` (the seam tests replace)."""
    if feature.kind == "program":
        return libbpf.probe_prog_type(feature.ident)
    if feature.kind == "helper":
        return libbpf.probe_helper(BPF_PROG_TYPE_XDP, feature.ident)
    if feature.kind == "map":
        return libbpf.probe_map_type(feature.ident)
    if feature.kind == "map-flag":
        return _creates_map(feature.ident)
    if feature.kind == "insn":
        return _loads(INSN_PROBES[feature.ident])
    if feature.kind == "run":
        return RUN_PROBES[feature.ident]()
    raise ValueError(f"no probe for {feature.kind} features")


def require(features: Iterable[Feature]) -> None:
    """Raise MissingFeature for the first (oldest) feature the kernel lacks."""
    for feature in unique(features):
        if not kernel_has(feature):
            raise MissingFeature(feature)


# -- the README's table ----------------------------------------------------------------

def markdown_table() -> str:
    """The table of features in the README (tests/unit check that it is this one)."""
    users: dict[Feature, list[str]] = {f: [] for f in FEATURES}
    programs = (("director", director_needs()), ("rates", estimator_needs()), ("decap", decap_needs()))
    for who, needs in programs:
        for f in needs:
            users.setdefault(f, []).append(who)
    rows = ["| feature | needed by | first mainline release |", "|---|---|---|"]
    for f in unique(FEATURES):
        rows.append(f"| {f.name} | {', '.join(users[f]) or '-'} | {f.since} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyvs.dataplane.features")
    parser.add_argument("--fib-probe", action="store_true",
                        help="(in a private network namespace) one bpf_fib_lookup(): prints code and MTU")
    parser.add_argument("--table", action="store_true", help="print the README's table of features")
    args = parser.parse_args(argv)
    if args.fib_probe:
        print(*fib_probe_here())
        return 0
    if args.table:
        print(markdown_table())
        return 0
    missing = [f for f in unique([*director_needs(), *decap_needs()]) if not kernel_has(f)]
    for f in missing:
        print(f"missing: {f.name} (Linux {f.since})")
    print(f"{len(missing)} missing; all of them are in Linux {minimum(FEATURES)} and later")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
