"""The W5 and idle-footprint pipelines run end to end (against a small peer,
so they work before rover-mt does; with tiny loads, so they stay fast)."""

import shutil

import footprint
import overload
import pytest
from probe import WrkProbe
from servers import PEERS, RunningServer

PEER = next(p for p in PEERS if p.name == "selectors-httptools")


def test_footprint_counts_open_connections():
    result = footprint.measure_footprint(settle_s=0.2, spec=PEER, counts=(20, 50))
    assert [p["connections"] for p in result["points"]] == [20, 50]
    assert [p["open"] for p in result["points"]] == [20, 50]
    assert result["rss_idle_kib"] > 0
    assert set(result["met"]) == {"idle_rss_within_60_mib", "per_connection_within_10_kib"}


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (bench/setup.sh installs it)")
def test_overload_counts_statuses_and_probes(tmp_path):
    result = overload.run_overload(1.0, tmp_path, spec=PEER, connections=20)
    assert result["capacity_rps"] > 0
    # Capacity counts 200s from a calibration that shed nothing.
    assert result["calibration_answers"]["ok"] > 0
    assert result["calibration_answers"].get("shed", 0) == 0
    assert result["ok"] > 0 and result["other_status"] == 0
    assert result["probe"]["ok"] > 0
    assert result["p99_bound_ms"] == pytest.approx(2 * (overload.QUEUE_BOUND / overload.WORKERS + 1)
                                                   * result["service_time_ms"])
    assert result["still_answers"] is True


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (bench/setup.sh installs it)")
def test_probe_times_each_of_its_requests(tmp_path):
    with RunningServer(PEER) as server:
        probe = WrkProbe(f"http://127.0.0.1:{server.port}/hello", 3, 0.1, 1.2, tmp_path)
        probe.start()
        probe.wait()
    samples = probe.samples
    assert probe.error is None
    # One file per wrk thread, so each connection kept its own clock.
    assert len(list((tmp_path / "probe").glob("probe-*.txt"))) == 3
    assert len(samples) > 100
    assert {status for status, _ in samples} == {200}
    assert all(0 < seconds < 1 for _, seconds in samples)


def test_overload_calibrates_without_the_wait_limit_it_then_sets():
    # The calibration's server has no queue_timeout, so it sheds nothing; the
    # overload server's limit is the queue's drain time at the measured speed.
    assert "queue_timeout" not in overload.overload_spec().settings
    spec = overload.overload_spec(overload.DRAIN_RUNS * 0.0013)
    assert spec.settings["queue_timeout"] == pytest.approx(0.0052)
    assert spec.settings["queue_bound"] == overload.QUEUE_BOUND
    assert "queue_timeout 5.20 ms" in spec.description
