"""Observability building blocks: sharded metrics and a non-blocking sampling logger.

This package imports no pipeline stage; the server wires it in.
"""

from rover_mt.observe.labels import (
    CLIENT_CLOSED_STATUS,
    DURATION_BUCKETS,
    KNOWN_METHODS,
    OTHER_METHOD,
    OVERFLOW_ROUTE,
    UNMATCHED_ROUTE,
)
from rover_mt.observe.log_levels import parse_log_format, parse_log_level, validate_sample_rate
from rover_mt.observe.logger import Logger
from rover_mt.observe.metrics import Metrics
from rover_mt.observe.metrics_shard import MetricsShard

__all__ = [
    "CLIENT_CLOSED_STATUS",
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "OTHER_METHOD",
    "OVERFLOW_ROUTE",
    "UNMATCHED_ROUTE",
    "parse_log_format",
    "parse_log_level",
    "validate_sample_rate",
    "Logger",
    "Metrics",
    "MetricsShard",
]
