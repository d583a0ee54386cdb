from django.urls import path

from . import views

app_name = "crm"
urlpatterns = [
    path("", views.customer_list, name="customer-list"),
    path("customers/<int:pk>/", views.customer_detail, name="customer-detail"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice-detail"),
    path("demo-pbx/", views.demo_pbx_settings, name="demo-pbx"),
]
