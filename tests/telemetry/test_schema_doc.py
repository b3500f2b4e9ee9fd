"""docs/telemetry.md stays in step with the models, and `boiler-agent schema` prints them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boiler_agent.cli import main
from boiler_agent.telemetry.docs import BEGIN, END, render_markdown, replace_generated
from boiler_agent.telemetry.payloads import all_schemas

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"
REGENERATE = "boiler-agent schema --markdown --write docs/telemetry.md"


def test_the_documents_generated_section_matches_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == replace_generated(text, render_markdown()), (
        f"docs/telemetry.md is out of date with the payload models; run: {REGENERATE}"
    )


def test_the_generated_section_lists_every_payload_and_topic() -> None:
    generated = render_markdown()
    for name in all_schemas():
        assert f"### {name}" in generated
    for leaf in ("availability", "birth", "state", "telemetry", "events", "cmd/set_mode"):
        assert f"/{leaf}`" in generated


def test_replace_generated_keeps_the_text_around_the_markers() -> None:
    document = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    assert replace_generated(document, "new\n") == f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        replace_generated("no markers here", "new\n")


def test_schema_prints_every_schema_as_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == all_schemas()
    assert printed["Telemetry"]["properties"]["schema"]["const"] == 1


def test_schema_name_prints_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--name", "CommandReply"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "CommandReply"
    assert main(["schema", "--name", "Nope"]) == 2
    assert "known: Birth" in capsys.readouterr().err


def test_schema_markdown_writes_the_generated_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown()
    target = tmp_path / "telemetry.md"
    target.write_text(f"# intro\n{BEGIN}\nstale\n{END}\n", encoding="utf-8")
    assert main(["schema", "--markdown", "--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == f"# intro\n{BEGIN}\n{render_markdown()}{END}\n"
    assert main(["schema", "--write", str(target)]) == 2
