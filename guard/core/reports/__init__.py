"""Operator reports (funding, stress, shadow): pure computations on snapshots and records."""
