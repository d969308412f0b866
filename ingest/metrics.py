"""Prometheus metrics of the ingest service (one registry per app, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tally_ingest_requests",
            "Ingest requests by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "tally_ingest_events_accepted", "Events acknowledged by Kafka.", ["source"], registry=self.registry
        )
        self.rejected = Counter(
            "tally_ingest_events_rejected",
            "Events refused, by reason (invalid, forbidden, rate_limited, unavailable, too_large).",
            ["reason"],
            registry=self.registry,
        )
        self.skipped_spans = Counter(
            "tally_ingest_otlp_spans_skipped", "OTLP spans without GenAI attributes.", registry=self.registry
        )
        self.body_bytes = Counter(
            "tally_ingest_body_bytes",
            "Request body bytes received (as sent, before decompression).",
            ["route"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tally_ingest_request_seconds",
            "Time to answer an ingest request (validation + Kafka acknowledgement).",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
