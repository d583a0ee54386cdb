"""The picture of a recorded call: its legs as bars on a time axis, with the gaps between them.

A leg starts when the call changes hands (answered, transferred, queued...), and when a secure pause
ends; the PBX gives each leg's start and duration. Laid side by side, the bars show an operator at a
glance whether a signature is complete or whether part of the call was not recorded, and which gaps
are the agent's pauses (:func:`pause_marks`, which the signature's join marks too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .models import RecordingLeg, RecordingPause, RecordingTag

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
    #: The agent's pause that made the gap before this leg (its length on the app's clock), if any.
    pause: RecordingPause | None = None


@dataclass(frozen=True)
class Timeline:
    bars: list[LegBar] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def gaps(self) -> list[LegBar]:
        return [bar for bar in self.bars if bar.gap_before_seconds]

    @property
    def pauses(self) -> list[LegBar]:
        return [bar for bar in self.bars if bar.pause is not None]

    @property
    def gap_seconds(self) -> float:
        return round(sum(bar.gap_before_seconds for bar in self.bars), 1)


def _percent(seconds: float, total: float) -> float:
    return round(100 * seconds / total, 2)


def _since(leg: RecordingLeg, origin: dt.datetime) -> float:
    return (leg.start - origin).total_seconds() if leg.start is not None else 0.0


def pause_marks(recording_tag: RecordingTag, legs: Sequence[RecordingLeg]) -> dict[int, RecordingPause]:
    """Which of the recording's resumed pauses falls after which leg: ``{index in legs: pause}``.

    A resume starts a new leg of the same call, so each pause sits at a boundary between two legs of
    one call. The clocks differ (the PBX's against the app's), so times are compared relative to the
    recording's start on each: the pause's end after ``started_at`` against the next leg's start after
    the first leg's. Each pause takes the nearest boundary not taken, in order; without leg starts,
    the pauses take the boundaries in order.
    """
    boundaries = [
        index
        for index in range(len(legs) - 1)
        if legs[index].unique_id == legs[index + 1].unique_id
        and (not recording_tag.unique_id or legs[index].unique_id == recording_tag.unique_id)
    ]
    if not boundaries:
        return {}
    pauses = [
        pause
        for pause in recording_tag.pauses.all()  # prefetched by recordings_for and the API
        if pause.ended_at is not None
        and pause.ended_how in (RecordingPause.Ending.RESUMED, RecordingPause.Ending.RESUMED_AUTOMATICALLY)
    ]
    pauses.sort(key=lambda pause: (pause.started_at, pause.pk))
    if not pauses:
        return {}
    origin = legs[0].start
    if origin is None or any(legs[index + 1].start is None for index in boundaries):
        return dict(zip(boundaries, pauses, strict=False))
    marks: dict[int, RecordingPause] = {}
    free = list(boundaries)
    for pause in pauses:
        if not free:
            break
        assert pause.ended_at is not None
        resumed = (pause.ended_at - recording_tag.started_at).total_seconds()
        chosen = min(free, key=lambda index: abs(_since(legs[index + 1], origin) - resumed))
        marks[chosen] = pause
        free = [index for index in free if index > chosen]
    return marks


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
    marks = pause_marks(recording_tag, ordered) if recording_tag.pk is not None else {}
    bars = []
    covered_until = 0.0
    for index, (leg, offset, duration) in enumerate(spans):
        gap = offset - covered_until
        pause = marks.get(index - 1)
        shown_gap = round(gap, 1) if gap >= GAP_THRESHOLD_SECONDS or (pause and gap > 0) else 0.0
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
                pause=pause,
            )
        )
        covered_until = max(covered_until, offset + duration)
    return Timeline(bars=bars, total_seconds=total)
