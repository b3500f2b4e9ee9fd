"""The `[status]` and `[log]` config sections: where operators read the state, what is logged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from boiler_agent.config.fields import Section, field_doc
from boiler_agent.runtime.control_socket import DEFAULT_CONTROL_SOCKET_PATH
from boiler_agent.runtime.status import DEFAULT_SOCKET_PATH

LogLevel = Literal["debug", "info", "warning", "error"]
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


class StatusConfig(Section):
    socket: Path = Field(
        default=DEFAULT_SOCKET_PATH,
        description=(
            "Unix socket `boiler-agent status` reads the running agent's state from "
            "(the unit's RuntimeDirectory=boiler-agent)."
        ),
        json_schema_extra=field_doc(f"a path of at most {UNIX_SOCKET_PATH_MAX} bytes"),
    )
    control_socket: Path = Field(
        default=DEFAULT_CONTROL_SOCKET_PATH,
        description=(
            "Unix socket for operators' actions (`boiler-agent safety reset`), apart from the "
            "read-only status socket; root and the agent's group may use it."
        ),
        json_schema_extra=field_doc(f"a path of at most {UNIX_SOCKET_PATH_MAX} bytes"),
    )
    state_file: Path | None = Field(
        default=None,
        description="File the state is also written to, for when the socket is unreachable. "
        "Unset: status.json in state_dir.",
        json_schema_extra=field_doc(example="/var/lib/boiler-agent/status.json"),
    )

    @field_validator("socket", "control_socket")
    @classmethod
    def _socket(cls, value: Path) -> Path:
        if len(os.fsencode(value)) > UNIX_SOCKET_PATH_MAX:
            raise ValueError(f"is longer than {UNIX_SOCKET_PATH_MAX} bytes (a Unix socket limit)")
        return value


class LogConfig(Section):
    level: LogLevel = Field(default="info", description="Least severe log messages written.")
