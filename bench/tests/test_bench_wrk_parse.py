"""wrk's text report is parsed into the right numbers."""

import math

import pytest
from wrkrun import WrkError, parse_wrk_output

SAMPLE = """Running 2s test @ http://127.0.0.1:41401/hello
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.87ms  477.93us   4.41ms   77.60%
    Req/Sec    26.20k   308.28    26.78k    65.00%
  Latency Distribution
     50%  803.00us
     75%    2.07ms
     90%    2.19ms
     99%    1.02s
  52110 requests in 2.00s, 4.77MB read
  Socket errors: connect 3, read 1, write 0, timeout 7
  Non-2xx or 3xx responses: 5
Requests/sec:  26000.94
Transfer/sec:      2.38MB
BENCH ok=100
BENCH shed=20
"""


def test_numbers_and_units():
    result = parse_wrk_output(SAMPLE)
    assert result.requests == 52110
    assert result.seconds == pytest.approx(2.0)
    assert result.rps == pytest.approx(26000.94)
    assert result.latency_p50_ms == pytest.approx(0.803)
    assert result.latency_p90_ms == pytest.approx(2.19)
    assert result.latency_p99_ms == pytest.approx(1020.0)


def test_errors_and_script_output():
    result = parse_wrk_output(SAMPLE)
    assert result.socket_errors == {"connect": 3, "read": 1, "write": 0, "timeout": 7}
    assert result.non_2xx == 5
    assert result.errors == 16
    assert result.ok_rps == pytest.approx(26000.94 * (52110 - 5) / 52110)
    assert result.as_dict()["ok_rps"] == result.ok_rps
    assert result.script_output == {"ok": "100", "shed": "20"}


def test_clean_run_has_no_errors():
    clean = "\n".join(line for line in SAMPLE.splitlines() if "errors" not in line and "Non-2xx" not in line)
    result = parse_wrk_output(clean)
    assert result.errors == 0


def test_missing_percentiles_are_nan():
    result = parse_wrk_output("  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n")
    assert math.isnan(result.latency_p99_ms)


def test_unreadable_output_raises():
    with pytest.raises(WrkError):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")
