"""The control law's learning on disk, so that a restart does not send a heater to its first day.

`learnt.json` in the state directory holds the default controller's thermal model and its
draw forecast (`control.learnt.LearntState`), written every SAVE_EVERY_S on the background
writer (never an fsync on the loop's thread) and at a clean stop. It is restored when the same
heater (serial number and rating) is accepted again; a record of another heater, a stale one or
one that cannot be read is ignored with a log line: learning is comfort, not safety, so the
heater starts afresh rather than refusing to heat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from boiler_agent.control.default import ModelBased
from boiler_agent.control.learnt import FORMAT_VERSION, LearntState
from boiler_agent.durations import DAY_S
from boiler_agent.runtime.atomic_file import write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "learnt.json"
SAVE_EVERY_S = 900.0  # a crash loses at most this much learning
MAX_AGE_S = 60 * DAY_S  # older than a season: the house may have changed (insulation, use)
Submit = Callable[[str, Callable[[], None]], None]  # BackgroundWriter.submit


class LearntRecord:
    def __init__(self, state_dir: Path, submit: Submit | None = None) -> None:
        self.path = state_dir / FILE_NAME
        self.write_errors = 0
        self._submit = submit
        self._next_save_s: float | None = None

    def restore(
        self,
        controller: object,
        *,
        serial: str,
        max_power_w: float,
        plant_now_s: float,
        wall_now_s: float,
    ) -> bool:
        """Give `controller` what it learnt on this heater before; True when it did."""
        if not isinstance(controller, ModelBased):
            return False  # the baselines learn nothing
        state = self._read()
        if state is None:
            return False
        if state.heater_serial != serial or state.max_power_w != max_power_w:
            log.info(
                "control: %s was learnt on heater %s at %g W, not this one (%s at %g W): "
                "learning afresh",
                self.path,
                state.heater_serial,
                state.max_power_w,
                serial,
                max_power_w,
            )
            return False
        age_s = wall_now_s - state.saved_at_wall
        if not 0.0 <= age_s <= MAX_AGE_S:
            log.info("control: %s is %.0f days old: learning afresh", self.path, age_s / DAY_S)
            return False
        controller.restore(state.model, state.forecast, plant_now_s, age_s)
        log.info(
            "control: resumed the model learnt on this heater (%d fits, %d draws remembered)",
            state.model.updates,
            len(state.forecast.onsets_ago_s),
        )
        return True

    def due(self, now_s: float) -> bool:
        """Time for the periodic save (monotonic seconds); the first call only starts the timer."""
        if self._next_save_s is None:
            self._next_save_s = now_s + SAVE_EVERY_S
            return False
        if now_s < self._next_save_s:
            return False
        self._next_save_s = now_s + SAVE_EVERY_S
        return True

    def save(
        self,
        controller: object,
        *,
        serial: str,
        max_power_w: float,
        plant_now_s: float,
        wall_now_s: float,
        wait: bool = False,
    ) -> None:
        """Write what `controller` has learnt: on the background writer unless `wait`."""
        if not isinstance(controller, ModelBased):
            return
        model, forecast = controller.learnt(plant_now_s)
        state = LearntState(
            heater_serial=serial,
            max_power_w=max_power_w,
            saved_at_wall=wall_now_s,
            model=model,
            forecast=forecast,
        )
        text = state.model_dump_json(indent=1)
        if self._submit is None or wait:
            self._write(text)
        else:
            self._submit("learnt", lambda: self._write(text))

    def _write(self, text: str) -> None:
        try:
            write_atomically(self.path, text)
        except OSError as error:
            self.write_errors += 1
            log.warning("control: cannot save the learnt model to %s: %s", self.path, error)

    def _read(self) -> LearntState | None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("control: cannot read %s (%s): learning afresh", self.path, error)
            return None
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            log.warning("control: %s has an unknown format: learning afresh", self.path)
            return None
        try:
            return LearntState.model_validate(document)
        except ValidationError as error:
            log.warning(
                "control: %s does not hold a learnt model (%s): learning afresh",
                self.path,
                error.errors()[0]["msg"],
            )
            return None
