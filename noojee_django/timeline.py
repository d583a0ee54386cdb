"""The picture of a recorded call: its legs as bars on a time axis, with the gaps between them.

A leg starts when the call changes hands (answered, transferred, queued...); the PBX gives each leg's
start and duration. Laid side by side, the bars show an operator at a glance whether a signature is
complete or whether part of the call was not recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .models import RecordingLeg, RecordingTag

#: A pause shorter than this between two legs is the PBX's rounding, not a gap worth showing.
GAP_THRESHOLD_SECONDS = 1.0


@dataclass(frozen=True)
class LegBar:
    leg: RecordingLeg
    offset_seconds: float
    left_percent: float
    width_percent: float
    gap_before_seconds: float


@dataclass(frozen=True)
class Timeline:
    bars: list[LegBar] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def gaps(self) -> list[LegBar]:
        return [bar for bar in self.bars if bar.gap_before_seconds]


def legs_timeline(recording_tag: RecordingTag, legs: Iterable[RecordingLeg] | None = None) -> Timeline:
    """Lay out the legs; uses ``recording_tag.legs.all()`` (prefetch it for lists) unless given legs."""
    ordered = sorted(
        legs if legs is not None else recording_tag.legs.all(), key=lambda leg: (leg.leg, leg.call_record_id)
    )
    if not ordered:
        return Timeline()
    origin = ordered[0].start
    spans: list[tuple[RecordingLeg, float, float]] = []
    running = 0.0
    for leg in ordered:
        if origin is not None and leg.start is not None:
            offset = max(0.0, (leg.start - origin).total_seconds())
        else:
            offset = running
        duration = float(leg.measured_duration or leg.duration or 0)
        spans.append((leg, offset, duration))
        running = offset + duration
    total = max(offset + duration for _, offset, duration in spans) or 1.0
    bars = []
    previous_end = 0.0
    for leg, offset, duration in spans:
        gap = offset - previous_end
        bars.append(
            LegBar(
                leg=leg,
                offset_seconds=offset,
                left_percent=round(100 * offset / total, 2),
                width_percent=round(max(100 * duration / total, 0.5), 2),
                gap_before_seconds=round(gap, 1) if gap >= GAP_THRESHOLD_SECONDS else 0.0,
            )
        )
        previous_end = max(previous_end, offset + duration)
    return Timeline(bars=bars, total_seconds=total)
