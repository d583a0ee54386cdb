from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="crm/login.html"), name="login"),
    path("favicon.ico", RedirectView.as_view(url=static("crm/favicon.svg"), permanent=True)),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("noojee/", include("noojee_django.urls")),
    path("", include("example_project.crm.urls")),
]
