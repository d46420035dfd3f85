"""`guard snapshot`: fetch one account through the ccxt gateway (or a paper account of guard.yaml
from its scenario) and save the snapshot JSON that `guard inspect` and `guard evaluate` read.
Credentials come from the environment or secret files named in guard.yaml (or by --*-env
options), never from the command line itself."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guard.core.venues.ccxt_options import VENUES
from guard.gateway.base import GatewayError
from guard.operator.commands.common import console, fail
from guard.store.codec import to_jsonable

if TYPE_CHECKING:  # ccxt is imported only by the commands that use it (`guard run` starts faster)
    from guard.gateway.ccxt import AccountConfig, Credentials, GatewaySettings

CREDENTIAL_OPTIONS = {
    "apiKey": "key_env",
    "secret": "secret_env",
    "password": "password_env",
    "walletAddress": "wallet_env",
    "privateKey": "private_key_env",
}


def _configured(path: Path, name: str) -> Any:
    """The account `name` of guard.yaml (guard.service.config.AccountConfig)."""
    from guard.service.config import load_config

    try:
        config = load_config(path)
    except Exception as error:  # validation problems name file, line and field
        fail(str(error))
    for account in config.accounts:
        if account.name == name:
            return account
    names = ", ".join(a.name for a in config.accounts)
    fail(f"{path}: no account named {name!r}; accounts: {names}")


def account_from_config(path: Path, name: str) -> AccountConfig:
    """The account `name` of guard.yaml as the gateway needs it (credential references only)."""
    from guard.gateway.ccxt import AccountConfig

    account = _configured(path, name)
    if account.venue not in VENUES:
        fail(f"{path}: account {name!r} is on the {account.venue} venue, not a ccxt venue")
    return AccountConfig(name, account.venue, credentials_from_refs(account.credentials))


async def take_paper(account: Any) -> dict[str, Any]:
    """A paper account's snapshot at its configured scenario start (its state file, which the
    running service owns, is neither read nor written)."""
    from guard.gateway.paper.snapshot_file import unified_snapshot
    from guard.service.assembly import build_paper

    driver = build_paper(account.model_copy(update={"state_file": None}), datetime.now(UTC))
    try:
        return unified_snapshot(await driver.fetch_snapshot(account.name))
    finally:
        await driver.close()


def credentials_from_refs(refs: Any) -> Credentials:
    """Credentials from guard.yaml secret references ({field: {env: VAR} | {file: PATH}})."""
    from guard.gateway.ccxt import Credentials

    env = {field: ref.env for field, ref in refs.items() if ref.env is not None}
    files = {field: str(ref.file) for field, ref in refs.items() if ref.file is not None}
    return Credentials(env=env, files=files)


async def take(account: AccountConfig, settings: GatewaySettings) -> dict[str, Any]:
    from guard.gateway.ccxt import CcxtGateway

    gateway = CcxtGateway(account.venue, [account], settings=settings)
    try:
        taken_at = datetime.now(UTC)
        raw = await gateway.raw_snapshot(account.name)
    finally:
        await gateway.close()
    return {"taken_at": taken_at.isoformat(), **raw}


def register(app: typer.Typer) -> None:
    @app.command()
    def snapshot(
        account: Annotated[str, typer.Option(help="account name")],
        out: Annotated[Path, typer.Option(help="where to write the snapshot JSON")],
        config: Annotated[
            Path | None, typer.Option(help="guard.yaml holding the account and its credentials")
        ] = None,
        venue: Annotated[
            str | None,
            typer.Option(help=f"without --config: the venue ({', '.join(sorted(VENUES))})"),
        ] = None,
        key_env: Annotated[str | None, typer.Option(help="env var holding the API key")] = None,
        secret_env: Annotated[str | None, typer.Option(help="env var holding the secret")] = None,
        password_env: Annotated[
            str | None, typer.Option(help="env var holding the passphrase (okx)")
        ] = None,
        wallet_env: Annotated[
            str | None, typer.Option(help="env var holding the wallet address (hyperliquid, dydx)")
        ] = None,
        private_key_env: Annotated[
            str | None, typer.Option(help="env var holding the private key (hyperliquid, dydx)")
        ] = None,
        api_base: Annotated[
            str | None, typer.Option(help="send every API call to this base URL (proxy, stub)")
        ] = None,
    ) -> None:
        """Save ACCOUNT's positions, balance, markets, funding, books and raw account payload."""
        from guard.gateway.ccxt import AccountConfig, Credentials, GatewaySettings

        if config is not None:
            if venue is not None:
                fail("give either --config or --venue, not both")
            if _configured(config, account).is_paper:
                _save(out, asyncio.run(take_paper(_configured(config, account))), "paper", account)
                return
            chosen = account_from_config(config, account)
        else:
            if venue is None or venue not in VENUES:
                fail(f"--venue must be one of {', '.join(sorted(VENUES))} (or use --config)")
            given = {
                "key_env": key_env,
                "secret_env": secret_env,
                "password_env": password_env,
                "wallet_env": wallet_env,
                "private_key_env": private_key_env,
            }
            env = {
                field: given[option]
                for field, option in CREDENTIAL_OPTIONS.items()
                if given[option] is not None
            }
            chosen = AccountConfig(
                account, venue, Credentials(env={k: v for k, v in env.items() if v})
            )
        try:
            raw = asyncio.run(take(chosen, GatewaySettings(api_base=api_base)))
        except GatewayError as error:
            fail(f"{chosen.venue} account {account}: {error}", code=1)
        _save(out, raw, chosen.venue, account)


def _save(out: Path, raw: dict[str, Any], venue: str, account: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_jsonable(raw), indent=2, default=str) + "\n", encoding="utf-8")
    console.print(
        f"saved {venue} snapshot of {account} to {out} ({len(raw['positions'])} position(s))",
        highlight=False,
    )
