"""Loading YAML files (policies, service config) with file, line and field in every error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from guard.policy.schema import PolicyFile, PolicySet

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A file could not be used; the message names file, line, field and what is allowed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class _Node:
    """A YAML node's line and children, for mapping pydantic error locations to lines."""

    __slots__ = ("children", "kind_tag", "line")

    def __init__(self, line: int, children: dict[Any, _Node], kind_tag: str | None) -> None:
        self.line = line
        self.children = children
        self.kind_tag = kind_tag


def _index(node: yaml.Node, line: int | None = None) -> _Node:
    """Index a composed YAML node; a mapping value takes the line of its key."""
    here = line if line is not None else node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        children: dict[Any, _Node] = {}
        kind_tag = None
        for key_node, value_node in node.value:
            children[key_node.value] = _index(value_node, key_node.start_mark.line + 1)
            if key_node.value == "kind" and isinstance(value_node, yaml.ScalarNode):
                kind_tag = str(value_node.value)
        return _Node(here, children, kind_tag)
    if isinstance(node, yaml.SequenceNode):
        return _Node(here, {i: _index(item) for i, item in enumerate(node.value)}, None)
    return _Node(here, {}, None)


def _line_of(root: _Node | None, loc: Sequence[Any]) -> int | None:
    node = root
    line = root.line if root else None
    for part in loc:
        if node is None:
            break
        if part in node.children:
            node = node.children[part]
            line = node.line
        elif part == node.kind_tag:
            continue  # pydantic's discriminated-union tag is not a key in the file
        else:
            break
    return line


def _field(root: _Node | None, loc: Sequence[Any]) -> str:
    """A readable field path (rules[0].bands[1].trigger), dropping pydantic's union tags."""
    parts: list[str] = []
    node = root
    for part in loc:
        if node is not None and part not in node.children and part == node.kind_tag:
            continue
        node = node.children.get(part) if node is not None else None
        parts.append(f"[{part}]" if isinstance(part, int) else ("." if parts else "") + str(part))
    return "".join(parts)


def _explain(error: Any) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key (not allowed here; check the spelling against docs/policies.md)"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r}; allowed kinds: {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "every rule needs a `kind`"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{message}"
    return message.removeprefix("Value error, ")


def _consequence(error: Any, errors: Sequence[Any]) -> bool:
    """A 'too short' error on a list whose own items failed is only a consequence of them."""
    if error.get("type") != "too_short":
        return False
    loc = tuple(error["loc"])
    return any(tuple(e["loc"])[: len(loc)] == loc and tuple(e["loc"]) != loc for e in errors)


def load_yaml(path: Path) -> tuple[Any, _Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            [Problem(str(path), None, "", f"cannot read the file: {error.strerror}")]
        ) from error
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        position = getattr(error, "position", None)  # a ReaderError (bad character) has no mark
        if line is None and isinstance(position, int):
            line = text.count("\n", 0, position) + 1
        raise ConfigError([Problem(str(path), line, "", f"not valid YAML: {error}")]) from error
    return data, (_index(root) if root is not None else None)


def validate_file(path: Path, model: type[M]) -> M:
    """Parse `path` as YAML and validate it as `model`, translating errors to file:line: field."""
    data, root = load_yaml(path)
    if data is None:
        raise ConfigError([Problem(str(path), None, "", "the file is empty")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        found = error.errors()
        problems = [
            Problem(str(path), _line_of(root, e["loc"]), _field(root, e["loc"]), _explain(e))
            for e in found
            if not _consequence(e, found)
        ]
        raise ConfigError(problems) from None


def _rule_ids(data: Any, root: _Node | None) -> list[tuple[str, int | None, str]]:
    """(id, line, field) of every rule id written in a policy document, in file order."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        return []
    found: list[tuple[str, int | None, str]] = []
    for index, rule in enumerate(data["rules"]):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            loc = ("rules", index, "id")
            found.append((rule["id"], _line_of(root, loc), _field(root, loc)))
    return found


def _load_policy(path: Path) -> tuple[PolicyFile, list[tuple[str, int | None, str]]]:
    data, root = load_yaml(path)
    ids = _rule_ids(data, root)
    seen: dict[str, int | None] = {}
    problems: list[Problem] = []
    for rule_id, line, where in ids:
        if rule_id in seen:
            problems.append(
                Problem(
                    str(path),
                    line,
                    where,
                    f"rule id {rule_id!r} is already used on line {seen[rule_id]}; "
                    f"ids must be unique",
                )
            )
        else:
            seen[rule_id] = line
    try:
        policy = validate_file(path, PolicyFile)
    except ConfigError as error:
        rest = [p for p in error.problems if not (problems and "is used twice" in p.message)]
        raise ConfigError([*problems, *rest]) from None
    if problems:
        raise ConfigError(problems)
    return policy, ids


def load_policy_file(path: Path) -> PolicyFile:
    """One policy file, validated; errors name file, line and field."""
    return _load_policy(path)[0]


def load_policies(paths: Sequence[Path]) -> PolicySet:
    """Every file validated, rule ids unique across all of them; every problem reported at once."""
    files: list[tuple[str, PolicyFile]] = []
    problems: list[Problem] = []
    owners: dict[str, tuple[str, int | None]] = {}
    for path in paths:
        try:
            policy, ids = _load_policy(path)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        for rule_id, line, where in ids:
            if rule_id in owners:
                other, other_line = owners[rule_id]
                problems.append(
                    Problem(
                        str(path),
                        line,
                        where,
                        f"rule id {rule_id!r} is already defined in {other}:{other_line}; "
                        f"ids must be unique across all policy files",
                    )
                )
            else:
                owners[rule_id] = (str(path), line)
        files.append((str(path), policy))
    if problems:
        raise ConfigError(problems)
    return PolicySet.of(files)


def reload_policies(
    paths: Sequence[Path], last_good: PolicySet
) -> tuple[PolicySet, tuple[Problem, ...]]:
    """Reload for a running service: the new set when every file is valid, else the last good set
    unchanged together with the problems to alert on (a bad file never disarms the guard)."""
    try:
        return load_policies(paths), ()
    except ConfigError as error:
        return last_good, error.problems
