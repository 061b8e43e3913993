"""A host project that only includes the app's URLs (``path("clock/", include("clock_app.urls"))``) and adds
nothing else — no handler404/500, no CSRF_FAILURE_VIEW: the app's answers must still all be envelopes."""

from django.urls import include, path

urlpatterns = [path("clock/", include("clock_app.urls"))]
