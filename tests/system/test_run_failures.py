"""`boiler-agent run` when something is wrong: one clear line, a retry or a clean exit, never a
traceback.

Each test starts the real daemon as systemd would (`python -m boiler_agent.cli run --config`),
with its state, status socket and config in the test's own directory and the user's numba cache
shared (so workers start fast). Only the agent's pid gets SIGTERM, as with the unit's
KillMode=mixed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from boiler_agent.paths import default_cache_dir
from boiler_agent.telemetry.local_broker import LocalBroker, find_mosquitto
from firmware_bridge.simulator.server import HeaterSimulator

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "boiler_agent.cli", "run", "--config"]
START_S = 5.0  # imports and the first attempt: the complaint must be out by then
WATCH_S = 10.0  # long enough for several retries of the serial link and of the MQTT client
STOP_S = 15.0  # the agent checkpoints (10 s at most) and flushes; a clean stop is much faster
BAD_CREDENTIALS = re.compile(r"not authori[sz]ed|bad user ?name or password", re.IGNORECASE)


@dataclass
class Agent:
    """A running `boiler-agent run` and the file its stderr goes to."""

    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def lines(self, pattern: str | re.Pattern[str]) -> list[str]:
        return [line for line in self.stderr.splitlines() if re.search(pattern, line)]

    def wait_for(self, pattern: str | re.Pattern[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.lines(pattern):
                return True
            if self.process.poll() is not None:
                return bool(self.lines(pattern))
            time.sleep(0.1)
        return False

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM; the exit code (None: still running after STOP_S) and how long it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            code = None
            self.process.kill()
            self.process.wait(5)
        return code, time.monotonic() - started


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    # Nothing of the caller's BOILER_AGENT_* leaks in; state and socket are the test's own. HOME
    # is kept: the agent uses no XDG path once these are set, and a fresh HOME would make
    # matplotlib (imported by the CLI) rebuild its font cache at every start.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOILER_AGENT_")}
    env.update(
        BOILER_AGENT_STATE_DIR=str(tmp_path / "state"),
        BOILER_AGENT_CACHE_DIR=str(default_cache_dir()),
        BOILER_AGENT_STATUS__SOCKET=str(tmp_path / "status.sock"),
    )
    env.update(overrides)
    return env


def _start(tmp_path: Path, config: str, **env: str) -> Agent:
    path = tmp_path / "agent.toml"
    # One worker process is enough to be a real agent, and keeps the test light.
    path.write_text(config + "[power]\nmax_workers = 1\n", encoding="utf-8")
    stderr_path = tmp_path / "agent.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*CLI, str(path)],
            cwd=ROOT,
            env=_env(tmp_path, **env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Agent(process, stderr_path)


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    """Agents a test started: killed if the test failed before stopping them."""
    started: list[Agent] = []
    yield started
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(5)


# -- bad config files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ('[mqtt]\nurll = "mqtt://broker"\n', {}, ["mqtt.urll", "'mqtt://broker'", "unknown key"]),
        ("[control]\nperiod_s = 500\n", {}, ["control.period_s = 500", "1..120"]),
        ('[power]\nmax_workers = "many"\n', {}, ["power.max_workers = 'many'", "integer"]),
        ('[heater]\nkind = "tank"\n', {}, ["heater.kind = 'tank'", "room, boiler"]),
        ('[mqtt\nurl = "mqtt://broker"\n', {}, ["invalid TOML", "line 1"]),
        ("mqtt = 3\n", {}, ["mqtt = 3", "table"]),
        (
            "",
            {"BOILER_AGENT_CONTROL__MAX_TEMP_C": "120"},
            ["control.max_temp_c = '120'", "BOILER_AGENT_CONTROL__MAX_TEMP_C", "95"],
        ),
        ("", {"BOILER_AGENT_MQTT__URLL": "x"}, ["BOILER_AGENT_MQTT__URLL", "unknown key"]),
    ],
    ids=[
        "unknown-key",
        "out-of-range",
        "wrong-type",
        "not-a-choice",
        "toml-syntax",
        "not-a-table",
        "bad-env-value",
        "unknown-env-key",
    ],
)
def test_a_bad_config_is_one_line_naming_key_and_value_and_exit_2(
    tmp_path: Path, config: str, env: dict[str, str], expected: list[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(config, encoding="utf-8")
    result = subprocess.run(
        [*CLI, str(path)],
        cwd=ROOT,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, f"expected exit 2, got {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert lines[0].startswith(f"{path}: "), f"the line should name the file: {lines[0]}"
    for fragment in expected:
        assert fragment in lines[0], f"{fragment!r} missing from: {lines[0]}"
    assert not (tmp_path / "state").exists(), "a refused config must not start anything"


def test_a_missing_config_file_named_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = subprocess.run(
        [*CLI, str(missing)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"{missing}: config file not found: '{missing}'"]


# -- a missing serial port --------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """What a run of WATCH_S showed: stderr, whether it still ran, and how it stopped."""

    stderr: str
    port: str
    said_in_time: bool
    alive_after_watch: bool
    exit_code: int | None
    stop_s: float

    def port_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if self.port in line]


def _watch_missing_port(tmp_path: Path) -> Watched:
    """One agent against a port that does not exist, watched for WATCH_S, then SIGTERM."""
    port = str(tmp_path / "no-such-tty")
    # MQTT off: this run is about the serial port alone, with no broker to complain about.
    agent = _start(tmp_path, f'[serial]\nport = "{port}"\n[mqtt]\nenabled = false\n')
    try:
        said = agent.wait_for(re.escape(port), START_S)
        # A window, not a wait for a state: what is checked is that nothing more is said in it.
        time.sleep(max(0.0, WATCH_S - START_S))
        alive = agent.process.poll() is None
        code, stop_s = agent.stop()
    finally:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(5)
    return Watched(agent.stderr, port, said, alive, code, stop_s)


@pytest.mark.slow
def test_a_missing_serial_port_is_said_once_and_retried_and_sigterm_still_stops_cleanly(
    tmp_path: Path,
) -> None:
    # One run for both questions: a module fixture ran twice when xdist split its tests.
    run = _watch_missing_port(tmp_path)
    assert run.said_in_time, f"no line naming {run.port} within {START_S} s:\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    assert run.alive_after_watch, f"the agent should keep retrying, it exited:\n{run.stderr}"
    assert run.exit_code == 0, f"SIGTERM should exit 0, got {run.exit_code}:\n{run.stderr}"
    assert run.stop_s < 10, f"the stop took {run.stop_s:.1f} s"
    assert any("No such file or directory" in line for line in run.port_lines()), run.stderr
    complaints = [line for line in run.port_lines() if "cannot open" in line]
    assert len(complaints) == 1, (
        f"expected one line about the missing port in {WATCH_S:g} s, got {len(complaints)}:\n"
        + "\n".join(complaints)
    )


# -- a broker that refuses the credentials ----------------------------------------------------


def _password_file(path: Path, user: str, password: str) -> Path:
    binary = shutil.which("mosquitto_passwd")
    if binary is None or find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt-get install mosquitto)")
    subprocess.run([binary, "-b", "-c", str(path), user, password], check=True, timeout=30)
    path.chmod(0o600)  # mosquitto warns about a world-readable one (later versions refuse it)
    return path


def _connects(port: int, user: str, password: str) -> bool:
    """Does the broker accept these credentials? (Proves the refusal is about the password.)"""
    answer: list[bool] = []
    answered = threading.Event()

    def on_connect(client: mqtt.Client, *args: object) -> None:
        reason = args[2]
        answer.append(not getattr(reason, "is_failure", True))
        answered.set()

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        answered.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer == [True]


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    workdir = tmp_path / "broker"
    workdir.mkdir()
    passwords = _password_file(workdir / "passwords", "heater", "right-password")
    broker = LocalBroker(
        workdir=workdir, allow_anonymous=False, extra_config=[f"password_file {passwords}"]
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.slow
def test_a_broker_refusing_the_credentials_is_one_clear_line_and_the_agent_carries_on(
    tmp_path: Path, password_broker: LocalBroker, agents: list[Agent]
) -> None:
    assert _connects(password_broker.port, "heater", "right-password"), "broker set-up is wrong"
    with HeaterSimulator("room", speed=1.0, link_path=tmp_path / "heater-tty") as simulator:
        simulator.turn_knob(5.0)  # no heat wanted: the workers stay idle, the test stays quick
        agent = _start(
            tmp_path,
            f'[serial]\nport = "{simulator.port}"\n'
            f'[mqtt]\nurl = "{password_broker.url}"\nusername = "heater"\n'
            'password = "wrong-password"\n',
        )
        agents.append(agent)
        refused = "refused the connection"
        assert agent.wait_for(refused, START_S + 5), f"no line saying so:\n{agent.stderr}"
        time.sleep(WATCH_S - START_S)  # the client retries meanwhile: the line must not repeat
        alive = agent.process.poll() is None
        code, _ = agent.stop()
    stderr = agent.stderr
    lines = agent.lines(refused)
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n" + "\n".join(lines)
    assert BAD_CREDENTIALS.search(lines[0]), f"the line should say why: {lines[0]}"
    assert password_broker.url in lines[0], f"the line should name the broker: {lines[0]}"
    assert "wrong-password" not in stderr, "the password must never be printed"
    assert "Traceback" not in stderr, stderr
    assert alive, f"the agent should keep running and retrying, it exited:\n{stderr}"
    assert code == 0, f"SIGTERM should exit 0, got {code}:\n{stderr}"
    # The broker really was asked more than once (the agent retries, quietly).
    log = password_broker.log_path.read_text(errors="replace")
    assert log.count("not authorised") >= 2, log


# -- a state directory the agent cannot write --------------------------------------------------


def _read_only_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    probe = directory / "probe"
    try:
        probe.touch()
    except PermissionError:
        return directory  # the mode bits hold for this user: the case an operator meets
    probe.unlink()
    # Root (CAP_DAC_OVERRIDE, as in CI) writes through mode bits; sysfs refuses it new files.
    return Path("/sys")


def _below_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a directory\n", encoding="utf-8")
    return tmp_path / "a-file" / "state"


@pytest.mark.parametrize(
    ("make_state_dir", "reason"),
    [(_read_only_dir, r"Permission denied|Read-only file system"), (_below_a_file, "Not a dir")],
    ids=["read-only-directory", "path-through-a-file"],
)
def test_a_state_directory_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path,
    agents: list[Agent],
    make_state_dir: Callable[[Path], Path],
    reason: str,
) -> None:
    state_dir = make_state_dir(tmp_path)
    agent = _start(
        tmp_path,
        f'[serial]\nport = "{tmp_path / "no-such-tty"}"\n[mqtt]\nenabled = false\n',
        BOILER_AGENT_STATE_DIR=str(state_dir),
    )
    agents.append(agent)
    try:
        code = agent.process.wait(60)
    finally:
        if (tmp_path / "read-only").exists():
            (tmp_path / "read-only").chmod(0o755)  # let pytest clean up
    stderr = agent.stderr
    assert code == 1, f"expected exit 1, got {code}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    assert str(state_dir) in lines[0], f"the line should name the directory: {lines[0]}"
    assert re.search(reason, lines[0]), f"the line should say why: {lines[0]}"
