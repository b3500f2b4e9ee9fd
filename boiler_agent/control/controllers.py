"""Choose a control law by name: `build_controller(kind, max_power_w, period_s, **params)`."""

from __future__ import annotations

from typing import Any, Protocol

from boiler_agent.control.baselines import BangBang, PiController
from boiler_agent.control.default import ModelBased
from boiler_agent.control.inputs import ControlInput

KINDS = ("default", "pi", "bangbang")


class Controller(Protocol):
    """A pure control law: numbers and time in, watts in [0, max_power_w] out."""

    def step(self, inputs: ControlInput) -> float: ...


def build_controller(kind: str, max_power_w: float, period_s: float, **params: Any) -> Controller:
    """A new controller of `kind`; ValueError naming the kind or parameter when one is bad."""
    factories: dict[str, Any] = {"default": ModelBased, "pi": PiController, "bangbang": BangBang}
    factory = factories.get(kind)
    if factory is None:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        controller: Controller = factory(max_power_w, period_s, **params)
    except TypeError as exc:  # an unknown keyword: name it
        raise ValueError(f"{kind} controller: bad parameter in {sorted(params)}: {exc}") from None
    return controller
