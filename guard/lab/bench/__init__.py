"""Benchmark harness for `scripts/bench` (shell layer): core evaluation latency, service tick
throughput against the paper venue behind a latency injector, venue calls per tick, replay speed;
writes docs/benchmarks.md with the machine described."""
