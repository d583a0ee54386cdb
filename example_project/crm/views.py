from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Customer, Invoice


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    customers = Customer.objects.prefetch_related("invoices")
    return render(request, "crm/customer_list.html", {"customers": customers})


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    return render(request, "crm/customer_detail.html", {"customer": customer})


@login_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    return render(request, "crm/invoice_detail.html", {"invoice": invoice})
