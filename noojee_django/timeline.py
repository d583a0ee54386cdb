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

#: The narrowest bar drawn, in percent of the axis, so that a one-second leg of a long call stays visible.
MIN_BAR_PERCENT = 0.5


@dataclass(frozen=True)
class LegBar:
    """One leg on the axis. Percentages are of the whole call, from the start of its earliest leg."""

    leg: RecordingLeg
    offset_seconds: float
    duration_seconds: float
    left_percent: float
    width_percent: float
    #: Unrecorded time between the end of the legs before this one and its start (0 when none).
    gap_before_seconds: float = 0.0
    gap_left_percent: float = 0.0
    gap_width_percent: float = 0.0


@dataclass(frozen=True)
class Timeline:
    bars: list[LegBar] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def gaps(self) -> list[LegBar]:
        return [bar for bar in self.bars if bar.gap_before_seconds]

    @property
    def gap_seconds(self) -> float:
        return round(sum(bar.gap_before_seconds for bar in self.bars), 1)


def _percent(seconds: float, total: float) -> float:
    return round(100 * seconds / total, 2)


def legs_timeline(recording_tag: RecordingTag, legs: Iterable[RecordingLeg] | None = None) -> Timeline:
    """Lay out the legs; uses ``recording_tag.legs.all()`` (prefetch it for lists) unless given legs.

    A leg's position is its start relative to the earliest leg's start; a leg the PBX gave no start
    follows the one before it. Its width is the duration measured from the audio when fetched (the
    PBX rounds to whole seconds), else the PBX's.
    """
    ordered = sorted(
        legs if legs is not None else recording_tag.legs.all(), key=lambda leg: (leg.leg, leg.call_record_id)
    )
    if not ordered:
        return Timeline()
    starts = [leg.start for leg in ordered if leg.start is not None]
    origin = min(starts) if starts else None
    spans: list[tuple[RecordingLeg, float, float]] = []
    running = 0.0
    for leg in ordered:
        if origin is not None and leg.start is not None:
            offset = (leg.start - origin).total_seconds()
        else:
            offset = running
        duration = max(0.0, float(leg.measured_duration or leg.duration or 0))
        spans.append((leg, offset, duration))
        running = offset + duration
    total = max(offset + duration for _, offset, duration in spans) or 1.0
    bars = []
    covered_until = 0.0
    for leg, offset, duration in spans:
        gap = offset - covered_until
        shown_gap = round(gap, 1) if gap >= GAP_THRESHOLD_SECONDS else 0.0
        width = max(_percent(duration, total), MIN_BAR_PERCENT)
        bars.append(
            LegBar(
                leg=leg,
                offset_seconds=offset,
                duration_seconds=duration,
                left_percent=min(
                    _percent(offset, total), round(100 - width, 2)
                ),  # a sliver stays on the axis
                width_percent=width,
                gap_before_seconds=shown_gap,
                gap_left_percent=_percent(covered_until, total) if shown_gap else 0.0,
                gap_width_percent=_percent(gap, total) if shown_gap else 0.0,
            )
        )
        covered_until = max(covered_until, offset + duration)
    return Timeline(bars=bars, total_seconds=total)
