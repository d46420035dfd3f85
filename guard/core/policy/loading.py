"""Policy documents (source, YAML text) to a validated PolicySet, rule ids unique across files.

Pure: the caller reads the files; every problem names source, line and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.yaml_model import (
    ConfigError,
    Node,
    Problem,
    field_of,
    line_of,
    parse_yaml,
    validate_data,
)

RuleId = tuple[str, int | None, str]  # (id, line, field) as written in a document


def _rule_ids(data: Any, root: Node | None) -> list[RuleId]:
    """(id, line, field) of every rule id written in a policy document, in file order."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        return []
    found: list[RuleId] = []
    for index, rule in enumerate(data["rules"]):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            loc = ("rules", index, "id")
            found.append((rule["id"], line_of(root, loc), field_of(root, loc)))
    return found


def parse_policy(text: str, source: str) -> tuple[PolicyFile, list[RuleId]]:
    """One policy document validated, with its rule ids; ids used twice in it are refused."""
    data, root = parse_yaml(text, source)
    ids = _rule_ids(data, root)
    seen: dict[str, int | None] = {}
    problems: list[Problem] = []
    for rule_id, line, where in ids:
        if rule_id in seen:
            problems.append(
                Problem(
                    source,
                    line,
                    where,
                    f"rule id {rule_id!r} is already used on line {seen[rule_id]}; "
                    f"ids must be unique",
                )
            )
        else:
            seen[rule_id] = line
    try:
        policy = validate_data(data, root, source, PolicyFile)
    except ConfigError as error:
        rest = [p for p in error.problems if not (problems and "is used twice" in p.message)]
        raise ConfigError([*problems, *rest]) from None
    if problems:
        raise ConfigError(problems)
    return policy, ids


def policy_set(documents: Sequence[tuple[str, str | ConfigError]]) -> PolicySet:
    """Every document (source, text or the error met reading it) validated, rule ids unique
    across all of them; every problem reported at once."""
    files: list[tuple[str, PolicyFile]] = []
    problems: list[Problem] = []
    owners: dict[str, tuple[str, int | None]] = {}
    for source, text in documents:
        try:
            if isinstance(text, ConfigError):
                raise text
            policy, ids = parse_policy(text, source)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        for rule_id, line, where in ids:
            if rule_id in owners:
                other, other_line = owners[rule_id]
                problems.append(
                    Problem(
                        source,
                        line,
                        where,
                        f"rule id {rule_id!r} is already defined in {other}:{other_line}; "
                        f"ids must be unique across all policy files",
                    )
                )
            else:
                owners[rule_id] = (source, line)
        files.append((source, policy))
    if problems:
        raise ConfigError(problems)
    return PolicySet.of(files)
