"""Settings of the views role."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas import topics
from tenancy.replication import KafkaReplicationSettings


class ViewsSettings(KafkaReplicationSettings):
    """Where the views API listens."""

    model_config = SettingsConfigDict(env_prefix="TALLY_VIEWS_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port to bind."""
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="TALLY_KAFKA_BOOTSTRAP")
    """Kafka, for the tenant directory (API keys)."""
    directory_topic: str = Field(default=topics.TENANTS, validation_alias="TALLY_DIRECTORY_TOPIC")
    """Topic of the tenant directory."""
    ui_dir: Path | None = Field(default=None, validation_alias="TALLY_UI_DIR")
    """Folder of the dashboard web UI (default: the repository's ui/)."""
    alert_rules_topic: str = Field(default=topics.ALERT_RULES, validation_alias="TALLY_ALERT_RULES_TOPIC")
    """Topic of the alert rules."""

    key_requests_per_second: float = Field(default=10.0, gt=0, le=1_000_000)
    """Requests per second one API key may make to a tenant's views (429 + Retry-After beyond)."""
    tenant_requests_per_second: float = Field(default=30.0, gt=0, le=1_000_000)
    """Requests per second to one tenant's views, all its keys (and operators) together."""
    request_burst_seconds: float = Field(default=6.0, ge=1, le=3600)
    """Both request rates allow bursts of this many seconds' worth of requests."""
    live_streams_per_tenant: int = Field(default=20, ge=1, le=10_000)
    """Live (server-sent events) streams open at once per tenant (429 beyond)."""
    exports_per_tenant: int = Field(default=2, ge=1, le=1000)
    """CSV exports running at once per tenant (429 beyond)."""
    live_min_interval_seconds: float = Field(default=1.0, ge=0.2, le=60)
    """Floor of the live `interval`; a tenant's live figures are read at most once per this many seconds,
    however many of its streams are open (they share the reading)."""
    live_max_seconds: float = Field(default=3600.0, ge=1, le=86_400)
    """A live stream ends after this long (EventSource clients reconnect, with their key checked anew)."""
    stream_send_timeout_seconds: float = Field(default=30.0, ge=1, le=3600)
    """A live stream or CSV export whose client takes longer than this to accept the next piece (it
    stopped reading) is aborted, and its slot freed."""
