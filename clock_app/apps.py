from django.apps import AppConfig


class ClockAppConfig(AppConfig):
    """The early-rise challenge: rounds, stakes, check-ins, red packets and their ledger."""

    name = "clock_app"
    label = "clock_app"
    verbose_name = "Early-rise challenge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .dbfunctions import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="clock_app.sqlite_functions")
