"""Gateways: the only way the guard reaches a venue (ccxt, the paper venue, or dry-run)."""
