"""Reading configuration files from disk (shell): policies and YAML models, errors as file:line.

The parsing and validation are the core's (guard.core.yaml_model, guard.core.policy.loading);
this module only reads bytes and hands them on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from guard.core.policy.loading import parse_policy, policy_set
from guard.core.policy.schema import PolicyFile, PolicySet
from guard.core.yaml_model import ConfigError, Problem, decode_text, validate_yaml

M = TypeVar("M", bound=BaseModel)


def read_config_text(path: Path) -> str:
    """The file's text, or a ConfigError naming the file and why it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError.unreadable(str(path), error) from error
    return decode_text(raw, str(path))


def validate_file(path: Path, model: type[M]) -> M:
    """Read `path` and validate it as `model`; errors name file, line and field."""
    return validate_yaml(read_config_text(path), str(path), model)


def load_policy_file(path: Path) -> PolicyFile:
    """One policy file, validated; errors name file, line and field."""
    return parse_policy(read_config_text(path), str(path))[0]


def _text_or_error(path: Path) -> str | ConfigError:
    try:
        return read_config_text(path)
    except ConfigError as error:
        return error


def load_policies(paths: Sequence[Path]) -> PolicySet:
    """Every file validated, rule ids unique across all of them; every problem reported at once."""
    return policy_set([(str(path), _text_or_error(path)) for path in paths])


def reload_policies(
    paths: Sequence[Path], last_good: PolicySet
) -> tuple[PolicySet, tuple[Problem, ...]]:
    """Reload for a running service: the new set when every file is valid, else the last good set
    unchanged together with the problems to alert on (a bad file never disarms the guard)."""
    try:
        return load_policies(paths), ()
    except ConfigError as error:
        return last_good, error.problems
