"""pyvs.dataplane.features without asking the kernel: what instructions and maps
need, loop detection, the table's order, and the README's copy of the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyvs.dataplane import features
from pyvs.dataplane.features import (
    ATOMIC_FETCH,
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_LRU_HASH,
    JMP32,
    LOOPS,
    MAP_FLAGS,
    MAP_TYPES,
    has_loop,
    insn_needs,
    map_needs,
)
from pyvs.dataplane.libbpf import BpfInsn, ObjectMap

README = Path(__file__).resolve().parents[2] / "README.md"


def insn(code: int, off: int = 0, imm: int = 0, src: int = 0) -> BpfInsn:
    return BpfInsn(code=code, regs=src << 4, off=off, imm=imm)


MOV = insn(0xB7)  # r0 = 0
EXIT = insn(0x95)


def test_straight_code_and_forward_jumps_have_no_loop() -> None:
    assert not has_loop([MOV, insn(0x15, off=1), MOV, EXIT])  # if r0 == 0 goto +1


def test_a_backward_jump_to_a_shared_exit_is_no_loop() -> None:
    # 0: if r0 == 0 goto 3; 1: r0 = 0; 2: exit; 3: goto 1  -- 3 jumps back, but not into its own path
    assert not has_loop([insn(0x15, off=2), MOV, EXIT, insn(0x05, off=-3)])


def test_a_jump_back_into_its_own_path_is_a_loop() -> None:
    assert has_loop([MOV, insn(0x07, imm=1), insn(0xA5, off=-2, imm=4), EXIT])  # r0 += 1; if r0 < 4 goto -2


def test_ld_imm64_takes_two_slots() -> None:
    # 0-1: r1 = imm64 (second slot holds garbage that must not be read as a jump); 2: exit
    assert not has_loop([insn(0x18), insn(0x05, off=-2), EXIT])


def test_what_instructions_need() -> None:
    call_fib = insn(0x85, imm=69)
    jmp32 = insn(0x56, off=0, imm=3)
    fetch_add = insn(0xC3, imm=0x01)
    plain_add = insn(0xC3, imm=0x00)  # the old XADD: no fetch, no 5.12
    needs = insn_needs([call_fib, jmp32, plain_add, fetch_add, EXIT])
    assert needs == [features.HELPERS[69], JMP32, ATOMIC_FETCH]
    assert insn_needs([MOV, insn(0x07, imm=1), insn(0xA5, off=-2, imm=4), EXIT]) == [LOOPS]


def test_an_unknown_helper_is_still_a_requirement() -> None:
    [need] = insn_needs([insn(0x85, imm=4000)])
    assert (need.kind, need.ident, need.name) == ("helper", 4000, "the BPF helper #4000")
    assert not need.since[0].isdigit()


def test_what_maps_need() -> None:
    spec = ObjectMap("lb_services", 1, 8, 24, BPF_F_NO_PREALLOC, 16384)
    assert map_needs([spec]) == [MAP_TYPES[1], MAP_FLAGS[BPF_F_NO_PREALLOC]]
    assert map_needs([ObjectMap("lb_flows", BPF_MAP_TYPE_LRU_HASH, 16, 24, 0, 262144)]) == [MAP_TYPES[9]]


def test_unique_orders_by_first_release() -> None:
    ordered = features.unique([ATOMIC_FETCH, JMP32, ATOMIC_FETCH, features.PROGRAM_XDP])
    assert ordered == [features.PROGRAM_XDP, JMP32, ATOMIC_FETCH]
    assert features.minimum(ordered) == "5.12"


@pytest.mark.needs_clang  # the table says what the compiled objects need
def test_the_readme_has_the_table_of_features() -> None:
    assert features.markdown_table() in README.read_text()
    assert f"Linux {features.minimum(features.FEATURES)}" in README.read_text()
