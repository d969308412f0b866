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
