"""`tallystream-store` as a subprocess for tests: the real server, over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live import free_port, stop


@dataclass(frozen=True)
class StoreProcess:
    url: str
    port: int
    chdb_path: Path
    database: str
    log: Path


@contextmanager
def run_store(workdir: Path, database: str, timeout: float = 120, **env: str) -> Iterator[StoreProcess]:
    """Start `tallystream-store` on a free port with its data under `workdir`; stop it after the block."""
    port = free_port()
    chdb_path = workdir / "chdb"
    full_env = {
        **os.environ,
        "TALLY_STORE_PORT": str(port),
        "TALLY_CHDB_PATH": str(chdb_path),
        "TALLY_DATABASE": database,
        **env,
    }
    for name in ("CLICKHOUSE_URL", "TALLY_STORE_TOKEN", "TALLY_STORE_TOKEN_FILE", "TALLY_STORE_URL"):
        if name not in env:
            full_env.pop(name, None)
    log = workdir / "store.log"
    exe = str(Path(sys.executable).with_name("tallystream-store"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe], env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url) as client:
            for _ in range(int(timeout / 0.2)):
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise AssertionError(f"the store did not come up: {log.read_text()[-3000:]}")
        yield StoreProcess(url, port, chdb_path, database, log)
    finally:
        stop(proc)
