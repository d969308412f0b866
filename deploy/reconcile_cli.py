"""`tallystream-reconcile`: rebuild a tenant's closed windows from the raw events (processors.reconcile).

    tallystream-reconcile --tenant acme --from 2026-11-01 --to 2026-11-20 [--timezone Europe/Paris]

Needs the warehouse the workers write to: `CLICKHOUSE_URL`, or `TALLY_STORE_URL` with the embedded
engine. Run it for days older than the allowed lateness; running it again changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from processors.reconcile import reconcile
from storage import WarehouseSettings, open_warehouse


async def _main(args: argparse.Namespace) -> None:
    zone = ZoneInfo(args.timezone)
    since = datetime.combine(date.fromisoformat(args.since), time(), zone)
    until = datetime.combine(date.fromisoformat(args.until), time(), zone)
    settings = WarehouseSettings()
    warehouse = await open_warehouse(settings)
    try:
        written = await reconcile(
            warehouse,
            settings.database,
            args.tenant,
            since,
            until,
            zone,
            retention=timedelta(days=settings.raw_retention_days),
        )
    finally:
        await warehouse.close()
    print(f"{args.tenant}: {written} window keys reconciled from {since.isoformat()} to {until.isoformat()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--from", dest="since", required=True, help="first day (YYYY-MM-DD), in --timezone")
    parser.add_argument("--to", dest="until", required=True, help="day after the last one (YYYY-MM-DD)")
    parser.add_argument("--timezone", default="UTC", help="the tenant's time zone (its windows' alignment)")
    asyncio.run(_main(parser.parse_args()))
