"""The bench's (f) section: venue calls per account per tick counted through the ccxt gateway on
the in-process venue lab; public calls per venue do not grow with the accounts; the section is
spliced into docs/benchmarks.md without touching the others."""

from __future__ import annotations

from guard.lab.bench.venue_calls import measure_venue
from guard.lab.bench.venue_calls_doc import HEADING, hyperliquid_weight_lines, splice


async def test_hyperliquid_when_measured_at_two_sizes_then_one_private_call_and_same_public() -> (
    None
):
    one = await measure_venue("hyperliquid", 1)
    three = await measure_venue("hyperliquid", 3)
    assert one.steady_private == three.steady_private == 1.0  # clearinghouseState only
    assert one.steady_public == three.steady_public > 0
    # the send right after the snapshot: the snapshot is the re-read; later: one more read; a
    # second slice: the snapshot less the fill the first slice's answer states, no read
    assert three.crash_reads == three.crash_two_slices == 1.0
    assert three.crash_late_reads == 2.0
    assert three.crash_writes == 1.0


async def test_hyperliquid_when_measured_then_private_weight_as_the_rate_limit_page_counts() -> (
    None
):
    """Hyperliquid "Rate limits and user limits": clearinghouseState weighs 2, every other
    documented info request (userAbstraction) 20; the section states what one IP carries."""
    found = await measure_venue("hyperliquid", 2)
    assert found.steady_weight == 2.0  # clearinghouseState
    assert found.mode_weight == 2.0 + 20.0  # + userAbstraction (the lab lists no HIP-3 DEX)
    assert found.public_weight > 0
    line = hyperliquid_weight_lines([found])[0]
    assert "2 per account per steady tick, 22 on the mode re-read tick" in line


async def test_bybit_when_measured_then_three_calls_on_every_tick_with_one_slice() -> None:
    found = await measure_venue("bybit", 2)
    assert found.steady_private == 3.0  # USDT and USDC positions, wallet balance
    assert found.mode_private == 3.0  # /v5/account/info in place of the settle coin not held
    assert found.crash_reads == found.worst_tick == found.average == 3.0
    assert found.crash_late_reads == 4.0  # + the one-symbol position read


def test_splice_when_section_present_then_replaced_and_others_kept() -> None:
    document = f"# B\n\n## (a) x\n\nold a\n\n{HEADING} (old)\n\nold f\n\n## What limits\n\nn\n"
    spliced = splice(document, f"{HEADING} (new)\n\nnew f\n")
    assert "old f" not in spliced and "new f" in spliced
    assert "old a" in spliced and spliced.index("new f") < spliced.index("## What limits")
    added = splice("# B\n\n## What limits\n", f"{HEADING}\n\nf\n")
    assert added.index(HEADING) < added.index("## What limits")  # added before the notes
