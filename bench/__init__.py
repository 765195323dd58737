"""Benchmarks: a load generator in its own process against `chatdock serve` on 127.0.0.1."""
