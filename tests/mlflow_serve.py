"""`mlflow models serve` in a subprocess, for the served-endpoint test and benchmarks/fraud_latency.py (not part of
the library: serving in production is `mlflow models serve` itself, docs/SERVING.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started with `start_new_session=True`: SIGTERM its process group (mlflow and its uvicorn
    child), SIGKILL after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def mlflow_server(model_uri: str, tracking_uri: str, log_path: Path, timeout: float = 90.0) -> Iterator[int]:
    """Serve `model_uri` of the store `tracking_uri` with this Python's mlflow (its venv first on PATH, for uvicorn),
    output to `log_path`; yields the port once /ping answers, stops the server on exit."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with Path(log_path).open("w") as log:
        proc = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
                                 "local", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"mlflow models serve exited:\n{Path(log_path).read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"mlflow models serve: no answer on /ping within {timeout:g} s") from None
                    time.sleep(0.25)
            yield port
        finally:
            stop_server(proc)
