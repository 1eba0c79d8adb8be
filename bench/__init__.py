"""Throughput benchmark: `make bench` (bench/run.py)."""
