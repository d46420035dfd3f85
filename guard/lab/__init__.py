"""The lab: demo, replay and benchmarks. May import anything; only the CLI's lab commands import it."""
