"""The round dashboard in headless Chromium with JavaScript turned off: a simulated run, then a round in every
payout state; the operator logs in, opens the dashboard, audits the round with its button. The screenshot goes
to the test's temporary directory, or where ``CLOCK_SCREENSHOT_DASHBOARD`` says (``make screenshot`` refreshes
the README's docs/dashboard.png)."""

import os
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command

from clock_app.exceptions import PayoutFailed
from clock_app.models import Player
from clock_app.services.payouts import packet_open
from clock_app.services.reminders import reminders_send
from clock_app.services.settlement import round_settle

from .factories import Channel, clock, join
from .reminders import Recorder, morning
from .test_browser import chrome, wait_for_text

LAST = date(2026, 11, 23)  # the simulation plays 2026-11-20 … 22; this round is played by hand below


def a_round_in_every_state() -> None:
    """60 players; 42 clock in across the window; settled; some packets paid, some awaiting the winner's
    confirmation, some refused by the channel, the rest not opened yet; reminders sent and refused."""
    uids = range(2001, 2061)
    for i, uid in enumerate(uids):
        join(uid, LAST, f"{7 + i % 16:02d}:{(i * 7) % 60:02d}:00")
    Player.objects.filter(uid__in=uids[::3]).update(is_remind=True)
    reminders_send("checkin", day=LAST, now=morning(LAST), handler=Recorder(refuse={2004}))
    for i, uid in enumerate(uids[:42]):
        minute = int(170 * (i / 42) ** 1.6)  # most get up early
        clock(uid, LAST, f"{5 + minute // 60:02d}:{minute % 60:02d}:{i % 60:02d}")
    round_settle(LAST, now=morning(LAST, "08:05:00"))
    confirm = {"result_code": "WAIT_USER_CONFIRM", "confirm": {"mchId": "1900000109", "appId": "wx", "package": "p"}}
    with time_machine.travel(morning(LAST, "09:00:00"), tick=False):
        for uid in uids[:20]:
            packet_open(uid=uid, handler=Channel())
        for uid in uids[20:26]:
            packet_open(uid=uid, handler=Channel(confirm))
        for uid in uids[26:29]:
            with pytest.raises(PayoutFailed):
                packet_open(uid=uid, handler=Channel({"result_code": "FAIL", "err_code": "PAYEE_ACCOUNT_ABNORMAL"}))
    reminders_send("owed", now=morning(LAST, "12:00:00"), handler=Recorder())


def test_the_dashboard_in_chromium_without_javascript(live_server, transactional_db, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    call_command(
        "clock_simulate", "--users", "150", "--days", "3", "--seed", "2", "--start", "2026-11-20", stdout=StringIO()
    )
    a_round_in_every_state()
    User.objects.create_superuser("operator", "operator@example.com", "a-long-password")

    driver = chrome(window=(1280, 1000), javascript=False)
    try:
        driver.get(f"{live_server.url}/admin/login/?next=/admin/clock_app/round/")
        driver.find_element(By.NAME, "username").send_keys("operator")
        driver.find_element(By.NAME, "password").send_keys("a-long-password")
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.LINK_TEXT, "Dashboard of round 2026-11-23")).click()
        assert "not audited yet" in wait_for_text(driver, "verdict", "not audited yet")
        driver.find_element(By.CSS_SELECTOR, "#verdict input[type=submit]").click()  # a POST, then the redirect
        assert "clock_audit: ok" in wait_for_text(driver, "verdict", "clock_audit: ok")
        equation = driver.find_element(By.ID, "equation").text
        assert equation.startswith("stakes 6000 + rollover_in 0 = winners' stakes 4200 + packets ")
        assert "balances" in driver.find_element(By.ID, "money-flow").text
        for chart in ("checkin-chart", "payment-chart", "people-chart", "pot-chart"):
            svg = driver.find_element(By.ID, chart)
            assert svg.size["width"] > 600 and svg.size["height"] > 150, chart
            assert svg.find_elements(By.TAG_NAME, "rect"), chart
        payouts = driver.find_element(By.ID, "payouts").text
        assert "paid 20" in payouts.replace("\n", " ") or "paid\n20" in payouts or " 20 " in payouts
        assert "not run" in driver.find_element(By.ID, "reconciliation-card").text
        reminders = driver.find_element(By.ID, "reminders-card").text
        assert "refused 1" in reminders and "sent" in reminders

        height = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
        driver.set_window_size(1280, int(height) + 160)
        screenshot = Path(os.environ.get("CLOCK_SCREENSHOT_DASHBOARD") or tmp_path / "dashboard.png")
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    assert screenshot.stat().st_size > 30_000
