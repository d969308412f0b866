"""The ingest role: HTTP in, validated events out to Kafka, acknowledged only once durable."""
