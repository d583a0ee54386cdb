from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from noojee_django import connections
from noojee_django.emulator.control import ControlError

from . import demo_pbx
from .models import Customer, Invoice


def _per_pbx() -> bool:
    """Whether each client company's customers are on its own PBX (``Customer.pbx``): the demo's two
    companies. Then a user sees those of the PBXs the app lets them deal with (``USER_PBXES``)."""
    return bool(getattr(settings, "CRM_CUSTOMERS_PER_PBX", False))


def _customers(request: HttpRequest) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    return connections.filter_for(request.user, customers, "pbx") if _per_pbx() else customers


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    customers = _customers(request).prefetch_related("invoices")
    return render(request, "crm/customer_list.html", {"customers": customers})


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(_customers(request), pk=pk)
    return render(request, "crm/customer_detail.html", {"customer": customer})


@login_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoices = Invoice.objects.select_related("customer").filter(customer__in=_customers(request))
    invoice = get_object_or_404(invoices, pk=pk)
    return render(request, "crm/invoice_detail.html", {"invoice": invoice})


class DemoPbxForm(forms.Form):
    hangup_after = forms.IntegerField(min_value=0, max_value=600)


@require_POST
@login_required
def demo_pbx_settings(request: HttpRequest) -> HttpResponse:
    """The demo's "the customer hangs up after N seconds" (0: never), set on the emulated PBX."""
    if not getattr(settings, "DEMO_PBX", False):
        raise Http404("Not running on the demo's emulated PBX.")
    form = DemoPbxForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the seconds as a whole number from 0 to 600.")
    else:
        seconds = form.cleaned_data["hangup_after"]
        try:
            demo_pbx.set_hangup_after(seconds)
        except (ControlError, OSError) as exc:
            messages.error(request, f"The emulated PBX did not take it: {exc}")
        else:
            messages.success(
                request,
                f"The emulated customer now hangs up {seconds} s after answering."
                if seconds
                else "The emulated customer now stays on the line until you hang up.",
            )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return HttpResponseRedirect(back)
