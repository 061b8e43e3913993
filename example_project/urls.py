from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import demo

urlpatterns = [
    path("", demo.challenge, name="challenge"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("demo/login/", demo.demo_login, name="demo_login"),
    path("demo/logout/", demo.demo_logout, name="demo_logout"),
    path("rounds/<str:day>/", demo.round_page, name="round_page"),
    path("admin/", admin.site.urls),
    path("api/clock/", include("clock_app.urls")),
]
