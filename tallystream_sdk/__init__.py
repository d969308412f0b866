"""tallystream Python SDK: send chat and LLM usage events to the tallystream ingest API.

    from tallystream_sdk import Client

    client = Client("https://ingest.example.com", api_key="...", tenant_id="acme")
    client.llm_call("openai", "gpt-4o-mini", latency_ms=420, input_tokens=1200, output_tokens=300)
    client.message("s-1", "user", content_chars=42)
    client.close()

`Client` sends from a daemon thread, `AsyncClient` from an asyncio task. Provider helpers live in
`tallystream_sdk.providers`; the LangChain handler in `tallystream_sdk.langchain` (needs the
`langchain` extra, so it is not imported here).
"""

from schemas.events import (
    AnyEvent,
    Conversion,
    CustomEvent,
    Feedback,
    LlmCall,
    Message,
    ProductEvent,
    Search,
    SessionEnded,
    SessionStarted,
    ToolCall,
)
from tallystream_sdk._core import BaseFields, EventFields, Failure, Stats
from tallystream_sdk._delivery import RetryPolicy
from tallystream_sdk.async_client import AsyncClient
from tallystream_sdk.client import Client
from tallystream_sdk.providers import from_anthropic, from_groq, from_openai, whisper

__version__ = "0.1.0"

__all__ = [
    "AnyEvent",
    "AsyncClient",
    "BaseFields",
    "Client",
    "Conversion",
    "CustomEvent",
    "EventFields",
    "Failure",
    "Feedback",
    "LlmCall",
    "Message",
    "ProductEvent",
    "RetryPolicy",
    "Search",
    "SessionEnded",
    "SessionStarted",
    "Stats",
    "ToolCall",
    "__version__",
    "from_anthropic",
    "from_groq",
    "from_openai",
    "whisper",
]
