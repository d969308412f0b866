"""Deployment: the local Kafka broker, the combined process, the dev stack and demo traffic."""
