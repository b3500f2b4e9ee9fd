"""The kernel benchmark runs on tiny inputs and reports every key (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from boiler_agent.benchmarks import kernels

TINY_OPTIONS = {
    "--mc-paths": "2000",
    "--mc-steps": "4",
    "--heat-grid": "12",
    "--heat-sweeps": "5",
    "--image": "24 16",
    "--max-iter": "40",
    "--lin-n": "24",
    "--lin-rhs": "30",
    "--dgemm-n": "64",
    "--repeats": "1",
    "--python-scale": "0.05",
}
TINY = [word for option, value in TINY_OPTIONS.items() for word in (option, *value.split())]
KERNELS = ("option_mc", "heat2d", "mandelbrot", "linsolve")


def test_json_line_has_an_object_per_kernel_with_the_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert kernels.main([*TINY, "--json"]) == 0, "expected exit 0: every kernel agrees with NumPy"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, f"expected one JSON line, got {lines}"
    result = json.loads(lines[0])
    assert set(result) == {*KERNELS, "dgemm"}, f"unexpected keys {sorted(result)}"
    for name in KERNELS:
        row = result[name]
        for key in ("speedup_vs_numpy", "speedup_vs_python"):
            assert row[key] > 0, f"{name}.{key} must be a positive ratio, got {row.get(key)}"
        assert row["agrees_with_numpy"] is True, f"{name} disagrees with its NumPy reference"
    for name in ("heat2d", "linsolve"):
        assert result[name]["fraction_of_dgemm"] > 0, f"{name} needs fraction_of_dgemm"
    assert result["option_mc"]["speedup_vs_numpy_generator"] > 0
    assert result["dgemm"]["gflops"] > 0 and result["dgemm"]["threads"] == 1


def test_table_names_every_kernel_and_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert kernels.main(TINY) == 0
    out = capsys.readouterr().out
    for text in (*KERNELS, "dgemm", "target >= 10.0x", "target >= 40%"):
        assert text in out, f"expected {text!r} in the table:\n{out}"
