"""A small `make chaos`: workers SIGKILLed, the broker restarted, the store down; totals stay exact."""

from __future__ import annotations

import pytest

from deploy.chaos import CHECKS, parser, run

pytestmark = pytest.mark.integration


async def test_totals_are_exact_through_kills_a_broker_restart_and_a_store_outage() -> None:
    args = parser().parse_args(
        [
            "--events",
            "6000",
            "--tenants",
            "12",
            "--workers",
            "2",
            "--kills",
            "2",
            "--store-outage",
            "3",
            "--seconds",
            "12",
            "--timeout",
            "240",
            "--range-span",
            "1000",
            "--seed",
            "11",
        ]
    )
    report = await run(args)
    assert [line["check"] for line in report["checks"]] == list(CHECKS)
    for line in report["checks"]:
        assert (line["lost"], line["duplicated"], line["tenants_off"]) == ("0", "0", []), line
        assert line["expected"] == line["observed"], line
    by_check = {line["check"]: line for line in report["checks"]}
    assert by_check["raw.events"]["expected"] == "6000"
    assert int(by_check["late.events"]["expected"]) > 0  # late events were part of the workload
    assert report["duplicates_sent"] > 0
    assert sum(" SIGKILL worker-" in step for step in report["chaos"]) == 2
    assert any("restarting the Kafka broker" in step for step in report["chaos"])
    assert any("store down" in step for step in report["chaos"])
    assert report["ok"] is True
