"""Benchmarks: run with ``python -m tests.benchmarks`` (see README); they print their figures."""
