"""Settings of the ingest role."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas import records, topics
from tenancy.replication import KafkaReplicationSettings


class IngestSettings(KafkaReplicationSettings):
    """Where ingest listens and publishes, and its limits."""

    model_config = SettingsConfigDict(env_prefix="TALLY_INGEST_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="TALLY_KAFKA_BOOTSTRAP")
    events_topic: str = Field(default=topics.EVENTS_RAW, validation_alias="TALLY_EVENTS_TOPIC")
    directory_topic: str = Field(default=topics.TENANTS, validation_alias="TALLY_DIRECTORY_TOPIC")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    """Largest request body accepted, after decompression."""
    max_batch_events: int = Field(default=5000, ge=1)
    """Most events accepted in one request."""
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long to wait for Kafka's acknowledgement before answering 503."""
    max_event_age_days: float = Field(default=30, gt=0)
    """Oldest event timestamp accepted, in days before now (match the raw retention)."""
    max_clock_skew_seconds: float = Field(default=3600, ge=0)
    """How far in the future an event timestamp may be (client clocks run fast)."""
    rate_limit_per_second: float = Field(default=20_000.0, gt=0)
    """Events per second accepted per tenant and ingest instance, unless the tenant sets its own."""
    rate_burst_seconds: float = Field(default=2.0, gt=0)
    """How many seconds of the rate a tenant may send at once."""
    admin_writes_per_second: float = Field(default=5.0, gt=0, le=10_000)
    """Admin writes (tenant puts, key creations and revocations) per second per admin key and instance."""
    admin_write_burst: int = Field(default=20, ge=1, le=100_000)
    """How many admin writes a key may make at once."""
    record_max_events: int = Field(default=records.DEFAULT_RECORD_EVENTS, ge=1, le=records.MAX_EVENTS_PER_RECORD)
    """Most events published in one Kafka record; a larger request becomes several records."""
    record_max_bytes: int = Field(default=records.DEFAULT_RECORD_BYTES, ge=1024, le=768 * 1024)
    """Most bytes of events in one Kafka record (before compression); a larger request becomes several records."""
