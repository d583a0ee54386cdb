from __future__ import annotations

from django.db import models
from django.urls import reverse


class Customer(models.Model):
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32)
    #: The client company whose customer this is, named by its PBX connection (``NOOJEE["PBXES"]``):
    #: the CRM's pages show a user the customers of the PBXs they may deal with (``USER_PBXES``).
    pbx = models.CharField("PBX", max_length=64, default="default")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("crm:customer-detail", args=[self.pk])


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        SIGNED = "signed", "Signed"
        PAID = "paid", "Paid"

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invoices")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Invoice {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("crm:invoice-detail", args=[self.pk])
