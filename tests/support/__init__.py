"""Harnesses that tests and benches share (state machines, drivers)."""
