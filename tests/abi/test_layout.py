"""The Python mirrors of bpf/lb_shared.h against the BTF of the compiled objects.

Compiles the objects (clang must be present: this fails rather than skips),
dumps their BTF with bpftool, and compares every struct's size and member
offsets, and every shared enum's values, with pyvs.packet.abi and
pyvs.model.enums.
"""

from __future__ import annotations

import ctypes
import enum
import json
import subprocess
from typing import Any

import pytest

from pyvs.bpf import build
from pyvs.dataplane import libbpf
from pyvs.model import enums
from pyvs.model.enums import FLOW_TIMEOUT_S
from pyvs.packet import abi
from pyvs.packet.tables import (
    DECAP_MAPS,
    DECAP_PREFIX,
    DIRECTOR_MAPS,
    DIRECTOR_PREFIX,
    Capacity,
    MapSpec,
    entries,
)
from pyvs.sched import SCHED_SLOTS
from pyvs.sched.mh import TABLE_SIZE as MH_TABLE_SIZE

pytestmark = pytest.mark.needs_clang


def btf_types(obj: str) -> dict[str, dict[str, Any]]:
    path = build.object_path(obj)
    dump = subprocess.run(["bpftool", "btf", "dump", "file", str(path), "-j"], check=True,
                          capture_output=True, text=True)
    return {t["name"]: t for t in json.loads(dump.stdout)["types"] if t["kind"] in ("STRUCT", "ENUM")}


@pytest.fixture(scope="module", params=["layout", "lb_xdp"])
def types(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    return btf_types(request.param)


@pytest.mark.parametrize("mirror", abi.ALL_STRUCTS, ids=lambda c: c._c_name_)
def test_struct_layout_matches_btf(types: dict[str, dict[str, Any]], mirror: type[ctypes.Structure]) -> None:
    name = mirror._c_name_  # type: ignore[attr-defined]
    assert name in types, f"struct {name} is not in the object's BTF"
    btf = types[name]
    assert btf["kind"] == "STRUCT"
    assert ctypes.sizeof(mirror) == btf["size"]
    c_members = [(m["name"], m["bits_offset"] // 8) for m in btf["members"]]
    py_members = [(f[0], getattr(mirror, f[0]).offset) for f in mirror._fields_]
    assert py_members == c_members


TOOL_CASES = list(dict.fromkeys((mirror, obj) for mirror, tool in abi.TOOL_STRUCTS
                                  for obj in ("layout", tool)))


@pytest.mark.parametrize(("mirror", "obj"), TOOL_CASES,
                         ids=[f"{m._c_name_}-{o}" for m, o in TOOL_CASES])  # type: ignore[attr-defined]
def test_tool_struct_layout_matches_btf(mirror: type[ctypes.Structure], obj: str) -> None:
    test_struct_layout_matches_btf(btf_types(obj), mirror)


SHARED_ENUMS: list[tuple[str, type[enum.IntEnum], str]] = [
    ("lb_sched_kind", enums.Scheduler, "LB_SCHED_"),
    ("lb_fwd_method", enums.FwdMethod, "LB_FWD_"),
    ("lb_svc_flag", enums.SvcFlag, "LB_SVC_F_"),
    ("lb_flow_state", enums.FlowState, "LB_FLOW_"),
    ("lb_drop_reason", enums.DropReason, "LB_DROP_"),
    ("lb_decap_counter", enums.DecapCounter, "LB_DECAP_"),
]


@pytest.mark.parametrize("c_name,py_enum,prefix", SHARED_ENUMS, ids=[e[0] for e in SHARED_ENUMS])
def test_enum_values_match_btf(c_name: str, py_enum: type[enum.IntEnum], prefix: str) -> None:
    values = {v["name"].removeprefix(prefix): v["val"] for v in btf_types("layout")[c_name]["values"]}
    values.pop("MAX", None)
    assert values == {m.name: m.value for m in py_enum}


def test_constants_match_btf() -> None:
    types = btf_types("layout")
    limits = {v["name"]: v["val"] for v in types["lb_limits"]["values"]}
    assert limits["LB_SCHED_SLOTS"] == SCHED_SLOTS
    assert limits["LB_MH_TABLE_SIZE"] == MH_TABLE_SIZE
    timeouts = {v["name"].removeprefix("LB_TIMEOUT_"): v["val"] for v in types["lb_flow_timeout"]["values"]}
    assert timeouts == {state.name: seconds for state, seconds in FLOW_TIMEOUT_S.items()}


@pytest.mark.parametrize(("obj", "specs", "prefix"), [("lb_xdp", DIRECTOR_MAPS, DIRECTOR_PREFIX),
                                                      ("decap_xdp", DECAP_MAPS, DECAP_PREFIX)])
def test_the_declared_maps_are_the_objects_maps(obj: str, specs: tuple[MapSpec, ...], prefix: str) -> None:
    """pyvs.packet.tables declares every map of the object, with its type and key and value sizes."""
    with libbpf.BpfObject(build.object_path(obj)) as opened:
        compiled = {(m.name, m.type, m.key_size, m.value_size, m.max_entries) for m in opened.object_maps()}
    declared = {(prefix + s.field, int(s.kind), ctypes.sizeof(s.key), ctypes.sizeof(s.value),
                 entries(s, prefix + s.field, Capacity())) for s in specs}
    assert declared == compiled
