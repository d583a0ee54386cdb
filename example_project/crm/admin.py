from django.contrib import admin

from noojee_django.admin import DialActionMixin, RecordingTagInline

from .models import Customer, Invoice


@admin.register(Customer)
class CustomerAdmin(DialActionMixin, admin.ModelAdmin):
    list_display = ["name", "phone"]
    search_fields = ["name", "phone"]
    noojee_phone_field = "phone"


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "amount", "status"]
    list_filter = ["status"]
    search_fields = ["number", "customer__name"]
    list_select_related = ["customer"]
    inlines = [RecordingTagInline]
