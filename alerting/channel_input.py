"""Channels as clients send them -> channels to save: new ones get an id, `keep` references take the
saved channel (secrets included) unchanged, so a client that only ever saw masked values can edit a
rule without re-entering its secrets."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from alerting.limits import AlertLimits
from schemas.alerts import (
    Channel,
    ChannelIn,
    EmailChannel,
    KeepChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)


class ChannelInputError(ValueError):
    """A channel the client sent cannot be saved; `field` is its location in the body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def new_channel_id() -> str:
    return f"ch_{secrets.token_hex(6)}"


_STORED: dict[str, type[Channel]] = {
    "webhook": WebhookChannel, "slack": SlackChannel, "email": EmailChannel, "pagerduty": PagerDutyChannel,
}  # fmt: skip


def _stored(channel: Channel, channel_id: str) -> Channel:
    """The saved form of a channel a client sent (its `…In` class checks URLs; records use the base class)."""
    return _STORED[channel.kind].model_validate({**channel.model_dump(), "id": channel_id})


def resolve_channels(incoming: Sequence[ChannelIn], saved: Sequence[Channel], limits: AlertLimits) -> list[Channel]:
    """The channels to save: `keep` looks `id` up in `saved` (the rule's channels, the tenant's defaults)."""
    by_id = {c.id: c for c in saved}
    out: list[Channel] = []
    for i, channel in enumerate(incoming):
        if isinstance(channel, KeepChannel):
            kept = by_id.get(channel.id)
            if kept is None:
                raise ChannelInputError(f"channels.{i}.id", f"no saved channel {channel.id!r} to keep")
            if any(c.id == kept.id for c in out):
                raise ChannelInputError(f"channels.{i}.id", f"channel {channel.id!r} is kept twice")
            out.append(kept)
            continue
        if isinstance(channel, EmailChannel) and len(channel.to) > limits.max_recipients:
            raise ChannelInputError(
                f"channels.{i}.to",
                f"at most {limits.max_recipients} recipients per email channel (TALLY_ALERT_MAX_RECIPIENTS)",
            )
        out.append(_stored(channel, new_channel_id()))
    return out
