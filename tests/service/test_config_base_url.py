"""A venue account's base_url override (the venue lab) is refused unless it is on a loopback host
or allow_nonloopback_url is set, and the runner builds that account's gateway against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.yaml_model import ConfigError
from guard.service.assembly import ccxt_gateway
from guard.service.config import load_config
from tests.service.helpers import POLICY


def _config(tmp_path: Path, extra: str, venue: str = "binance") -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        f"version: 1\naccounts:\n  - name: a\n    venue: {venue}\n    policies: [{POLICY}]\n"
        + extra
    )
    return path


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/binance", "http://localhost:1/x", "http://[::1]:9/binance"]
)
def test_load_config_when_base_url_loopback_then_accepted(tmp_path: Path, url: str) -> None:
    config = load_config(_config(tmp_path, f"    base_url: '{url}'\n"))
    assert config.accounts[0].base_url == url


@pytest.mark.parametrize("url", ["https://fapi.binance.com", "http://10.0.0.5:8765/binance"])
def test_load_config_when_base_url_not_loopback_then_refused_with_line_and_field(
    tmp_path: Path, url: str
) -> None:
    path = _config(tmp_path, f"    base_url: '{url}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}:" in text and "accounts[0]" in text
    assert "not on a loopback host" in text and "allow_nonloopback_url: true" in text


def test_load_config_when_nonloopback_explicitly_allowed_then_accepted(tmp_path: Path) -> None:
    path = _config(
        tmp_path, "    base_url: 'http://10.0.0.5:8765/binance'\n    allow_nonloopback_url: true\n"
    )
    assert load_config(path).accounts[0].allow_nonloopback_url is True


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:8765", "http://127.0.0.1/?a=1"])
def test_load_config_when_base_url_malformed_then_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, f"    base_url: '{url}'\n"))
    assert "base_url" in str(caught.value)


def test_load_config_when_paper_account_has_base_url_then_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, "    base_url: 'http://127.0.0.1:1/x'\n", venue="paper"))
    assert "only for venue accounts" in str(caught.value)


async def test_ccxt_gateway_when_base_url_given_then_every_api_url_points_there(
    tmp_path: Path,
) -> None:
    config = load_config(_config(tmp_path, "    base_url: 'http://127.0.0.1:8765/binance'\n"))
    gateway = ccxt_gateway("binance", list(config.accounts), config.accounts[0].base_url)
    try:
        urls = gateway.public.urls["api"]  # type: ignore[attr-defined]
        flat = [u for u in urls.values() if isinstance(u, str)]
        assert flat and all(u.startswith("http://127.0.0.1:8765/binance/") for u in flat)
    finally:
        await gateway.close()
