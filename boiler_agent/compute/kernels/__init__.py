"""Worker side of the kernels: load a registered kernel's run class, run jobs, warm the cache.

Importing a kernel module imports numba, so only worker processes (and `warm-cache`, tests and
benchmarks) call into here; the supervisor uses `boiler_agent.compute.specs` alone.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, cast

from pydantic import BaseModel

from boiler_agent.compute.kernel_api import JsonValue, KernelRunFactory, KernelSpec, State
from boiler_agent.compute.specs import EXAMPLES, KERNELS, UnknownKernelError, get_spec


def load_run_class(spec: KernelSpec) -> KernelRunFactory:
    """The run class of a registered spec; a spec not in the registry is refused."""
    if KERNELS.get(spec.name) is not spec:
        raise UnknownKernelError(f"kernel {spec.name!r} is not the registered one; refusing")
    module_name, _, class_name = spec.run_class.partition(":")
    if not module_name.startswith(f"{__name__}.") or not class_name:
        raise ValueError(f"run_class {spec.run_class!r} is not 'module:Class' in {__name__}")
    module = importlib.import_module(module_name)
    return cast(KernelRunFactory, getattr(module, class_name))


def run_job(kernel: str, params: dict[str, Any] | BaseModel) -> dict[str, JsonValue]:
    """Run every shard of a job here, one after the other, and combine: the plain way."""
    spec = get_spec(kernel)
    model = spec.params_model.model_validate(params)
    factory = load_run_class(spec)
    partials: list[State] = []
    for shard in spec.plan(model):
        run = factory(model, shard)
        run.step(shard.units)
        partials.append(run.partial())
    return spec.combine(model, partials)


def warm_all() -> dict[str, float]:
    """Compile (or load from the numba cache) every kernel by running a tiny job of each.

    The tiny jobs pass the same argument types as real ones, so the cached machine code is the
    code real jobs use. Returns the seconds each kernel took.
    """
    seconds: dict[str, float] = {}
    for name in KERNELS:
        started = time.perf_counter()
        run_job(name, EXAMPLES[name])
        seconds[name] = time.perf_counter() - started
    return seconds
