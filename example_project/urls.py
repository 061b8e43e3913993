from django.contrib import admin
from django.urls import include, path

from . import demo

urlpatterns = [
    path("", demo.challenge, name="challenge"),
    path("demo/login/", demo.demo_login, name="demo_login"),
    path("demo/logout/", demo.demo_logout, name="demo_logout"),
    path("rounds/<str:day>/", demo.round_page, name="round_page"),
    path("admin/", admin.site.urls),
    path("api/clock/", include("clock_app.urls")),
]
