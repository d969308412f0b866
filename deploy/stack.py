"""`tallystream-stack`: the whole local stack for `make run`.

Starts the Kafka broker (deploy/kafka/kafka.sh), creates the topics, starts the combined
worker + views process and the ingest service, writes var/demo.env, sends demo traffic for
tenant `demo` and prints its overview every few seconds. Ctrl-C (or SIGTERM) stops everything,
the broker included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploy import demo
from deploy.admin_cli import DemoKeys, provision_demo
from deploy.topics import ensure_all_topics
from schemas import topics
from tenancy.replication import for_local_cluster, replication_env

KAFKA_SH = Path(__file__).with_name("kafka") / "kafka.sh"
REPLICATION = for_local_cluster(1)
"""One local broker holds one copy: every process of the stack (this one included) is told so."""


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class Stack:
    def __init__(self, var: Path, views_port: int, ingest_port: int, kafka_port: int) -> None:
        self.var = var
        self.views_url = f"http://127.0.0.1:{views_port}"
        self.ingest_url = f"http://127.0.0.1:{ingest_port}"
        self.bootstrap = f"127.0.0.1:{kafka_port}"
        self.env = {
            **os.environ,
            "TALLY_VAR": str(var),
            "KAFKA_PORT": str(kafka_port),
            "TALLY_KAFKA_BOOTSTRAP": self.bootstrap,
            "TALLY_CHDB_PATH": str(var / "chdb"),
            "TALLY_DATA_DIR": str(var / "faust"),
            "TALLY_VIEWS_PORT": str(views_port),
            "TALLY_INGEST_PORT": str(ingest_port),
            **replication_env(REPLICATION),
        }
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start_kafka(self) -> None:
        subprocess.run(["bash", str(KAFKA_SH), "start"], env=self.env, check=True)

    def stop_kafka(self) -> None:
        subprocess.run(["bash", str(KAFKA_SH), "stop"], env=self.env, check=False)

    def spawn(self, name: str) -> None:
        log = open(self.var / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        self.children.append((name, subprocess.Popen([_bin(name)], env=self.env, stdout=log, stderr=log)))

    def stop_children(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    async def wait_healthy(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                for name, child in self.children:
                    if child.poll() is not None:
                        raise RuntimeError(f"{name} exited with {child.returncode}; see {self.var}/{name}.log")
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{url} not healthy after {timeout}s; see {self.var}/*.log")

    def write_demo_env(self, keys: DemoKeys) -> Path:
        """The demo tenant's settings and keys, readable by the owner only (the keys are secrets)."""
        path = self.var / "demo.env"
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(
            f"TALLY_VIEWS_URL={self.views_url}\n"
            f"TALLY_INGEST_URL={self.ingest_url}\n"
            f"TALLY_KAFKA_BOOTSTRAP={self.bootstrap}\n"
            f"TALLY_DEMO_TENANT={keys.tenant_id}\n"
            f"TALLY_DEMO_INGEST_KEY={keys.ingest}\n"
            f"TALLY_DEMO_READ_KEY={keys.read}\n"
            f"TALLY_DEMO_ADMIN_KEY={keys.admin}\n"
            f"TALLY_ADMIN_KEY={keys.operator}\n"
            f"TALLY_DASHBOARD_URL={dashboard_link(self.views_url, keys)}\n"
        )
        return path


def dashboard_link(views_url: str, keys: DemoKeys) -> str:
    """The demo sign-in link: the tenant's READ key, so an opened (or shared) link cannot change anything.
    Settings and alert rules need TALLY_DEMO_ADMIN_KEY, entered at sign-in; the UI says so on a refused write."""
    return f"{views_url}/#key={keys.read}&tenant={keys.tenant_id}"


async def _report(views_url: str, read_key: str, stop: asyncio.Event) -> None:
    headers = {"authorization": f"Bearer {read_key}"}
    async with httpx.AsyncClient(base_url=views_url, timeout=5, headers=headers) as client:
        while not stop.is_set():
            try:
                o = (await client.get("/api/dashboard/demo/overview")).json()
                print(
                    f"demo: sessions {o['total_sessions']}  messages today {o['messages_today']}  "
                    f"LLM calls today {o['llm_calls_today']}  cost today ${o['cost_today_usd']}  "
                    f"active sessions {o['active_sessions']}  unpriced {o['unknown_model_calls_today']}",
                    flush=True,
                )
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            try:
                await asyncio.wait_for(stop.wait(), timeout=5)
            except TimeoutError:
                pass


async def _run(stack: Stack, rate: float, started: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ensure_all_topics(
        stack.bootstrap, topics.EVENTS_RAW, topics.EVENTS_DLQ, topics.TENANTS, topics.DEFAULT_PARTITIONS, REPLICATION
    )
    keys = await provision_demo(stack.bootstrap, topics.TENANTS)
    stack.spawn("tallystream-combined")
    stack.spawn("tallystream-ingest")
    await asyncio.gather(stack.wait_healthy(stack.views_url), stack.wait_healthy(stack.ingest_url))
    env_file = stack.write_demo_env(keys)
    print(
        f"\ntallystream is up in {time.monotonic() - started:.1f}s\n"
        f"  dashboard: {stack.views_url}/ — open TALLY_DASHBOARD_URL from {env_file} to sign in as the demo tenant "
        "(read-only; sign in with TALLY_DEMO_ADMIN_KEY to change settings and alerts)\n"
        f"  overview:  {stack.views_url}/api/dashboard/demo/overview\n"
        f"  costs:     {stack.views_url}/api/dashboard/demo/costs?days=7\n"
        f"  API docs:  {stack.views_url}/docs\n"
        f"  ingest:    {stack.ingest_url}/v1/events\n"
        f"  metrics:   {stack.ingest_url}/metrics  {stack.views_url}/metrics\n"
        f"  keys:      {env_file} (TALLY_DEMO_READ_KEY for the dashboards: Authorization: Bearer ...)\n"
        "Sending demo traffic; Ctrl-C stops everything.\n",
        flush=True,
    )
    await asyncio.gather(
        demo.run(stack.ingest_url, keys.tenant_id, keys.ingest, rate, stop), _report(stack.views_url, keys.read, stop)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=float(os.environ.get("TALLY_DEMO_RATE", "50")))
    args = parser.parse_args()
    os.environ.update(replication_env(REPLICATION))  # provision_demo creates the directory topic from here
    var = Path(os.environ.get("TALLY_VAR", "var")).resolve()
    var.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        var,
        views_port=int(os.environ.get("TALLY_VIEWS_PORT", "8000")),
        ingest_port=int(os.environ.get("TALLY_INGEST_PORT", "8001")),
        kafka_port=int(os.environ.get("KAFKA_PORT", "9092")),
    )
    started = time.monotonic()
    try:
        stack.start_kafka()
        asyncio.run(_run(stack, args.rate, started))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        print(f"tallystream stack failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    finally:
        # a second Ctrl-C (or the terminal's SIGINT to the whole group) must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping tallystream ...", flush=True)
        stack.stop_children()
        stack.stop_kafka()
