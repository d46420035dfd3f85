"""Policy files: every shipped file validates; every bad file is refused at the right line."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.policy.describe import describe
from guard.core.policy.loading import parse_policy
from guard.core.yaml_model import ConfigError
from guard.service.files import load_policies, load_policy_file

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p for p in (ROOT / "policies").rglob("*") if p.suffix in {".yaml", ".yml"})
BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))


def test_shipped_policies_exist_when_listing_then_default_and_four_examples_found() -> None:
    names = {p.name for p in SHIPPED}
    assert "default.yaml" in names
    assert len([p for p in SHIPPED if p.parent.name == "examples"]) >= 4


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_validate_when_shipped_policy_file_then_valid_and_describable(path: Path) -> None:
    policy = load_policy_file(path)
    assert policy.rules
    for rule in policy.rules:
        assert describe(rule).startswith(rule.id)


def test_load_when_all_shipped_files_together_then_ids_unique_across_files() -> None:
    # the wave-1 default and the volatility-gated variant are alternatives to default.yaml: each
    # replaces it (same rule ids), so they are loaded apart (test below and the replay tests)
    alternatives = ("wave1-default.yaml", "volatility-gated.yaml")
    policies = load_policies([p for p in SHIPPED if p.name not in alternatives])
    ids = [rule.id for rule in policies.rules]
    assert len(ids) == len(set(ids))
    assert len(policies.fingerprint) == 16


def test_default_when_loaded_then_required_rule_ids_present() -> None:
    ids = {rule.id for rule in load_policy_file(ROOT / "policies" / "default.yaml").rules}
    assert {
        "liquidation-warning",
        "liquidation-ladder",
        "account-drawdown",
        "stale-snapshot",
    } <= ids
    wave1 = ROOT / "policies" / "examples" / "wave1-default.yaml"
    ids = {rule.id for rule in load_policy_file(wave1).rules}
    assert {"liquidation-ladder", "drawdown-ladder", "stale-snapshot"} <= ids


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect: LINE: text' header"
    line, text = first.removeprefix("# expect: ").split(": ", 1)
    return int(line), text


def test_bad_corpus_when_listing_then_covers_every_kind_of_mistake() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_load_when_bad_policy_file_then_refused_with_file_line_field(path: Path) -> None:
    line, text = _expectation(path)
    with pytest.raises(ConfigError) as caught:
        load_policy_file(path)
    rendered = [str(p) for p in caught.value.problems]
    wanted = f"{path}:{line}: {text}"
    assert any(r.startswith(wanted) for r in rendered), rendered


def test_load_when_same_id_in_two_files_then_refused_naming_both(tmp_path: Path) -> None:
    body = "version: 1\nrules:\n  - id: shared\n    kind: stale_data\n    max_age: 1m\n"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(body)
    second.write_text("# another file\n" + body)
    with pytest.raises(ConfigError) as caught:
        load_policies([first, second])
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{second}:4: rules[0].id: rule id 'shared'")
    assert f"{first}:3" in problem.message


def test_load_when_file_is_not_yaml_then_line_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nrules:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_policy_file(path)
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in caught.value.problems[0].message


def test_load_when_file_empty_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_policy_file(path)


def test_load_when_no_rules_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "none.yaml"
    path.write_text("version: 1\nrules: []\n")
    with pytest.raises(ConfigError, match="at least one rule"):
        load_policy_file(path)


def test_reload_when_file_turns_bad_then_last_good_set_kept_with_problems(tmp_path: Path) -> None:
    from guard.service.files import reload_policies

    path = tmp_path / "live.yaml"
    path.write_text("version: 1\nrules:\n  - id: stale\n    kind: stale_data\n    max_age: 1m\n")
    good = load_policies([path])
    path.write_text("version: 1\nrules:\n  - id: stale\n    kind: stale_data\n    max_age: soon\n")
    kept, problems = reload_policies([path], good)
    assert kept is good
    assert str(problems[0]).startswith(f"{path}:5: rules[0].max_age:")
    path.write_text("version: 1\nrules:\n  - id: stale\n    kind: stale_data\n    max_age: 5m\n")
    fresh, none = reload_policies([path], good)
    assert none == () and fresh.fingerprint != good.fingerprint


def test_parse_when_confirm_ticks_zero_then_error_names_file_line_and_field() -> None:
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: ladder\n"
        "    kind: exit_ladder\n"
        "    metric: liquidation_progress\n"
        "    bands: [{trigger: '40%', reduce: '25%'}]\n"
        "    rearm: '20%'\n"
        "    confirm_ticks: 0\n"
        "    at_start: later\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_policy(text, "mine.yaml")
    message = str(caught.value)
    assert "mine.yaml:8" in message and "confirm_ticks" in message
    assert "mine.yaml:9" in message and "at_start" in message
