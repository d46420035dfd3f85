"""The replay and stress lab: history or synthetic paths through the paper venue, three ways."""
