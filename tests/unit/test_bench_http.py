"""`pyvs bench`'s HTTP section: reading wrk's report (the smoke run is tests/e2e/test_bench_smoke.py)."""

from __future__ import annotations

import pytest

from pyvs.bench import http

WRK_OK = """\
Running 1s test @ http://10.2.2.3:80/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.30us  394.29us   9.06ms   94.06%
    Req/Sec    47.74k    11.38k   63.04k    70.00%
  Latency Distribution
     50%  481.00us
     75%  602.00us
     90%  772.00us
     99%    2.42ms
  142477 requests in 3.01s, 22.69MB read
Requests/sec:  47386.39
Transfer/sec:      7.55MB
"""


def test_parse_wrk() -> None:
    result = http.parse_wrk(WRK_OK)
    assert result.requests_per_second == 47386.39
    assert result.requests == 142477
    assert result.latency_ms["50%"] == pytest.approx(0.481)
    assert result.latency_ms["99%"] == pytest.approx(2.42)


@pytest.mark.parametrize("trouble", [
    "  Socket errors: connect 0, read 3, write 0, timeout 0\n",
    "  Non-2xx or 3xx responses: 1\n",
])
def test_parse_wrk_refuses_failed_runs(trouble: str) -> None:
    with pytest.raises(RuntimeError, match="wrk"):
        http.parse_wrk(WRK_OK.replace("Requests/sec:", trouble + "Requests/sec:"))


def test_parse_wrk_refuses_output_without_a_rate() -> None:
    with pytest.raises(RuntimeError, match="Requests/sec"):
        http.parse_wrk("unable to connect to 10.2.2.3:80 Connection refused\n")
