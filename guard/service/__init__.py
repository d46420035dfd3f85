"""The running guard: one tick, the executor, the runner, service config, alerts, metrics, logs."""
