"""`tallystream-admin`: tenants and API keys, written straight to the directory topic.

For operators with access to Kafka (bootstrap: the first operator key, scripts, recovery). Everyone
else uses the admin API of the ingest service (`/v1/admin/...`) with an admin key.

    tallystream-admin tenant put acme --name "Acme Store" [--rate 5000] [--disable | --enable]
    tallystream-admin key create --tenant acme --scope ingest [--label web]
    tallystream-admin key create --scope admin            # operator key (all tenants)
    tallystream-admin key revoke 0123456789abcdef
    tallystream-admin list
    tallystream-admin directory adopt-unsigned     # once, after upgrading: sign and version older records

Records are signed with the directory signing key (TALLY_DIRECTORY_SIGNING_KEY or
TALLY_DIRECTORY_SIGNING_KEY_FILE; the checkout's var/directory-signing.key for the local stack): run
it with the same key as the services. Key quotas apply here too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.topics import DIRECTORY_TOPIC_CONFIGS, ensure_topics
from schemas import topics
from schemas.tenancy import Scope, TenantRecord, key_record_key
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter
from tenancy.ordering import log_clock
from tenancy.quotas import forget_revoked, over_quota
from tenancy.settings import tenancy_settings
from tenancy.signing import signed_version, signing_key, verify


@dataclass(frozen=True)
class DemoKeys:
    tenant_id: str
    ingest: str
    read: str
    admin: str
    operator: str


@asynccontextmanager
async def directory_session(bootstrap: str, topic: str) -> AsyncIterator[tuple[Directory, DirectoryWriter]]:
    """The current directory (loaded) and a writer to it; creates the topic if it is missing."""
    await ensure_topics(bootstrap, [topic], 1, configs=DIRECTORY_TOPIC_CONFIGS)
    follower = DirectoryFollower(bootstrap, topic, Directory(max_stale_seconds=86_400))  # a short session
    writer = DirectoryWriter(bootstrap, topic)
    await follower.start()
    await writer.start()
    try:
        yield follower.directory, writer
    finally:
        await writer.stop()
        await follower.stop()


async def provision_demo(bootstrap: str, topic: str, tenant_id: str = "demo") -> DemoKeys:
    """The demo tenant with fresh ingest/read/admin keys and an operator key; earlier demo keys are revoked."""
    async with directory_session(bootstrap, topic) as (directory, writer):
        for key in list(directory.keys.values()):
            if key.label == "make-run" and key.revoked_at is None:
                revoked, offset = await writer.revoke_key(key)
                directory.apply(key_record_key(key.key_id), revoked.model_dump_json().encode(), offset)
        for owner in (tenant_id, None):  # earlier runs' revoked keys do not pile up
            await forget_revoked(writer, directory, owner, datetime.now(UTC), tenancy_settings())
        existing = directory.tenant(tenant_id)
        if existing is None or existing.monthly_budget_usd is None:  # a demo from before budgets gets one too
            demo = TenantRecord(
                tenant_id=tenant_id,
                name="Demo Store",
                created_at=existing.created_at if existing else datetime.now(UTC),
                monthly_budget_usd=Decimal(25),
            )
            await writer.put_tenant(demo)
        made = {}
        for scope in ("ingest", "read", "admin"):
            made[scope] = (await writer.create_key(tenant_id, scope, "make-run"))[0]
        operator = (await writer.create_key(None, "admin", "make-run"))[0]
    return DemoKeys(tenant_id, made["ingest"], made["read"], made["admin"], operator)


async def adopt_unsigned(bootstrap: str, topic: str) -> int:
    """Sign and version, as they are, the latest records of the directory that carry no valid signature
    or no version (records written before directory records were signed, or versioned); returns how
    many. Trusts the topic's content: run it once, right after the upgrade (the versioned records it
    writes are newer than any replay of the records they replace)."""
    key = signing_key()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    latest: dict[bytes, tuple[bytes | None, bool]] = {}
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        while await consumer.position(partition) < end:
            for record in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                if record.key is not None:
                    signed = verify(key, topic, record.key, record.value, record.headers)
                    version = signed_version(key, topic, record.key, record.value, record.headers) if signed else None
                    if version:
                        log_clock(topic).observe(version)
                    latest[record.key] = (record.value, bool(version))
    finally:
        await consumer.stop()
    writer = DirectoryWriter(bootstrap, topic)
    await writer.start()
    try:
        unsigned = [(k, v) for k, (v, signed) in latest.items() if not signed and v is not None]
        for record_key, value in unsigned:
            await writer.write(record_key, value)
    finally:
        await writer.stop()
    return len(unsigned)


async def _main(args: argparse.Namespace) -> int:
    if args.what == "directory":
        print(f"{await adopt_unsigned(args.bootstrap, args.topic)} unsigned or unversioned records signed")
        return 0
    async with directory_session(args.bootstrap, args.topic) as (directory, writer):
        if args.what == "tenant":
            existing = directory.tenant_record(args.tenant_id)  # its other fields (zone, budget ...) are kept
            base = existing or TenantRecord(tenant_id=args.tenant_id, name=args.tenant_id, created_at=datetime.now(UTC))
            changes = {
                "name": args.name,
                "rate_limit_per_second": args.rate,
                "disabled": args.disabled,
            }
            record = TenantRecord.model_validate(
                {**base.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
            )
            await writer.put_tenant(record)
            print(f"tenant {record.tenant_id} saved")
        elif args.what == "key" and args.action == "create":
            if args.tenant is not None and directory.tenant(args.tenant) is None:
                print(f"no tenant {args.tenant!r}; create it first", file=sys.stderr)
                return 2
            if args.tenant is None and args.scope != "admin":
                print("a key without --tenant is an operator key: --scope admin", file=sys.stderr)
                return 2
            if (refusal := over_quota(directory, args.tenant, tenancy_settings())) is not None:
                print(refusal, file=sys.stderr)
                return 2
            scope: Scope = args.scope
            plaintext, created, _ = await writer.create_key(args.tenant, scope, args.label)
            print(f"key {created.key_id} ({created.scope}, tenant {created.tenant_id or '*'}); shown once:")
            print(plaintext)
        elif args.what == "key" and args.action == "revoke":
            found = directory.keys.get(args.key_id)
            if found is None:
                print(f"no key {args.key_id!r}", file=sys.stderr)
                return 2
            await writer.revoke_key(found)
            print(f"key {args.key_id} revoked")
        else:
            for tenant in sorted(directory.tenants.values(), key=lambda t: t.tenant_id):
                print(f"tenant {tenant.tenant_id:24} {tenant.name!r} disabled={tenant.disabled}")
            for key in sorted(directory.keys.values(), key=lambda k: k.created_at):
                state = "revoked" if key.revoked_at else "live"
                print(f"key    {key.key_id} {key.scope:6} tenant={key.tenant_id or '*'} {state} {key.label}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("TALLY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--topic", default=os.environ.get("TALLY_DIRECTORY_TOPIC", topics.TENANTS))
    sub = parser.add_subparsers(dest="what", required=True)
    tenant = sub.add_parser("tenant").add_subparsers(dest="action", required=True).add_parser("put")
    tenant.add_argument("tenant_id")
    tenant.add_argument("--name")
    tenant.add_argument("--rate", type=float, help="events/s accepted (unchanged if omitted; new: the service's)")
    state = tenant.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_const", const=True, help="refuse its keys")
    state.add_argument("--enable", dest="disabled", action="store_const", const=False, help="accept its keys again")
    key = sub.add_parser("key").add_subparsers(dest="action", required=True)
    create = key.add_parser("create")
    create.add_argument("--tenant")
    create.add_argument("--scope", choices=["ingest", "read", "admin"], required=True)
    create.add_argument("--label", default="")
    key.add_parser("revoke").add_argument("key_id")
    sub.add_parser("list")
    directory = sub.add_parser("directory", help="maintenance of the directory topic")
    directory.add_subparsers(dest="action", required=True).add_parser(
        "adopt-unsigned", help="sign and version records written before signing or versions (once, after the upgrade)"
    )
    raise SystemExit(asyncio.run(_main(parser.parse_args(argv))))
