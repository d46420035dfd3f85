"""guard: an unattended risk guard for perpetual-futures accounts."""
