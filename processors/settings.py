"""Settings of the worker role."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import topics
from tenancy.replication import KafkaReplicationSettings


class WorkerSettings(KafkaReplicationSettings):
    """How the stream worker connects and batches."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, host:port[,host:port]."""
    events_topic: str = topics.EVENTS_RAW
    """Topic of validated events, keyed by tenant."""
    dlq_topic: str = topics.EVENTS_DLQ
    """Topic for records the worker cannot process."""
    directory_topic: str = topics.TENANTS
    """Topic of the tenant directory (tenants' own prices)."""
    worker_group: str = "tallystream-worker"
    """Consumer group (Faust app id) of the workers."""
    topic_partitions: int = Field(default=topics.DEFAULT_PARTITIONS, ge=1)
    """Partitions of the event topics."""
    batch_max: int = Field(default=20_000, ge=1)
    """Most events handled and written to the warehouse in one insert (whole records: a batch record
    holding more goes alone). Inserts have a fixed cost per part written: 20,000 events per batch cost
    a quarter of 5,000's per event (bench/step.py); a quiet topic still goes out every `batch_seconds`."""
    batch_max_records: int = Field(default=500, ge=1)
    """Most records taken from the topic at once (a batch record holds up to 1,000 events from ingest);
    what is taken is handled in batches of at most `batch_max` events."""
    batch_seconds: float = Field(default=0.25, gt=0)
    """Longest time a record waits in a batch before it is written. End to end at ~11k events/s
    (`bench/e2e.py`), freshness p95 was 2.4 s at 0.5, 1.2 s at 0.25 and 2.0 s at 0.1 (each batch has
    fixed costs); full-speed batches fill their records long before it."""
    allowed_lateness_seconds: float = Field(default=7200, ge=0)
    """An event this much later than its timestamp (by its Kafka timestamp) still updates its windows;
    later ones are stored raw and counted as late (reconcile corrects their windows)."""
    session_timeout_seconds: float = Field(default=10.0, ge=3)
    """How long the group waits for a silent worker before moving its partitions to the others."""
    worker_path: Literal["rows", "columnar"] = "columnar"
    """How a batch is computed: "columnar" (processors.columnar_batch: msgspec decode, polars frames,
    vectorised prices, Arrow inserts, batch records' rollups straight from one group-by) or "rows"
    (processors.pipeline.BatchHandler, one dict per event: the reference); both store the same rows,
    rollups and dead letters (tests/unit/test_columnar_batch.py)."""
    range_span: int = Field(default=5000, ge=1)
    """Offsets per range: acks wait for a whole range, and a restart re-reads at most this many per partition."""
    alert_rules_topic: str = topics.ALERT_RULES
    """Topic of alert rules, default channels, acknowledgements and silences."""
    alert_state_topic: str = topics.ALERT_STATE
    """Topic the alert engine records its evaluations to (and the deliverer reads)."""
    alert_delivery_group: str = "tallystream-alert-delivery"
    """Consumer group of the deliverers."""
    alert_interval_seconds: float = Field(default=0.5, gt=0)
    """How often the leader evaluates every rule."""
    data_dir: Path = Path("var/faust")
    """Faust's local data folder."""
    log_level: str = "info"


class PricingSettings(BaseSettings):
    """How much the worker remembers about model names (`PriceBook`): bounded, whatever tenants send."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore")

    unknown_models_per_tenant: int = Field(default=100, ge=1, le=100_000)
    """Distinct unknown models a tenant's calls are stored under; calls of further unknown models are stored
    under the model "(other unknown models)", still unpriced (counted in tally_worker_unknown_models_bucketed)."""
    price_cache_size: int = Field(default=4096, ge=16, le=1_000_000)
    """(provider, model) price lookups kept (least recently used dropped first)."""
    pricing_tenants_tracked: int = Field(default=20_000, ge=1, le=10_000_000)
    """Tenants whose distinct unknown models are remembered (least recently seen dropped first)."""
