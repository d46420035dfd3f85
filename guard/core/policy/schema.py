"""Policy file schema (version 1): a file is a version and rules discriminated by `kind` (strict,
frozen pydantic), a set is every file with a fingerprint for the audit log; pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field, field_validator

from guard.core.policy.schema_fields import RuleBase, Strict
from guard.core.policy.schema_ladders import DrawdownRule, ExitLadderRule
from guard.core.policy.schema_levels import (
    BufferFloorRule,
    ExposureCapRule,
    FundingThresholdRule,
    LeverageCapRule,
    StaleDataRule,
)
from guard.core.policy.schema_stress import StressRule

Rule = Annotated[
    ExitLadderRule
    | StaleDataRule
    | BufferFloorRule
    | FundingThresholdRule
    | LeverageCapRule
    | ExposureCapRule
    | StressRule
    | DrawdownRule,
    Field(discriminator="kind"),
]

KINDS = (
    "exit_ladder",
    "buffer_floor",
    "funding_threshold",
    "leverage_cap",
    "exposure_cap",
    "stress",
    "drawdown",
    "stale_data",
)


class PolicyFile(Strict):
    """One policy file: a schema version and a list of rules with unique ids."""

    version: Literal[1]
    name: str = ""
    description: str = ""
    rules: tuple[Rule, ...]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[RuleBase, ...]) -> tuple[RuleBase, ...]:
        if not rules:
            raise ValueError("a policy file needs at least one rule")
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; ids must be unique")
            seen.add(rule.id)
        return rules


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every loaded policy file, with a fingerprint that goes into each audit row."""

    files: tuple[tuple[str, PolicyFile], ...]
    # sha256 of the canonical JSON of every file, computed once (the policies are frozen)
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        canonical = json.dumps(
            [policy.model_dump(mode="json") for _, policy in self.files],
            sort_keys=True,
            separators=(",", ":"),
        )
        object.__setattr__(self, "fingerprint", hashlib.sha256(canonical.encode()).hexdigest()[:16])

    @property
    def rules(self) -> tuple[RuleBase, ...]:
        return tuple(rule for _, policy in self.files for rule in policy.rules)

    @classmethod
    def of(cls, files: Sequence[tuple[str, PolicyFile]]) -> PolicySet:
        ids: dict[str, str] = {}
        for source, policy in files:
            for rule in policy.rules:
                if rule.id in ids:
                    raise ValueError(
                        f"rule id {rule.id!r} in {source} is also defined in {ids[rule.id]}"
                    )
                ids[rule.id] = source
        return cls(tuple(files))
