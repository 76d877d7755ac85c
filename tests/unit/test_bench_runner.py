"""The benchmark's arithmetic and output: statistics, ratios, table, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyvs.bench import main as bench_main
from pyvs.bench.runner import Figure, Options, document, ratio, table, write_json

HEADER = {"machine": {"cpu": "Test CPU", "cores": 2, "kernel": "6.18"}, "reps": 3}


def figures() -> list[Figure]:
    return [
        Figure("cost", "floor", "ns", [10.0, 12.0, 11.0]),
        Figure("cost", "director", "ns", [30.0, 33.0, 36.0], baseline="floor", note="restore included"),
        Figure("rate", "kernel", "Mpps", [1.0, 2.0, 3.0]),
        Figure("rate", "pyvs", "Mpps", [3.0, 4.0, 5.0], baseline="kernel"),
    ]


def test_statistics_are_min_median_max_of_the_samples() -> None:
    fig = Figure("s", "n", "u", [5.0, 1.0, 3.0, 2.0])
    assert (fig.min, fig.median, fig.max) == (1.0, 2.5, 5.0)


def test_ratio_is_median_over_the_baseline_median_of_the_same_section() -> None:
    figs = figures()
    assert ratio(figs[0], figs) is None
    assert ratio(figs[1], figs) == pytest.approx(33.0 / 11.0)
    assert ratio(figs[3], figs) == pytest.approx(2.0)


def test_a_baseline_that_was_not_measured_is_an_error() -> None:
    fig = Figure("rate", "pyvs", "Mpps", [1.0], baseline="kernel")
    with pytest.raises(ValueError, match="baseline 'kernel'"):
        ratio(fig, [fig, Figure("cost", "kernel", "Mpps", [1.0])])


def test_a_zero_baseline_gives_no_ratio() -> None:
    figs = [Figure("w", "steady", "packets lost", [0.0]), Figure("w", "edits", "packets lost", [0.0],
                                                                 baseline="steady")]
    assert ratio(figs[1], figs) is None
    assert table(figs, HEADER).splitlines()[-1].endswith("| - |")


def test_table_has_the_machine_and_one_row_per_figure() -> None:
    lines = table(figures(), HEADER).splitlines()
    assert lines[0] == "machine: Test CPU, 2 cores, kernel 6.18; 3 repetitions each"
    assert lines[4] == "| cost | floor | ns | 10.0 | 11.0 | 12.0 | baseline |"
    assert lines[5] == "| cost | director (restore included) | ns | 30.0 | 33.0 | 36.0 | 3.00x floor |"
    assert lines[7] == "| rate | pyvs | Mpps | 3.00 | 4.00 | 5.00 | 2.00x kernel |"
    assert len(lines) == 4 + len(figures())


def test_json_document_carries_samples_statistics_and_ratios(tmp_path: Path) -> None:
    doc = document(figures(), Options(reps=3), "pyvs bench --reps 3")
    path = tmp_path / "results" / "latest.json"
    write_json(path, doc)
    loaded = json.loads(path.read_text())
    assert loaded["command"] == "pyvs bench --reps 3"
    assert loaded["reps"] == 3 and loaded["smoke"] is False
    assert set(loaded["machine"]) >= {"cpu", "cores", "kernel"}
    director = loaded["figures"][1]
    assert director["samples"] == [30.0, 33.0, 36.0]
    assert (director["min"], director["median"], director["max"]) == (30.0, 33.0, 36.0)
    assert director["ratio_to_baseline"] == pytest.approx(3.0)


def test_options_from_the_command_line() -> None:
    parser = bench_main.argparse.ArgumentParser()
    bench_main.add_arguments(parser)
    smoke = bench_main.options_from(parser.parse_args(["--smoke"]))
    assert (smoke.reps, smoke.smoke) == (1, True)
    full = bench_main.options_from(parser.parse_args(["--reps", "7", "--only", "cost"]))
    assert (full.reps, full.seconds, full.repeat, full.smoke) == (7, 5.0, 1_000_000, False)
    assert bench_main.words_of(parser.parse_args(["--reps", "7", "--only", "cost"])) == [
        "--reps", "7", "--only", "cost"]
    for bad in (["--reps", "0"], ["--seconds", "-1"], ["--repeat", "x"]):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(bad)
        assert info.value.code == 2
