"""Policy models of the stress rule: shocks (a move for matching symbols, or an anchor and betas)
to survive with a margin of safety; pure. A shock never moves by 0%."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, field_validator, model_validator

from guard.core.domain import frozen_map
from guard.core.policy.schema_fields import RuleBase, Strict, in_range, show_percent
from guard.core.policy.units import Percent, to_decimal
from guard.core.stress import Shock


class ShockSpec(Strict):
    """One shock: `move` for every symbol matching `symbols`, or for `anchor` with others by beta."""

    name: str = ""
    move: Annotated[Percent, in_range("move", Decimal(-1), Decimal(10), low_open=False)]
    symbols: tuple[str, ...] = ("*",)
    anchor: str | None = None
    betas: dict[str, Annotated[Decimal, BeforeValidator(lambda raw: to_decimal(raw, "beta"))]] = {}  # noqa: RUF012 (pydantic copies it)
    default_beta: Annotated[Decimal, BeforeValidator(lambda raw: to_decimal(raw, "beta"))] = (
        Decimal(0)
    )
    # the Shock built once: it remembers each symbol's move across evaluations
    _shock: Shock | None = PrivateAttr(default=None)

    @field_validator("move")
    @classmethod
    def _nonzero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("move must not be 0% (a shock that moves nothing tests nothing)")
        return value

    def to_shock(self) -> Shock:
        # read from pydantic's dict of private attributes (self._shock: a __getattr__ call)
        private = self.__pydantic_private__
        shock = private.get("_shock") if private is not None else None
        if shock is None:
            shock = self._shock = self._built()
        return shock

    def _built(self) -> Shock:
        label = (
            self.name
            or f"{'all' if self.anchor is None else self.anchor} {show_percent(self.move)}"
        )
        return Shock(
            label,
            self.move,
            self.symbols,
            self.anchor,
            frozen_map(dict(sorted(self.betas.items()))),
            self.default_beta,
        )


class StressOrder(StrEnum):
    PRO_RATA = "pro_rata"
    PRIORITY = "priority"


class StressRule(RuleBase):
    """Survive every listed shock with `margin_of_safety`; else reduce the minimal amount."""

    kind: Literal["stress"]
    shocks: tuple[ShockSpec, ...] = Field(min_length=1)
    margin_of_safety: Annotated[
        Percent, in_range("margin_of_safety", Decimal(0), Decimal(10), low_open=False)
    ] = Decimal("0.1")
    order: StressOrder = StressOrder.PRO_RATA
    priority: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _priority_given(self) -> StressRule:
        if self.order is StressOrder.PRIORITY and not self.priority:
            raise ValueError("order: priority needs a `priority` list of symbol patterns")
        return self
