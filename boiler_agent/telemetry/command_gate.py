"""The command gate: bytes from `cmd/<name>` in, a reply and at most one validated command out.

Pure and clock-injected; no MQTT. Whatever arrives, `handle()` returns: a refusal is a reply
saying why, counted in `rejected` by reason. The gate only validates. The agent applies an
accepted command through its own safety limits, which always win (a setpoint is clamped to the
heater's safe range, `off` and safety trips are never lifted by a command). While the wall clock
is plainly unset (a heater without a clock battery before NTP answers), a command carrying
`expires_at` is refused as `clock_unset`: whether it is void cannot be judged.

Home Assistant sends raw text (`21.5`, `heat`) on `cmd/ha_setpoint` and `cmd/ha_mode`, without
any id: those are last-writer-wins settings, harmless to apply twice, so they are neither
remembered nor de-duplicated.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from boiler_agent.telemetry.payloads import (
    ID_PATTERN,
    JSON_COMMANDS,
    MAX_ID_CHARS,
    MAX_OVERRIDE_S,
    ROOM_SETPOINT_RANGE_C,
    Command,
    CommandBase,
    CommandReply,
    HaMode,
    HaSetpoint,
    RejectReason,
    SetpointOverride,
)
from boiler_agent.telemetry.wall_clock import clock_is_set

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4096
DEFAULT_REMEMBER = 1024
MAX_ERRORS_SHOWN = 4  # a reply names the first few problems, not a page of them
MAX_SHOWN_CHARS = 40  # of an offending value quoted in a reply
HA_COMMANDS = ("ha_setpoint", "ha_mode")
KNOWN_COMMANDS = tuple(sorted((*JSON_COMMANDS, *HA_COMMANDS)))


class CommandGate:
    """Validates commands; remembers the last `remember` replies by cmd_id."""

    def __init__(
        self,
        clock: Callable[[], float],
        max_bytes: int = DEFAULT_MAX_BYTES,
        remember: int = DEFAULT_REMEMBER,
        setpoint_range_c: tuple[float, float] = ROOM_SETPOINT_RANGE_C,
    ) -> None:
        if max_bytes < 1 or remember < 1:
            raise ValueError(f"max_bytes and remember must be >= 1, got {max_bytes}, {remember}")
        self.clock = clock  # seconds since the epoch, like time.time
        self.max_bytes = max_bytes
        self.remember = remember
        self.setpoint_range_c = setpoint_range_c
        self.rejected: Counter[str] = Counter()
        self.replies_redirected = 0  # ResponseTopics outside the heater's reply subtree
        self.accepted: Counter[str] = Counter()
        self._replies: OrderedDict[str, CommandReply] = OrderedDict()

    def handle(self, name: str, payload: bytes) -> tuple[CommandReply, Command | None]:
        """The reply to send and the command to apply (None when refused)."""
        if len(payload) > self.max_bytes:
            # Checked before anything reads the payload: no parser sees a megabyte of junk.
            return self._refuse(
                name, "oversized", f"payload is {len(payload)} bytes, at most {self.max_bytes}"
            )
        if name not in KNOWN_COMMANDS:
            return self._refuse(
                name,
                "unknown_command",
                f"unknown command {_show(name)}; known: {', '.join(KNOWN_COMMANDS)}",
            )
        if name in HA_COMMANDS:
            return self._handle_raw(name, payload)
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
            return self._refuse(name, "not_json", f"payload is not JSON: {_first_line(exc)}")
        if not isinstance(document, dict):
            return self._refuse(
                name, "not_object", f"payload must be a JSON object, got {type(document).__name__}"
            )
        cmd_id = _readable_id(document.get("cmd_id"))
        try:
            # Strict: "22" is not a number and 1 is not true. Validated from the JSON text so
            # that timestamps arrive as the ISO strings JSON carries.
            command = JSON_COMMANDS[name].model_validate_json(payload, strict=True)
        except ValidationError as exc:
            return self._refuse(name, "invalid", describe(exc), cmd_id)
        return self._judge(name, command)

    def reply_redirected(self, name: str, requested: str) -> None:
        """A command's ResponseTopic was outside the heater's reply subtree: count and say so."""
        self.replies_redirected += 1
        log.info(
            "command %s: response topic %s is not under this heater's reply topics; "
            "replying on the conventional one",
            printable(_show(name)),
            printable(_show(requested)),
        )

    def record(self, reply: CommandReply) -> None:
        """Replace the remembered reply of `reply.cmd_id`, e.g. with what the agent applied."""
        if reply.cmd_id is not None and reply.cmd_id in self._replies:
            self._replies[reply.cmd_id] = reply

    def _judge(self, name: str, command: CommandBase) -> tuple[CommandReply, Command | None]:
        earlier = self._replies.get(command.cmd_id)
        if earlier is not None:
            self.rejected["duplicate"] += 1
            log.info("command %s %s is a duplicate; replying as before", name, command.cmd_id)
            return earlier.model_copy(update={"duplicate": True}), None
        now = self.clock()
        if command.expires_at is not None and not clock_is_set(now):
            # A heater that booted without a clock and has not heard NTP yet cannot tell
            # whether the command is void; 1970 would call every expiry decades ahead. Not
            # remembered: sent again once the clock is set, the same command is taken.
            return self._refuse(
                name,
                "clock_unset",
                f"expires_at: {command.expires_at.isoformat()} cannot be judged: this heater's "
                f"clock is not set yet (it reads {_utc(now)}); send it again later",
                command.cmd_id,
            )
        if command.expires_at is not None and command.expires_at.timestamp() <= now:
            late = now - command.expires_at.timestamp()
            reply, _ = self._refuse(
                name,
                "expired",
                f"expires_at: {command.expires_at.isoformat()} passed {late:.0f} s ago",
                command.cmd_id,
            )
            self._remember(reply)
            return reply, None
        if command.expires_at is not None and command.expires_at.timestamp() > now + MAX_OVERRIDE_S:
            # Not remembered, like any invalid command. A forgotten override ends within a week,
            # however it was given.
            return self._refuse(
                name,
                "invalid",
                f"expires_at: {command.expires_at.isoformat()} is more than "
                f"{MAX_OVERRIDE_S // 86400} days ahead",
                command.cmd_id,
            )
        if isinstance(command, SetpointOverride) and (
            error := self._outside_range(command.setpoint_c)
        ):
            # Not remembered: a corrected command may reuse the id, like any invalid one.
            return self._refuse(name, "invalid", error, command.cmd_id)
        reply = CommandReply(cmd_id=command.cmd_id, command=name, ok=True)
        self._remember(reply)
        self.accepted[name] += 1
        return reply, cast(Command, command)

    def _handle_raw(self, name: str, payload: bytes) -> tuple[CommandReply, Command | None]:
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return self._refuse(name, "invalid", "payload: not UTF-8 text")
        model: type[BaseModel] = HaSetpoint if name == "ha_setpoint" else HaMode
        key = "setpoint_c" if name == "ha_setpoint" else "mode"
        value = text.lower()
        if name == "ha_mode" and value == "none":
            value = "heat"  # Home Assistant clears a preset by sending `none`
        try:
            command = model.model_validate({key: value})
        except ValidationError as exc:
            return self._refuse(name, "invalid", describe(exc))
        if isinstance(command, HaSetpoint) and (error := self._outside_range(command.setpoint_c)):
            return self._refuse(name, "invalid", error)
        self.accepted[name] += 1
        return CommandReply(cmd_id=None, command=name, ok=True), cast(Command, command)

    def _outside_range(self, setpoint_c: float) -> str | None:
        # Worded like pydantic's own bound errors, so every range refusal reads the same.
        low, high = self.setpoint_range_c
        if setpoint_c < low:
            bound = f"greater than or equal to {low:g}"
        elif setpoint_c > high:
            bound = f"less than or equal to {high:g}"
        else:
            return None
        return f"setpoint_c: Input should be {bound} (got {setpoint_c:g})"

    def _refuse(
        self, name: str, reason: RejectReason, error: str, cmd_id: str | None = None
    ) -> tuple[CommandReply, None]:
        self.rejected[reason] += 1
        error = _utf8(error)
        log.info("command %s refused (%s): %s", printable(_show(name)), reason, printable(error))
        reply = CommandReply(
            cmd_id=cmd_id, command=_utf8(name[:MAX_ID_CHARS]), ok=False, reason=reason, error=error
        )
        return reply, None

    def _remember(self, reply: CommandReply) -> None:
        assert reply.cmd_id is not None
        self._replies[reply.cmd_id] = reply
        while len(self._replies) > self.remember:
            self._replies.popitem(last=False)  # the oldest id is forgotten first


def describe(error: ValidationError) -> str:
    """pydantic's errors as one line: `setpoint_c: Input should be ... (got 90)`."""
    problems = error.errors(include_url=False)
    parts = []
    for problem in problems[:MAX_ERRORS_SHOWN]:
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"]
        if not where:  # a check across fields: the message says which
            parts.append(message.removeprefix("Value error, "))
        elif problem["type"] == "missing":
            parts.append(f"{where}: {message}")
        else:
            parts.append(f"{where}: {message} (got {_show(problem['input'])})")
    if len(problems) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(problems) - MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


def printable(text: str) -> str:
    """Text a log line can carry: a lone surrogate from the network (valid in a JSON string,
    not in UTF-8) would make the log handler fail, so it is written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _show(value: Any) -> str:
    """A short JSON rendering of an offending value, for a reply."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 1] + "…"
    return text


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def _readable_id(value: object) -> str | None:
    """The cmd_id of a command that failed validation, if it is usable in a reply."""
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and re.fullmatch(ID_PATTERN, value):
        return value
    return None


def _utf8(text: str) -> str:
    """`text` with lone surrogates escaped: a reply quoting them must still encode as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
