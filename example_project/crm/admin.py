from django.contrib import admin

from noojee_django.admin import DialActionMixin, NoojeeAdminMixin, RecordingTagInline

from .models import Customer, Invoice


@admin.register(Customer)
class CustomerAdmin(NoojeeAdminMixin, DialActionMixin, admin.ModelAdmin):
    list_display = ["name", "phone", "pbx"]
    list_filter = ["pbx"]
    search_fields = ["name", "phone"]
    noojee_phone_field = "phone"  # the changelist's Dial action
    noojee_phone_fields = ["phone"]  # the change page's dial button


@admin.register(Invoice)
class InvoiceAdmin(NoojeeAdminMixin, admin.ModelAdmin):
    list_display = ["number", "customer", "amount", "status"]
    list_filter = ["status"]
    search_fields = ["number", "customer__name"]
    list_select_related = ["customer"]
    inlines = [RecordingTagInline]
    noojee_phone_fields = ["customer__phone"]
    noojee_record_tag = "number"
    noojee_show_recordings = True
