"""Two-way chat over Telegram (python-telegram-bot): allow-listed chats with roles run console
commands (viewer: status, positions; operator: also lock, unlock, pause, resume, flatten with a
confirm button), and alerts reach the chats with a "lock this account for 30 min" button.
A transport over the command layer: every action and refusal is audited there as
telegram:<chat id>; an unknown chat is refused and audited. I/O (Bot API, store off the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from guard.core.policy.units import parse_duration
from guard.operator.console.actions import ConsoleCommands
from guard.operator.console.refusal import Actor, Refusal, Why
from guard.operator.console.telegram_text import HELP, positions_text, status_text
from guard.service.config import Telegram
from guard.service.logs import logger
from guard.service.notify import SentAlert
from guard.store import Scope

ALERT_LOCK = timedelta(minutes=30)


class TelegramConsole:
    """The chat transport; start() and stop() in the service's event loop (a runner companion)."""

    def __init__(self, commands: ConsoleCommands, settings: Telegram, token: str) -> None:
        self.commands = commands
        self.settings = settings
        self.roles = {chat.id: chat.role for chat in settings.chats}
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .base_url(f"{settings.api_url.rstrip('/')}/bot")
            .base_file_url(f"{settings.api_url.rstrip('/')}/file/bot")
            .get_updates_read_timeout(settings.poll_timeout.total_seconds() + 5)
            .build()
        )
        self.app.add_handler(MessageHandler(filters.COMMAND, self._command))
        self.app.add_handler(CallbackQueryHandler(self._button))
        self._flattens: dict[str, dict[str, Any]] = {}  # confirm token -> the request
        self._accounts: list[str] = []  # alert buttons name accounts by index (64-byte limit)
        self.log = logger(service="telegram")

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            timeout=int(self.settings.poll_timeout.total_seconds()),
            allowed_updates=["message", "callback_query"],
            error_callback=lambda error: self.log.warning(
                "telegram_poll_failed", error=type(error).__name__
            ),
        )

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # -- who is asking ----------------------------------------------------------------------

    async def _actor(self, update: Update, action: str) -> Actor | None:
        chat = update.effective_chat
        chat_id = chat.id if chat is not None else 0
        role = self.roles.get(chat_id)
        if role is None:
            stranger = Actor(f"telegram:{chat_id}", Scope.READ, "telegram")
            refusal = Refusal(Why.UNAUTHENTICATED, "this chat is not on the allow-list")
            await asyncio.to_thread(self.commands.refuse, stranger, action, refusal)
            return None
        scope = Scope.OPERATE if role == "operator" else Scope.READ
        return Actor(f"telegram:{chat_id}", scope, "telegram")

    async def _run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(function, *args, **kwargs)

    # -- commands ---------------------------------------------------------------------------

    async def _command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        words = message.text.split()
        name = words[0].lstrip("/").split("@")[0].lower()
        actor = await self._actor(update, name)
        if actor is None:
            await message.reply_text("not allowed: this chat is not on the guard's allow-list")
            return
        try:
            reply, markup = await self._dispatch(actor, name, words[1:])
        except Refusal as refusal:
            reply, markup = f"refused: {refusal.message}", None
        await message.reply_text(reply, reply_markup=markup)

    async def _dispatch(
        self, actor: Actor, name: str, args: list[str]
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        c = self.commands
        if name == "status":
            return status_text(await self._run(c.status, actor)), None
        if name == "positions":
            return positions_text(await self._run(c.positions, actor)), None
        if name == "lock":
            account, rest = _first(args, "lock needs an account: /lock ACCOUNT [30m] [reason]")
            expires, reason = _ttl_and_reason(rest, c)
            lock = await self._run(
                c.lock, actor, reason=reason or "from Telegram", account=account, expires_at=expires
            )
            return f"set lock #{lock['id']} on {account}", None
        if name == "unlock":
            target, _ = _first(args, "unlock needs an account or a lock id: /unlock ACCOUNT|#ID")
            if target.lstrip("#").isdigit():
                cleared = await self._run(c.unlock, actor, lock_id=int(target.lstrip("#")))
            else:
                cleared = await self._run(c.unlock, actor, account=target, reason="from Telegram")
            return "cleared " + ", ".join(f"lock #{lk['id']}" for lk in cleared), None
        if name == "pause":
            expires, reason = _ttl_and_reason(args, c)
            lock = await self._run(
                c.pause, actor, reason=reason or "from Telegram", expires_at=expires
            )
            return f"paused everywhere (lock #{lock['id']})", None
        if name == "resume":
            await self._run(c.resume, actor, reason="from Telegram")
            return "resumed (the global pause is cleared)", None
        if name == "flatten":
            account, rest = _first(args, "flatten needs an account: /flatten ACCOUNT [reason]")
            ask = {"account": account, "reason": " ".join(rest) or "from Telegram"}
            first = await self._run(c.flatten, actor, **ask)
            self._flattens[first["confirm"]] = ask
            buttons = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            "confirm flatten", callback_data=f"fc:{first['confirm']}"
                        ),
                        InlineKeyboardButton("cancel", callback_data=f"fx:{first['confirm']}"),
                    ]
                ]
            )
            return f"{first['what']}? (valid 2 minutes)", buttons
        return HELP, None

    # -- buttons ----------------------------------------------------------------------------

    async def _button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not query.data:
            return
        kind, _, key = query.data.partition(":")
        action = {"fc": "flatten", "fx": "flatten", "lk": "lock"}.get(kind, "button")
        actor = await self._actor(update, action)
        await query.answer()
        if actor is None:
            await query.edit_message_text("not allowed: this chat is not on the allow-list")
            return
        try:
            text = await self._pressed(actor, kind, key)
        except Refusal as refusal:
            text = f"refused: {refusal.message}"
        await query.edit_message_text(text)

    async def _pressed(self, actor: Actor, kind: str, key: str) -> str:
        if kind in ("fc", "fx"):
            ask = self._flattens.pop(key, None)
            if ask is None:
                return "this confirmation has expired or was used: nothing requested"
            if kind == "fx":
                return "cancelled: nothing requested"
            done = await self._run(self.commands.flatten, actor, **ask, confirm=key)
            return f"flatten #{done['request_id']} requested: {done['what']}"
        if kind == "lk" and key.isdigit() and int(key) < len(self._accounts):
            account = self._accounts[int(key)]
            lock = await self._run(
                self.commands.lock,
                actor,
                reason="from a Telegram alert",
                account=account,
                expires_at=self.commands.clock() + ALERT_LOCK,
            )
            return f"set lock #{lock['id']} on {account} for 30 min"
        return "unknown button"

    # -- alerts -----------------------------------------------------------------------------

    async def on_alert(self, alert: SentAlert) -> None:
        """Send `alert` to every allow-listed chat; operators get a lock button."""
        markup = None
        if alert.account is not None:
            if alert.account not in self._accounts:
                self._accounts.append(alert.account)
            index = self._accounts.index(alert.account)
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            f"lock {alert.account} for 30 min", callback_data=f"lk:{index}"
                        )
                    ]
                ]
            )
        for chat in self.settings.chats:
            try:
                await self.app.bot.send_message(
                    chat.id,
                    f"{alert.title}\n{alert.body}",
                    reply_markup=markup if chat.role == "operator" else None,
                )
            except Exception as error:  # one chat failing must not stop the others
                self.log.warning("telegram_alert_failed", chat=chat.id, error=type(error).__name__)


def _first(args: list[str], missing: str) -> tuple[str, list[str]]:
    if not args:
        raise Refusal(Why.INVALID, missing)
    return args[0], args[1:]


def _ttl_and_reason(args: list[str], commands: ConsoleCommands) -> tuple[Any, str]:
    """An optional leading duration (30m, 2h) and the rest as the reason."""
    if args:
        try:
            span = parse_duration(args[0])
        except ValueError:
            span = None
        if span is not None and span > timedelta(0):
            return commands.clock() + span, " ".join(args[1:])
    return None, " ".join(args)
