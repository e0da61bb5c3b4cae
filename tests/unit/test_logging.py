"""Logger settings, levels, sampling and line formats (rover_mt.observe.Logger)."""

from __future__ import annotations

import io
import math
import random
import re

import orjson
import pytest

from rover_mt.observe import Logger

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARN|ERROR) \S")


def make(**settings) -> tuple[Logger, io.StringIO]:
    stream = io.StringIO()
    return Logger(stream=stream, **settings), stream


def lines_of(logger: Logger, stream: io.StringIO) -> list[str]:
    assert logger.flush(timeout=5)
    return stream.getvalue().splitlines()


def access(logger: Logger, request_id: str = "r1", path: str = "/users/7") -> None:
    logger.access(
        method="GET", path=path, route="/users/{id}", status=200,
        duration_s=0.0123456, bytes_sent=42, request_id=request_id, client_ip="127.0.0.1",
    )


@pytest.mark.parametrize("rate", [math.nan, -0.1, 1.0001, 2, "0.5", None, True, math.inf])
def test_bad_sample_rates_are_rejected_naming_the_setting(rate):
    with pytest.raises(ValueError, match="log_sample_rate"):
        Logger(sample_rate=rate, stream=io.StringIO())


@pytest.mark.parametrize("rate", [0, 0.0, 0.25, 1, 1.0])
def test_sample_rates_in_range_are_accepted(rate):
    logger = Logger(sample_rate=rate, stream=io.StringIO())
    assert logger.sample_rate == rate
    logger.close()


def test_bad_level_and_format_are_rejected_naming_the_setting():
    with pytest.raises(ValueError, match="log_level"):
        Logger(level="verbose", stream=io.StringIO())
    with pytest.raises(ValueError, match="log_format"):
        Logger(fmt="xml", stream=io.StringIO())
    with pytest.raises(ValueError, match="buffer_size"):
        Logger(buffer_size=0, stream=io.StringIO())


def test_level_filters_records_below_it():
    logger, stream = make(level="warn")
    logger.debug("d")
    logger.info("i")
    access(logger)
    logger.warn("w")
    logger.error("e")
    assert [line.split(" ", 2)[1] for line in lines_of(logger, stream)] == ["WARN", "ERROR"]
    assert logger.level == "warn"
    assert not logger.enabled("info") and logger.enabled("error")


def test_level_names_are_case_insensitive():
    logger, stream = make(level="DEBUG")
    logger.debug("d")
    assert len(lines_of(logger, stream)) == 1


def test_nope_silences_everything_including_errors():
    logger, stream = make(level="nope")
    logger.error("e")
    logger.warn("w")
    access(logger)
    assert lines_of(logger, stream) == []


def test_sample_rate_zero_keeps_only_warnings_and_errors():
    logger, stream = make(level="debug", sample_rate=0)
    for index in range(500):
        logger.debug("d")
        logger.info("i")
        access(logger, request_id=str(index))
        logger.warn("w", n=index)
        logger.error("e", n=index)
    levels = [line.split(" ", 2)[1] for line in lines_of(logger, stream)]
    assert levels.count("WARN") == 500 and levels.count("ERROR") == 500
    assert len(levels) == 1000


def test_sample_rate_one_keeps_everything():
    logger, stream = make(level="debug", sample_rate=1.0, rng=lambda: 0.999999)
    for index in range(500):
        logger.debug("d")
        logger.info("i")
        access(logger, request_id=str(index))
    assert len(lines_of(logger, stream)) == 1500


def test_sample_rate_one_tenth_keeps_about_a_tenth_and_every_warning():
    logger, stream = make(level="debug", sample_rate=0.1, rng=random.Random(1234).random, buffer_size=50000)
    for index in range(20000):
        access(logger, request_id=str(index))
        if index % 100 == 0:
            logger.warn("w", n=index)
    lines = lines_of(logger, stream)
    kept_access = sum(" access " in line for line in lines)
    # Binomial(20000, 0.1): mean 2000, sd 42; this band is over 7 sd wide each way.
    assert 1700 <= kept_access <= 2300
    assert sum(" WARN " in line for line in lines) == 200


def test_sampling_is_decided_per_record():
    decisions = iter([0.05, 0.5, 0.05, 0.5])
    logger, stream = make(sample_rate=0.1, rng=lambda: next(decisions))
    for name in ("a", "b", "c", "d"):
        logger.info(name)
    assert [line.split(" ")[2] for line in lines_of(logger, stream)] == ["a", "c"]


def test_text_lines_have_timestamp_level_message_and_fields():
    logger, stream = make()
    logger.info("server started", address="http://127.0.0.1:4242", workers=4, note="two words", empty="")
    access(logger)
    started, access_line = lines_of(logger, stream)
    assert TEXT_LINE.match(started)
    assert started.endswith(
        ' INFO server started address=http://127.0.0.1:4242 workers=4 note="two words" empty=""'
    )
    assert TEXT_LINE.match(access_line)
    for part in ("INFO access", "method=GET", "path=/users/7", "route=/users/{id}", "status=200",
                 "bytes=42", "duration_ms=12.346", "request_id=r1", "client_ip=127.0.0.1"):
        assert part in access_line


def test_text_records_never_span_lines():
    logger, stream = make()
    logger.error("bad\nthing", traceback="Traceback:\n  line 1\r\nError: x")
    access(logger, path='/evil\n2026-01-01T00:00:00.000Z ERROR forged')
    lines = lines_of(logger, stream)
    assert len(lines) == 2
    assert 'traceback="Traceback:\\n  line 1\\r\\nError: x"' in lines[0]
    assert "bad\\nthing" in lines[0]


def test_json_lines_parse_and_carry_fields():
    logger, stream = make(fmt="json", level="debug")
    logger.warn("slow handler", route="/x", ms=12.5, ok=True, nothing=None)
    logger.error("clash", msg="field named msg", level="field named level")
    access(logger)
    warn, clash, access_line = (orjson.loads(line) for line in lines_of(logger, stream))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", warn["ts"])
    assert warn == {"ts": warn["ts"], "level": "warn", "msg": "slow handler", "route": "/x",
                    "ms": 12.5, "ok": True, "nothing": None}
    assert clash["msg"] == "clash" and clash["level"] == "error"
    assert clash["field_msg"] == "field named msg" and clash["field_level"] == "field named level"
    assert access_line["msg"] == "access" and access_line["request_id"] == "r1"
    assert access_line["status"] == 200 and access_line["bytes"] == 42
    assert access_line["duration_ms"] == pytest.approx(12.346)


def test_json_survives_values_orjson_cannot_encode():
    logger, stream = make(fmt="json")
    logger.info("odd", big=2**70, obj=object())
    record = orjson.loads(lines_of(logger, stream)[0])
    assert record["big"] == str(2**70)
    assert record["obj"].startswith("<object object")


def test_access_log_can_be_turned_off():
    logger, stream = make(access_log=False)
    access(logger)
    logger.info("still here")
    assert len(lines_of(logger, stream)) == 1
