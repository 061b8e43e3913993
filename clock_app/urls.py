"""``path("clock/", include("clock_app.urls"))`` — JSON endpoints over the facades (see ``views.py``).

The last route catches every other path under the prefix, so an unknown URL is a ``404 not_found`` envelope
too (``http_errors.not_found``), whatever the host's ``handler404``."""

from django.urls import path, re_path

from . import views
from .http_errors import not_found

app_name = "clock_app"

urlpatterns = [
    path("init/", views.init, name="init"),
    path("summary/", views.summary, name="summary"),
    path("prepay/", views.prepay, name="prepay"),
    path("notify/", views.payment_notify, name="notify"),
    path("refund-notify/", views.transfer_notify, name="refund_notify"),
    path("transfer-notify/", views.transfer_notify, name="transfer_notify"),
    path("check/", views.check, name="check"),
    path("clock/", views.clock_in, name="clock"),
    path("red/", views.open_red, name="open_red"),
    path("remind/", views.remind, name="remind"),
    path("toast/", views.toast, name="toast"),
    path("information/", views.information, name="information"),
    path("money-log/", views.money_log, name="money_log"),
    path("yesterday/", views.yesterday, name="yesterday"),
    path("talents/", views.talents, name="talents"),
    path("records/", views.records, name="records"),
    path("rounds/<str:day>/statement/", views.statement, name="statement"),
    path("rounds/<str:day>/statement.jsonl", views.statement_file, name="statement_file"),
    path("schema/", views.schema, name="schema"),
    re_path(r"", not_found, name="not_found"),
]
