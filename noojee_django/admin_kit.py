"""The admin kit: dial, record and the recordings on any ``ModelAdmin``'s change page.

Many CRMs live in the admin. :class:`NoojeeAdminMixin` puts on a record's change page what the
template tags put on a CRM page: the call bar, a dial button per phone number, the record button and
the recordings with their players and legs picture. It renders the tags' own partials with the
contexts the tags compute, so the permission hooks decide exactly as they do on any other page.

The panel goes in the ``content`` block of whatever template the admin would have rendered (its own
``change_form_template``, an ``admin/<app>/<model>/change_form.html`` override, the site's), before
that block's content: outside the admin's ``<form>``, since the panel's buttons are forms of their own
and HTML forms do not nest. Inlines are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import label_for_field, lookup_field
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.template import Context
from django.template.loader import get_template, render_to_string, select_template
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

from .templatetags.noojee import (
    CALL_STATUS_TEMPLATE,
    DIAL_BUTTON_TEMPLATE,
    RECORD_BUTTON_TEMPLATE,
    RECORDINGS_TEMPLATE,
    noojee_call_status,
    noojee_dial_button,
    noojee_record_button,
    noojee_recordings,
)

__all__ = ["AdminPanel", "DialControl", "NoojeeAdminMixin"]

#: Extends the template the admin chose (``noojee_base_template``) and adds the panel and the assets.
CHANGE_FORM_TEMPLATE = "admin/noojee_django/change_form_with_panel.html"

if TYPE_CHECKING:
    _ModelAdminBase = admin.ModelAdmin[Any]
else:
    _ModelAdminBase = object

#: What a phone field or the record tag may be named by: like a ``list_display`` entry.
FieldName = str | Callable[[Any], Any]


@dataclass(frozen=True)
class DialControl:
    label: str
    button: SafeString


@dataclass(frozen=True)
class AdminPanel:
    """What one user may do and hear on one record's change page; empty pieces are left out."""

    dials: list[DialControl] = field(default_factory=list)
    record: SafeString | None = None
    recordings: SafeString | None = None
    call_status: SafeString | None = None

    @property
    def has_controls(self) -> bool:
        return bool(self.dials or self.record)

    def __bool__(self) -> bool:
        return self.has_controls or self.recordings is not None


def _render(template_name: str, context: dict[str, Any], request: HttpRequest) -> SafeString:
    """A partial rendered as its inclusion tag renders it (the request gives ``{% csrf_token %}``)."""
    return SafeString(render_to_string(template_name, context, request))


def _resolved(template: Any) -> Any:
    """The template a response would render, as ``{% extends %}`` takes it."""
    if isinstance(template, str):
        return get_template(template)
    if isinstance(template, list | tuple):
        return select_template(template)
    return template  # already a template


class NoojeeAdminMixin(_ModelAdminBase):
    """Dial, record and hear on a CRM record's change page. Put it first in the bases::

        class InvoiceAdmin(NoojeeAdminMixin, admin.ModelAdmin):
            noojee_phone_fields = ["customer__phone"]
            noojee_record_tag = "number"

    ``noojee_phone_fields`` and ``noojee_record_tag`` name a model field (across relations too), an
    attribute or method of the record, a method of the admin taking the record, or a callable: what
    ``list_display`` takes. A user the ``MAY_DIAL``, ``MAY_RECORD`` or ``MAY_HEAR`` hook refuses, or
    without a phone, sees none of that control; a user who may do none of it sees no panel. The add
    page and popups have none.
    """

    noojee_phone_fields: Sequence[FieldName] = ()
    noojee_record_tag: FieldName | None = None
    noojee_show_recordings: bool = True

    def noojee_panel(self, request: HttpRequest, obj: Any) -> AdminPanel:
        """What ``request.user`` may do and hear on ``obj``'s page: the template tags' decisions."""
        tag_context = Context({"request": request, "user": request.user})
        dials = []
        for name in self.noojee_phone_fields:
            button = noojee_dial_button(tag_context, lookup_field(name, obj, self)[2], obj)
            if button["can_dial"]:
                label = " ".join(str(label_for_field(name, self.model, self)).split())
                dials.append(DialControl(label, _render(DIAL_BUTTON_TEMPLATE, button, request)))
        record = None
        if self.noojee_record_tag is not None:
            tag = lookup_field(self.noojee_record_tag, obj, self)[2]
            record_button = noojee_record_button(tag_context, obj, tag)
            if record_button["can_record"]:
                record = _render(RECORD_BUTTON_TEMPLATE, record_button, request)
        recordings = None
        if self.noojee_show_recordings:
            listing = noojee_recordings(tag_context, obj)
            if listing["may_hear"]:
                recordings = _render(RECORDINGS_TEMPLATE, listing, request)
        call_status = None
        if dials or record:
            call_status = _render(CALL_STATUS_TEMPLATE, noojee_call_status(tag_context), request)
        return AdminPanel(dials=dials, record=record, recordings=recordings, call_status=call_status)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        response = super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
        if add or not change or obj is None or context.get("is_popup"):
            return response
        if not isinstance(response, TemplateResponse) or response.is_rendered:
            return response
        panel = self.noojee_panel(request, obj)
        if not panel:
            return response
        response.context_data = {
            **(response.context_data or {}),
            "noojee_panel": panel,
            "noojee_base_template": _resolved(response.template_name),
        }
        response.template_name = CHANGE_FORM_TEMPLATE
        return response

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_noojee_names()]

    def _check_noojee_names(self) -> list[checks.CheckMessage]:
        """A misspelt phone field or tag is found by ``manage.py check``, not by the first agent."""
        names = [("noojee_phone_fields", name) for name in self.noojee_phone_fields]
        if self.noojee_record_tag is not None:
            names.append(("noojee_record_tag", self.noojee_record_tag))
        errors: list[checks.CheckMessage] = []
        for attribute, name in names:
            if callable(name):
                continue
            try:
                label_for_field(name, self.model, self)
            except (AttributeError, FieldDoesNotExist):
                errors.append(
                    checks.Error(
                        f"{attribute} names {name!r}, which is not a callable, an attribute of "
                        f"{type(self).__name__}, or an attribute, method or field of "
                        f"{self.model._meta.label}.",
                        obj=type(self),
                        id="noojee.E101",
                    )
                )
        return errors
