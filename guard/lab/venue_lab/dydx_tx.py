"""Decoding a dYdX v4 signed transaction as the chain reads it: TxRaw → TxBody → Any →
MsgPlaceOrder / MsgCancelOrder → Order, from the protobuf wire format (no generated classes), with
the signer's public key, sequence and signature from AuthInfo. Pure. Field numbers: [DY-chain]
proto/dydxprotocol/clob/{order,tx}.proto and cosmos-sdk tx.proto (venues.md §2.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PLACE = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL = "/dydxprotocol.clob.MsgCancelOrder"


class TxError(ValueError):
    """The bytes are not a transaction the chain could decode (ABCI code 2, sdk TxDecode)."""


Fields = dict[int, list[Any]]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise TxError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Fields:
    """Every field of one message: number -> values (int for varint/fixed, bytes otherwise)."""
    found: Fields = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise TxError(f"field {number}: length {length} beyond the message")
            value, at = data[at : at + length], at + length
        elif wire == 5:
            value, at = int.from_bytes(data[at : at + 4], "little"), at + 4
        elif wire == 1:
            value, at = int.from_bytes(data[at : at + 8], "little"), at + 8
        else:
            raise TxError(f"field {number}: unsupported wire type {wire}")
        found.setdefault(number, []).append(value)
    return found


def _one(found: Fields, number: int, default: Any = 0) -> Any:
    return found.get(number, [default])[-1]


@dataclass(frozen=True, slots=True)
class ChainOrder:
    """dydxprotocol.clob.Order with its OrderId, as integers the chain holds."""

    owner: str
    subaccount: int
    client_id: int  # fixed32
    order_flags: int  # 0 short-term, 32 conditional, 64 long-term
    clob_pair_id: int
    side: int  # 1 BUY, 2 SELL
    quantums: int
    subticks: int
    good_til_block: int
    good_til_block_time: int
    time_in_force: int  # 0 unspecified (GTT), 1 IOC, 2 POST_ONLY, 3 FILL_OR_KILL
    reduce_only: bool
    router: str


@dataclass(frozen=True, slots=True)
class SignedTx:
    type_url: str
    order: ChainOrder
    public_key: bytes
    sequence: int
    signatures: tuple[bytes, ...]


def decode_order(raw: bytes) -> ChainOrder:
    order = fields(raw)
    order_id = fields(_one(order, 1, b""))
    subaccount = fields(_one(order_id, 1, b""))
    return ChainOrder(
        owner=bytes(_one(subaccount, 1, b"")).decode("utf-8", "replace"),
        subaccount=int(_one(subaccount, 2)),
        client_id=int(_one(order_id, 2)),
        order_flags=int(_one(order_id, 3)),
        clob_pair_id=int(_one(order_id, 4)),
        side=int(_one(order, 2)),
        quantums=int(_one(order, 3)),
        subticks=int(_one(order, 4)),
        good_til_block=int(_one(order, 5)),
        good_til_block_time=int(_one(order, 6)),
        time_in_force=int(_one(order, 7)),
        reduce_only=bool(_one(order, 8)),
        router=bytes(_one(order, 14, b"")).decode("utf-8", "replace"),
    )


def decode_tx(hex_tx: str) -> SignedTx:
    """The signed transaction of `broadcast_tx_sync?tx=0x…`; TxError when it is not one."""
    text = hex_tx.strip().strip('"')
    text = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise TxError("tx is not hex") from None
    tx = fields(raw)
    body = fields(_one(tx, 1, b""))
    auth = fields(_one(tx, 2, b""))
    messages = body.get(1, [])
    if len(messages) != 1:
        raise TxError(f"expected one message, got {len(messages)}")
    message = fields(messages[0])
    type_url = bytes(_one(message, 1, b"")).decode("utf-8", "replace")
    inner = fields(_one(message, 2, b""))
    order_bytes = _one(inner, 1, b"")
    signer_infos = auth.get(1, [])
    public_key, sequence = b"", 0
    if signer_infos:
        signer = fields(signer_infos[0])
        key_any = fields(_one(signer, 1, b""))
        public_key = bytes(_one(fields(_one(key_any, 2, b"")), 1, b""))
        sequence = int(_one(signer, 3))
    if type_url == CANCEL:
        order_id = fields(order_bytes)  # MsgCancelOrder: 1 order_id, 2 good_til_block
        subaccount = fields(_one(order_id, 1, b""))
        order = ChainOrder(
            bytes(_one(subaccount, 1, b"")).decode(),
            int(_one(subaccount, 2)),
            int(_one(order_id, 2)),
            int(_one(order_id, 3)),
            int(_one(order_id, 4)),
            0,
            0,
            0,
            int(_one(inner, 2)),
            int(_one(inner, 3)),
            0,
            False,
            "",
        )
    else:
        order = decode_order(order_bytes)
    return SignedTx(type_url, order, public_key, sequence, tuple(tx.get(3, [])))
