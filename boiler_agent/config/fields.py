"""What the parts' config models share: the section base, name and topic types, blame, docs.

Every part's config module (control/config.py, telemetry/config.py, ...) imports from here and
from nothing else in `boiler_agent.config`, so a part's model can be imported on its own and
`boiler_agent.config.model` can import every part without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAME_ALLOWED = "1 to 64 characters of A-Z a-z 0-9 _ -"
TOPIC_ALLOWED = "topic levels joined by /, no wildcards, not starting with $"
TOPIC_MAX = 200


class Section(BaseModel):
    """A `[section]` of the config file: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BlameError(ValueError):
    """A check across keys that blames one of them (dotted, relative to the model it is in).

    Raised from a model validator; the loader turns it into a problem on `key` with `value`,
    and names the `others` the environment set, so the operator sees why a good value fails.
    """

    def __init__(self, key: str, value: object, message: str, others: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.message = message
        self.others = tuple(others)  # the other keys of the check, named when the env set them


def field_doc(
    allowed: str | None = None,
    example: object = None,
    default_doc: str | None = None,
    retired: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Documentation beyond the description, for a field's `json_schema_extra`.

    `allowed`: what is allowed, in words, when the type and bounds do not say it well.
    `example`: the value the generated example shows for a key that is unset by default.
    `default_doc`: words for a default worked out at load (hostname, heater kind, ...).
    `retired`: values still accepted for a release but ignored, each with what to do instead;
    they are left out of the documented choices and each use gives a deprecation warning.
    """
    extra: dict[str, Any] = {}
    if allowed is not None:
        extra["allowed"] = allowed
    if example is not None:
        extra["example"] = example
    if default_doc is not None:
        extra["default_doc"] = default_doc
    if retired:
        extra["retired"] = dict(retired)
    return extra


def path_exists(path: Path, check: Callable[[Path], bool]) -> bool:
    """`check(path)` (Path.is_file, Path.is_dir), False where the path cannot even be asked."""
    try:
        return check(path)
    except (OSError, ValueError):  # a name too long, a NUL byte: not there either
        return False


def _check_name(value: str) -> str:
    # Names become MQTT topic levels and shared-subscription groups: no / + # or spaces.
    if not NAME_RE.fullmatch(value):
        raise ValueError(f"must be {NAME_ALLOWED}")
    return value


def _check_topic(value: str) -> str:
    levels = value.split("/")
    if not value or len(value) > TOPIC_MAX or any(not level for level in levels):
        raise ValueError(
            f"must be topic levels joined by /, without empty levels, at most {TOPIC_MAX}"
        )
    if any(c in value for c in "+#\0") or value.startswith("$"):
        raise ValueError("must not contain the wildcards + or #, nor start with $")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
Topic = Annotated[str, AfterValidator(_check_topic)]
