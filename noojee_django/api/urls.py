"""The API's routes, under the app's namespace (``noojee:api-call-list``, ``noojee:api-schema``,
``noojee:api-docs`` ...)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.APIRootView = views.APIRootView
router.register("calls", views.CallViewSet, basename="api-call")
router.register("recordings", views.RecordingViewSet, basename="api-recording")
router.register("legs", views.RecordingLegViewSet, basename="api-leg")

urlpatterns = [
    path("schema/", views.SchemaView.as_view(), name="api-schema"),
    path("docs/", views.APIDocsView.as_view(), name="api-docs"),
    *router.urls,
]
