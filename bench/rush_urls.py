"""URLs of the 05:00-rush benchmark: the app's endpoints plus two baselines (see ``bench/rush_views.py``)."""

from django.urls import include, path

from . import rush_views

urlpatterns = [
    path("api/clock/", include("clock_app.urls")),
    path("bare/", rush_views.bare, name="bare"),
    path("bare-update/", rush_views.bare_update, name="bare_update"),
]
