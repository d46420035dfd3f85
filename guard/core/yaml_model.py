"""YAML text to a validated pydantic model, or errors naming source, line and field. Pure: the
caller reads the file; this module never touches the file system."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A file could not be used; the message names file, line, field and what is allowed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def unreadable(cls, source: str, error: OSError) -> ConfigError:
        """The error for a file the caller could not read."""
        return cls([Problem(source, None, "", f"cannot read the file: {error.strerror}")])


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


class Node:
    """A YAML node's line and children, for mapping pydantic error locations to lines."""

    __slots__ = ("children", "kind_tag", "line")

    def __init__(self, line: int, children: dict[Any, Node], kind_tag: str | None) -> None:
        self.line = line
        self.children = children
        self.kind_tag = kind_tag


def _index(node: yaml.Node, line: int | None = None) -> Node:
    """Index a composed YAML node; a mapping value takes the line of its key."""
    here = line if line is not None else node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        children: dict[Any, Node] = {}
        kind_tag = None
        for key_node, value_node in node.value:
            children[key_node.value] = _index(value_node, key_node.start_mark.line + 1)
            if key_node.value == "kind" and isinstance(value_node, yaml.ScalarNode):
                kind_tag = str(value_node.value)
        return Node(here, children, kind_tag)
    if isinstance(node, yaml.SequenceNode):
        return Node(here, {i: _index(item) for i, item in enumerate(node.value)}, None)
    return Node(here, {}, None)


def line_of(root: Node | None, loc: Sequence[Any]) -> int | None:
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


def field_of(root: Node | None, loc: Sequence[Any]) -> str:
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


def decode_text(raw: bytes, source: str) -> str:
    """The UTF-8 text of a file's bytes, or a ConfigError naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 1].hex()
        raise ConfigError(
            [Problem(source, line, "", f"not UTF-8 text (byte 0x{bad}); save the file as UTF-8")]
        ) from None


def parse_yaml(text: str, source: str) -> tuple[Any, Node | None]:
    """The document's data and its line index; a syntax error names `source` and the line."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        position = getattr(error, "position", None)  # a ReaderError (bad character) has no mark
        if line is None and isinstance(position, int):
            line = text.count("\n", 0, position) + 1
        raise ConfigError([Problem(source, line, "", f"not valid YAML: {error}")]) from error
    return data, (_index(root) if root is not None else None)


def validate_data(data: Any, root: Node | None, source: str, model: type[M]) -> M:
    """Validate parsed data as `model`, translating pydantic's errors to source:line: field."""
    if data is None:
        raise ConfigError([Problem(source, None, "", "the file is empty")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        found = error.errors()
        problems = [
            Problem(source, line_of(root, e["loc"]), field_of(root, e["loc"]), _explain(e))
            for e in found
            if not _consequence(e, found)
        ]
        raise ConfigError(problems) from None


def validate_yaml(text: str, source: str, model: type[M]) -> M:
    """Parse `text` (read from `source`) as YAML and validate it as `model`."""
    data, root = parse_yaml(text, source)
    return validate_data(data, root, source, model)
