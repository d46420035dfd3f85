"""Venue rules as pure data and functions: margin models, liquidation, funding, order rules."""
