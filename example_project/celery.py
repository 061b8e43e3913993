"""The example project's Celery app: ``celery -A example_project worker`` / ``celery -A example_project beat``.

The clock_app beat schedule is opt-in: set ``CLOCK_BEAT=1`` in the environment of the beat process
(``CLOCK_REMINDERS=1`` too, to send the check-in and owed-packet reminders).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def add_clock_schedule(sender, **kwargs):
    if os.environ.get("CLOCK_BEAT") == "1":
        from clock_app.schedules import beat_schedule

        sender.conf.beat_schedule.update(beat_schedule(reminders=os.environ.get("CLOCK_REMINDERS") == "1"))
