"""``{% legs_timeline recording_tag as timeline %}``: the layout behind the legs picture."""

from __future__ import annotations

from django import template

from ..models import RecordingTag
from ..timeline import Timeline, legs_timeline

register = template.Library()


@register.simple_tag(name="legs_timeline")
def legs_timeline_tag(recording_tag: RecordingTag) -> Timeline:
    return legs_timeline(recording_tag)
