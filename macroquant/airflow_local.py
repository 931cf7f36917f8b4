"""Run Airflow on this machine for MacroQuant: ``python -m macroquant.airflow_local``.

Starts the Airflow components as separate processes (api-server, scheduler, dag-processor;
the triggerer only with ``--with-triggerer``, since MacroQuant has no deferrable task), all
on the LocalExecutor with low parallelism, the API server bound to 127.0.0.1, DAGs from the
repository's ``dags/``. Each component logs to ``$AIRFLOW_HOME/logs/local/<name>.log``.
When Airflow is healthy it prints the URL and the login. Ctrl-C stops every component.

Environment: ``MACROQUANT_HOME`` (Airflow's home defaults to ``$MACROQUANT_HOME/airflow``),
``MACROQUANT_AIRFLOW_PORT`` (default 8080); any ``AIRFLOW__*`` variable set by the user
wins over the defaults here, except the bind address, the port and the execution API URL,
which must agree with each other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO_ROOT / "dags"
HOST = "127.0.0.1"
DEFAULT_PORT = 8080
STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
HEALTH_POLL_SECONDS = 0.5  # the health endpoint is cheap; a 2 s poll added up to 2 s

# Local-use defaults: one machine, a handful of tasks at a time, modest memory.
LOCAL_DEFAULTS = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "2",  # the daily DAG is a chain: one task at a time
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
}

# Task logs are files under $AIRFLOW_HOME/logs that the API server reads directly; the log
# server (which would listen on every interface) only matters for remote workers.
COMPONENT_ARGS = {"scheduler": ("--skip-serve-logs",), "triggerer": ("--skip-serve-logs",)}


def airflow_port(environ: dict[str, str] | None = None) -> int:
    """The port ``make airflow`` serves the UI on: ``MACROQUANT_AIRFLOW_PORT`` or 8080."""
    env = os.environ if environ is None else environ
    return int(env.get("MACROQUANT_AIRFLOW_PORT") or DEFAULT_PORT)


def airflow_ui_url(environ: dict[str, str] | None = None) -> str:
    """Where the Airflow UI is: ``MACROQUANT_AIRFLOW_URL`` (an Airflow elsewhere) or the
    local one on ``MACROQUANT_AIRFLOW_PORT`` (default ``http://127.0.0.1:8080``)."""
    env = os.environ if environ is None else environ
    return (env.get("MACROQUANT_AIRFLOW_URL") or f"http://{HOST}:{airflow_port(env)}").rstrip("/")


def _unset(env: dict[str, str], key: str) -> bool:
    return not env.get(key)


def airflow_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an Airflow process started by MacroQuant.

    The same defaults as the Makefile (Airflow home under MACROQUANT_HOME, DAGs from the
    repository, no example DAGs), so that running outside ``make`` behaves the same; and
    this interpreter's bin directory first on PATH, because Airflow launches ``airflow``
    subprocesses by name.
    """
    env = dict(os.environ if environ is None else environ)
    mq_home = Path(env.get("MACROQUANT_HOME") or Path.home() / ".macroquant").expanduser()
    defaults = {
        "AIRFLOW_HOME": str(mq_home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GX_ANALYTICS_ENABLED": "False",
    }
    for key, value in defaults.items():
        if _unset(env, key):
            env[key] = value
    bin_dir = str(Path(sys.executable).parent)  # the venv's bin: do not resolve symlinks
    path = env.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        env["PATH"] = os.pathsep.join(p for p in (bin_dir, path) if p)
    return env


def local_environment(port: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """:func:`airflow_environment` plus the settings of a local, single-machine Airflow."""
    env = airflow_environment(environ)
    for key, value in LOCAL_DEFAULTS.items():
        if _unset(env, key):
            env[key] = value
    env["AIRFLOW__API__HOST"] = HOST
    env["AIRFLOW__API__PORT"] = str(port)
    # Task processes call the API server's execution API; its default URL is
    # http://localhost:8080, wrong as soon as the port moves (and localhost may resolve to
    # ::1, where nothing listens).
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://{HOST}:{port}/execution/"
    return env


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something already accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def health(port: int) -> dict[str, str | None]:
    """Component statuses from the API server's health endpoint ({} if it does not answer)."""
    url = f"http://{HOST}:{port}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (local URL)
            body = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return {}
    return {name: (value or {}).get("status") for name, value in body.items()}


def login_lines(env: dict[str, str]) -> list[str]:
    """How to log in, from the simple auth manager's settings and generated password file."""
    if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true":
        return ["no login: every visitor is admin (SIMPLE_AUTH_MANAGER_ALL_ADMINS)"]
    path = Path(env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or
                Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")
    try:
        passwords = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return [f"login: the password file {path} is not there yet (see the api-server log)"]
    lines = [f"login: user '{user}', password '{password}'"
             for user, password in sorted(passwords.items())]
    return [*lines, f"       (generated on first start, kept in {path})"]


class Component:
    """One Airflow component in its own process group, logging to a file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["airflow", name, *COMPONENT_ARGS.get(name, ())], env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int, *, group_only: bool = False) -> None:
        """Send ``signum`` to this component's process group (it and its workers).

        ``group_only``: also when the component itself has exited, for workers it left
        behind (the group outlives its leader while members remain).
        """
        if group_only or self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self._log.close()


def stop_all(components: list[Component], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each component's group, wait up to ``timeout``, then SIGKILL what is left."""
    for component in components:
        component.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    try:
        for component in components:
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=remaining)
    except KeyboardInterrupt:
        print("second Ctrl-C: killing", flush=True)
    for component in components:
        component.signal(signal.SIGKILL, group_only=True)
        component.process.wait()
        component.close()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def wait_until_healthy(port: int, components: list[Component], timeout: float) -> bool:
    """Poll the health endpoint until every started component is healthy."""
    wanted = {"metadatabase", "scheduler", "dag_processor"}
    if any(c.name == "triggerer" for c in components):
        wanted.add("triggerer")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for component in components:
            if not component.running():
                print(f"{component.name} exited (code {component.process.returncode}); "
                      f"its log {component.log_path} ends with:\n{component.tail()}")
                return False
        status = health(port)
        if all(status.get(name) == "healthy" for name in wanted):
            return True
        time.sleep(HEALTH_POLL_SECONDS)
    print(f"Airflow was not healthy after {timeout:.0f}s; logs are in "
          f"{components[0].log_path.parent}")
    return False


def main(argv: list[str] | None = None) -> int:
    """Start Airflow, wait until it is healthy, print how to use it, stop on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m macroquant.airflow_local",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=airflow_port())
    parser.add_argument("--with-triggerer", action="store_true",
                        help="also start the triggerer (only deferrable tasks need it)")
    args = parser.parse_args(argv)

    env = local_environment(args.port)
    home = Path(env["AIRFLOW_HOME"])
    log_dir = home / "logs" / "local"
    log_dir.mkdir(parents=True, exist_ok=True)
    if port_in_use(args.port):
        print(f"port {args.port} on {HOST} is in use (another Airflow?); stop it or choose "
              f"another port with MACROQUANT_AIRFLOW_PORT=<port>", file=sys.stderr)
        return 1

    print(f"Airflow home {home}, DAGs from {env['AIRFLOW__CORE__DAGS_FOLDER']}", flush=True)
    migrate_log = log_dir / "db-migrate.log"
    with migrate_log.open("wb") as out:
        migrated = subprocess.run(["airflow", "db", "migrate"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if migrated.returncode != 0:
        print(f"airflow db migrate failed; see {migrate_log}", file=sys.stderr)
        return 1

    names = ["api-server", "scheduler", "dag-processor"]
    if args.with_triggerer:
        names.append("triggerer")
    # Both signals stop Airflow cleanly; SIGINT explicitly too, since a shell starting this
    # in the background would otherwise leave it ignored.
    previous_handlers = {signum: signal.signal(signum, _raise_interrupt)
                         for signum in (signal.SIGINT, signal.SIGTERM)}
    components: list[Component] = []
    try:
        for name in names:
            components.append(Component(name, env, log_dir))
        print(f"starting {', '.join(names)} (logs in {log_dir}) ...", flush=True)
        if not wait_until_healthy(args.port, components, STARTUP_TIMEOUT):
            return 1
        print("\n".join([
            "", f"Airflow is ready: http://{HOST}:{args.port}",
            *login_lines(env),
            "New DAGs start paused: unpause macroquant_daily to let it run on its schedule,",
            "or trigger it (the trigger form takes an optional start/end window).",
            "Press Ctrl-C to stop Airflow.", "",
        ]), flush=True)
        while True:
            for component in components:
                if not component.running():
                    print(f"{component.name} exited (code {component.process.returncode}); "
                          f"stopping Airflow. Its log ends with:\n{component.tail()}")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping Airflow ...", flush=True)
        return 0
    finally:
        # scheduler first, so that it launches no new task while the API server goes away
        stop_all(sorted(components, key=lambda c: c.name != "scheduler"))
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        if components:
            print("Airflow stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
