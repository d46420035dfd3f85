"""The account's funding payments of Binance, OKX, Bybit and dYdX parsed from payloads shaped as
each venue documents them (page cited per test); signs hand-checked: the report's amount is what
the position PAID (+), the venues state what the account received."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from guard.core.domain import Side
from guard.gateway.parsers.common import PayloadError
from guard.gateway.parsers.funding_venues import (
    SettledRate,
    binance_payments,
    binance_rates,
    bybit_payments,
    dydx_payments,
    okx_payments,
    okx_rates,
)

BTC = "BTC/USDT:USDT"
T0 = 1570608000000  # 2019-10-09 08:00 UTC, the time of Binance's own income example


def _income(income: str, time: int = T0) -> dict[str, object]:
    """One ccxt fetch_funding_history entry around a /fapi/v1/income row as documented at
    developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/
    Get-Income-History (symbol, incomeType, income, asset, info, time, tranId, tradeId;
    "income": positive is money in)."""
    row = {
        "symbol": "BTCUSDT",
        "incomeType": "FUNDING_FEE",
        "income": income,
        "asset": "USDT",
        "info": "FUNDING_FEE",
        "time": time,
        "tranId": 9689322392,
        "tradeId": "",
    }
    return {"info": row, "symbol": BTC, "code": "USDT", "timestamp": time, "amount": float(income)}


def _binance_rate(rate: str, time: int = T0) -> dict[str, object]:
    """A ccxt fetch_funding_rate_history entry around a /fapi/v1/fundingRate row as documented
    at developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/
    Get-Funding-Rate-History (symbol, fundingRate, fundingTime, markPrice)."""
    info = {"symbol": "BTCUSDT", "fundingRate": rate, "fundingTime": time, "markPrice": "8000"}
    return {"info": info, "symbol": BTC, "fundingRate": float(rate), "timestamp": time}


def test_binance_when_income_negative_at_positive_rate_then_long_paid() -> None:
    # rate +0.01 % at mark 8 000: a 0.5 BTC long pays 0.5 x 8 000 x 0.0001 = 0.4 USDT,
    # booked as income -0.4; the report's paid is +0.4 on the long.
    rates = {BTC: binance_rates([_binance_rate("0.00010000")])}
    (payment,) = binance_payments([_income("-0.40000000")], rates)
    assert (payment.side, payment.amount) == (Side.LONG, Decimal("0.4"))
    assert payment.quantity == Decimal("0.5") and payment.price == Decimal("8000")
    assert payment.at == datetime(2019, 10, 9, 8, tzinfo=UTC)


def test_binance_when_hedged_then_each_leg_gets_its_own_side() -> None:
    # hedge mode at rate +0.01 %: the long pays 0.4 (income -0.4), the short receives 0.2
    rates = {BTC: binance_rates([_binance_rate("0.00010000")])}
    long, short = binance_payments([_income("-0.4"), _income("0.2", T0 + 3)], rates)
    assert (long.side, long.amount) == (Side.LONG, Decimal("0.4"))
    assert (short.side, short.amount) == (Side.SHORT, Decimal("-0.2"))


def test_binance_when_no_settled_rate_at_that_time_then_error_names_the_field() -> None:
    rates = {BTC: [SettledRate(datetime(2019, 10, 9, 16, tzinfo=UTC), Decimal("0.0001"))]}
    with pytest.raises(PayloadError, match=r"binance payload funding_history\[0\]\.info\.time"):
        binance_payments([_income("-0.4")], rates)


def _bill(bal_chg: str, sub_type: str, sz: str = "9") -> dict[str, object]:
    """A ccxt fetch_funding_history entry around an OKX bill as quoted in ccxt's okx
    fetch_funding_history from okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-
    last-3-months (type 8 funding fee, subType 173 expense / 174 income, balChg signed)."""
    info = {
        "bal": "0.0242946200998573",
        "balChg": bal_chg,
        "billId": "377970609204146187",
        "ccy": "USDT",
        "execType": "",
        "fee": "0",
        "from": "",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "mgnMode": "cross",
        "notes": "",
        "ordId": "",
        "pnl": bal_chg,
        "posBal": "0",
        "posBalChg": "0",
        "subType": sub_type,
        "sz": sz,
        "to": "",
        "ts": "1636387215588",
        "type": "8",
    }
    return {"info": info, "symbol": BTC, "timestamp": 1636387215588}


def _okx_rate(realized: str) -> dict[str, object]:
    """A /api/v5/public/funding-rate-history row as ccxt's okx fetch_funding_rate_history quotes
    it (fundingRate, realizedRate: the rate settled, fundingTime)."""
    info = {
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "fundingRate": "0.018",
        "realizedRate": realized,
        "fundingTime": "1636387200000",
        "method": "next_period",
    }
    return {"info": info, "symbol": BTC}


def test_okx_when_income_bill_at_negative_rate_then_long_received_in_base_units() -> None:
    # subType 174 income at realized rate -0.01 %: longs receive (shorts pay); sz 9 contracts of
    # ctVal 0.01 BTC = 0.09 BTC; the bill 15.5 s after the funding time still matches it
    rates = {BTC: okx_rates([_okx_rate("-0.0001")])}
    (payment,) = okx_payments([_bill("0.45", "174")], rates, {BTC: Decimal("0.01")})
    assert (payment.side, payment.amount) == (Side.LONG, Decimal("-0.45"))
    assert payment.quantity == Decimal("0.09") and payment.rate == Decimal("-0.0001")


def test_okx_when_balance_change_contradicts_subtype_then_error_names_the_field() -> None:
    rates = {BTC: okx_rates([_okx_rate("0.0001")])}
    with pytest.raises(PayloadError, match=r"okx payload funding_history\[0\]\.info\.balChg"):
        okx_payments([_bill("0.45", "173")], rates, {BTC: Decimal("0.01")})


def _settlement(funding: str, size: str) -> dict[str, object]:
    """A /v5/account/transaction-log row as documented at bybit-exchange.github.io/docs/v5/
    account/transaction-log: type SETTLEMENT, `funding` positive = received, negative =
    deducted; `size` "has direction, i.e., short with '-'"."""
    return {
        "id": "592324_XRPUSDT_161440249321",
        "symbol": "BTCUSDT",
        "category": "linear",
        "side": "Sell" if size.startswith("-") else "Buy",
        "transactionTime": "1694649600000",
        "type": "SETTLEMENT",
        "transSubType": "",
        "qty": "0",
        "size": size,
        "currency": "USDT",
        "tradePrice": "26000",
        "funding": funding,
        "fee": "0",
        "cashFlow": "0",
        "change": funding,
        "cashBalance": "1000",
        "feeRate": "0.0001",
        "bonusChange": "",
        "tradeId": "",
        "orderId": "",
        "orderLinkId": "",
    }


def test_bybit_when_short_receives_then_negative_paid_on_the_short() -> None:
    # a -0.2 BTC short at rate +0.01 %, price 26 000: receives 0.2 x 26 000 x 0.0001 = 0.52
    (payment,) = bybit_payments([_settlement("0.52", "-0.2")], {"BTCUSDT": BTC})
    assert (payment.side, payment.amount, payment.quantity) == (
        Side.SHORT,
        Decimal("-0.52"),
        Decimal("0.2"),
    )
    assert payment.price == Decimal("26000") and payment.rate is None


def test_bybit_when_market_is_not_listed_then_error_names_the_field() -> None:
    with pytest.raises(PayloadError, match=r"bybit payload result\.list\[0\]\.symbol"):
        bybit_payments([_settlement("0.52", "-0.2")], {"ETHUSDT": "ETH/USDT:USDT"})


def _dydx(payment: str, size: str, side: str, number: str = "128") -> dict[str, object]:
    """A FundingPaymentResponseObject as documented at docs.dydx.xyz/types/
    funding_payment_response_object (createdAt, createdAtHeight, perpetualId, ticker,
    oraclePrice, size, side, rate, payment, subaccountNumber, fundingIndex)."""
    return {
        "createdAt": "2025-06-01T10:00:00.000Z",
        "createdAtHeight": "43000000",
        "perpetualId": "0",
        "ticker": "BTC-USD",
        "oraclePrice": "100000",
        "size": size,
        "side": side,
        "rate": "0.00001",
        "payment": payment,
        "subaccountNumber": number,
        "fundingIndex": "0",
    }


def test_dydx_when_long_in_child_subaccount_pays_then_positive_paid() -> None:
    # the indexer books payment = -size x oraclePrice x rate (v4-chain roundtable
    # update_funding_payments.sql): a 0.5 long at 100 000 and +0.001 %/h books -0.5
    (payment,) = dydx_payments([_dydx("-0.5", "0.5", "LONG")], {"BTC-USD": "BTC/USD:USDC"})
    assert (payment.symbol, payment.side, payment.amount) == (
        "BTC/USD:USDC",
        Side.LONG,
        Decimal("0.5"),
    )
    assert payment.at == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert payment.quantity == Decimal("0.5") and payment.rate == Decimal("0.00001")


def test_dydx_when_side_is_missing_then_error_names_the_field() -> None:
    row = {**_dydx("-0.5", "0.5", "LONG"), "side": None}
    with pytest.raises(PayloadError, match=r"dydx payload fundingPayments\[0\]\.side"):
        dydx_payments([row], {"BTC-USD": "BTC/USD:USDC"})
