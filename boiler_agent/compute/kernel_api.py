"""The contract between a kernel and the compute machinery that runs it.

A kernel has two halves, so that the supervisor never imports numba:
- a `KernelSpec` (supervisor side, `specs/`): validated parameters, the job's fixed plan of
  shards and work units, a memory estimate, and how shard results combine into the result;
- a `KernelRun` (worker side, `kernels/`): the numba code that advances one shard a few work
  units at a time and carries its state between chunks, so it can stop, checkpoint and resume
  anywhere between units.

Determinism: the plan depends on the parameters only (never on the number of workers or the
chunk size), every work unit draws from its own counter-based random stream, and partial
results are combined in unit order. So the result is bit-identical however the job was run.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np

    State = dict[str, np.ndarray[Any, Any]]  # everything a shard needs to resume: checkpointed
else:
    State = dict  # numpy stays out of the supervisor until a result is combined
JsonValue = float | int | str | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Shard:
    """A contiguous run of work units, the unit of scheduling and checkpointing."""

    index: int
    first_unit: int
    units: int


class KernelSpec(abc.ABC):
    """Supervisor side of a kernel. Subclasses set the class attributes and implement the rest."""

    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]  # extra="forbid", every number bounded
    # Dotted path "module:Class" of the KernelRun, imported only inside worker processes.
    run_class: ClassVar[str]

    @abc.abstractmethod
    def plan(self, params: BaseModel) -> list[Shard]:
        """The job's shards, fixed by the parameters alone."""

    @abc.abstractmethod
    def memory_bytes(self, params: BaseModel) -> int:
        """Peak memory of one shard's run, for refusing jobs over the budget."""

    @abc.abstractmethod
    def combine(self, params: BaseModel, partials: list[State]) -> dict[str, JsonValue]:
        """The job's result from every shard's `partial()`, given in shard order."""


class KernelRun(Protocol):
    """Worker side: one shard of one job, advanced chunk by chunk."""

    units_done: int

    def step(self, units: int) -> int:
        """Advance by up to `units` work units, in order; return how many were done."""
        ...

    def state(self) -> State:
        """Everything needed to resume (including units_done), as numpy arrays."""
        ...

    def partial(self) -> State:
        """The shard's contribution to the result, once every unit is done."""
        ...


class KernelRunFactory(Protocol):
    """What `run_class` names: builds a fresh run, or one resumed from a saved state."""

    def __call__(
        self, params: BaseModel, shard: Shard, state: State | None = None
    ) -> KernelRun: ...
