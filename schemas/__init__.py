"""The event contract and storage layout of tallystream.

This package is the bottom layer: every role imports it, and it imports none of ours.
"""

from schemas.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    AnyEvent,
    Event,
    EventBase,
    LlmCall,
    Message,
    parse_event,
    parse_event_json,
)

__all__ = [
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "AnyEvent",
    "Event",
    "EventBase",
    "LlmCall",
    "Message",
    "parse_event",
    "parse_event_json",
]
