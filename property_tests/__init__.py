"""Hypothesis property tests (run with ``pytest property_tests``)."""
