"""The pure decision core: domain values, venue rules, margin, stress, policy, engine, planner.

Pure: no I/O, no clock, no randomness, no logging; plain values in, plain values out.
"""
