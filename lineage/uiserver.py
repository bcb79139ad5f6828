"""Throwaway web servers on this machine for the screenshot and benchmark commands: `runserver` or gunicorn in a
child process on the same settings (and so the same database), stopped when the block ends."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serving(process: subprocess.Popen, port: int, *, name: str, timeout: float, stop_timeout: float):
    """Wait until `process` answers /healthz on `port`, yield its base URL, stop it afterwards."""
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} on port {port} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def web_server(*, port: int | None = None, timeout: float = 30.0):
    """Yield the base URL of a server running this project on 127.0.0.1."""
    port = port or free_port()
    manage = Path(settings.BASE_DIR) / "manage.py"
    process = subprocess.Popen(
        [sys.executable, str(manage), "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        # Plain HTTP on this machine: no TLS in front, so no HTTPS redirect or Secure-only cookies.
        env={**os.environ, "LOG_LEVEL": "WARNING", "TRIBUTARY_PLAIN_HTTP": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with _serving(process, port, name="the web server", timeout=timeout, stop_timeout=10) as base:
        yield base


@contextmanager
def gunicorn_server(*, workers: int = 1, port: int | None = None, timeout: float = 60.0):
    """Yield (base URL, master pid) of gunicorn serving this project on 127.0.0.1, as in production: sync
    workers, no debug, the same settings and database as this process."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "governance.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "600",
            "--log-level",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env={**os.environ, "LOG_LEVEL": "WARNING", "DJANGO_DEBUG": "0", "TRIBUTARY_PLAIN_HTTP": "1"},
        stdout=subprocess.DEVNULL,
    )
    with _serving(process, port, name="gunicorn", timeout=timeout, stop_timeout=30) as base:
        yield base, process.pid


def worker_pids(master: int) -> list[int]:
    """The child processes of `master` (gunicorn's workers), from /proc."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def memory_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB, from /proc (VmRSS, VmHWM)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
