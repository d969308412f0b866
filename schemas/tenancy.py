"""Tenants and API keys: the records of the tenant directory, and the key format.

The directory is a compacted Kafka topic (`schemas.topics.TENANTS`); every role that needs it
follows the topic into memory. Records are JSON, keyed `tenant:<tenant_id>` (the operator's part),
`settings:<tenant_id>` (the tenant's store settings, written by the tenant: the two never overwrite
each other), `funnel:<tenant_id>:<funnel_id>` (a funnel the tenant saved, `schemas.funnels`) or
`key:<key_id>`.

An API key reads `tsk_<key_id>_<secret>`: `key_id` (16 hex digits) is public and names the key in
logs and in the directory; `secret` (32 random bytes, base64url) is shown once at creation and
stored only as its SHA-256. A plain hash suffices because the secret is 256 random bits, not a
password: there is nothing to brute-force, and verifying stays a microsecond on the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.funnels import FunnelRecord
from schemas.types import ShortText, TenantId, Timestamp

Scope = Literal["ingest", "read", "admin"]
"""What a key may do: send events, read dashboards, or manage tenants and keys."""

KEY_PREFIX = "tsk_"
_KEY = re.compile(r"^tsk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")

Rate = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=12)]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from exc
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class PriceOverride(BaseModel):
    """A tenant's own price for one model, used instead of genai-prices (negotiated rates, missing models)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: Rate = Decimal(0)
    """USD per million input tokens not read from cache."""
    cached_input_per_mtok: Rate | None = None
    """USD per million cached input tokens (defaults to the input rate)."""
    output_per_mtok: Rate = Decimal(0)
    """USD per million output tokens."""
    per_audio_minute: Rate = Decimal(0)
    """USD per minute of audio (transcription, speech)."""


WebUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s/$.?#][^\s]*$")]


class AiSettings(BaseModel):
    """How the tenant's assistant answers (the store's AI settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    """Sampling temperature of the assistant's model, 0 to 2."""
    max_products_shown: Annotated[int, Field(ge=1, le=50)] = 5
    """Most products the assistant shows in one answer, 1 to 50."""


class StoreSettings(BaseModel):
    """The tenant's store configuration, edited from the dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    description: Annotated[str, Field(max_length=4000)] = ""
    """What the store sells, in the owner's words."""
    brand_voice: Annotated[str, Field(max_length=2000)] = ""
    """The assistant's personality and tone."""
    store_url: WebUrl | None = None
    """The store's website (http or https)."""
    logo_url: WebUrl | None = None
    """The store's logo image (http or https)."""
    ai: AiSettings = AiSettings()


class TenantRecord(BaseModel):
    """A tenant and its settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tenant"] = "tenant"
    tenant_id: TenantId
    name: ShortText
    created_at: Timestamp
    disabled: bool = False
    """A disabled tenant's keys are refused everywhere."""
    rate_limit_per_second: Annotated[float, Field(gt=0)] | None = None
    """Events per second ingest accepts for the tenant (None: the service default)."""
    price_overrides: dict[str, PriceOverride] = Field(default_factory=dict)
    """`provider/model` -> the tenant's price for that model."""
    timezone: TimeZoneName = "UTC"
    """IANA time zone the tenant's hour and day windows are aligned to (e.g. Europe/Paris)."""
    store: StoreSettings = StoreSettings()
    """Store configuration. Since store settings have their own record (`TenantSettingsRecord`),
    this field is only read for tenants that have none yet (records written before)."""
    monthly_budget_usd: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=2)] | None = None
    """LLM budget per calendar month (tenant zone); budget alerts are seeded when it is set."""


class ApiKeyRecord(BaseModel):
    """An API key, as stored: never the secret, only its SHA-256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["key"] = "key"
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    tenant_id: TenantId | None
    """The tenant the key acts for; None only for operator admin keys (all tenants)."""
    scope: Scope
    secret_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    label: ShortText = ""
    created_at: Timestamp
    revoked_at: datetime | None = None


class TenantSettingsRecord(BaseModel):
    """A tenant's store settings, in a record of their own: the tenant's writes and the operator's
    tenant updates never overwrite each other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["settings"] = "settings"
    tenant_id: TenantId
    store: StoreSettings
    updated_at: Timestamp


DirectoryRecord = Annotated[
    TenantRecord | ApiKeyRecord | TenantSettingsRecord | FunnelRecord, Field(discriminator="kind")
]


def tenant_record_key(tenant_id: str) -> bytes:
    return f"tenant:{tenant_id}".encode()


def settings_record_key(tenant_id: str) -> bytes:
    return f"settings:{tenant_id}".encode()


def key_record_key(key_id: str) -> bytes:
    return f"key:{key_id}".encode()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh key: (plaintext key to show once, key_id, SHA-256 of the secret)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}{key_id}_{secret}", key_id, hash_secret(secret)


def split_key(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    match = _KEY.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, secret_sha256: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), secret_sha256)
