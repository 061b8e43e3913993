"""The challenge page in headless Chromium (Debian's chromium + chromium-driver): join → clock in (time moved
by the test) → open the red packet, on a phone-sized screen. Takes a screenshot at the end: into the test's
temporary directory, or where ``CLOCK_SCREENSHOT`` says (``make screenshot`` refreshes the README's one)."""

import os
import shutil
from datetime import date
from pathlib import Path

import pytest
import time_machine

from clock_app.models import Participation, RedStatus
from clock_app.services.payouts import round_push

from .conftest import local, require
from .factories import Channel, join, play_round

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DAY = date(2026, 11, 26)


def chrome(window: tuple[int, int] | None = None, javascript: bool = True):
    """Headless Chromium: a phone (390 CSS pixels wide, touch, a mobile user agent) unless ``window`` gives a
    desktop window's size; ``javascript=False`` turns scripts off for every page."""
    require(
        bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    if window:
        options.add_argument(f"--window-size={window[0]},{window[1]}")
    else:  # A phone: 390 × 844 CSS pixels (an iPhone 12-14), touch, a mobile user agent.
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 1500, "pixelRatio": 2}}
        )
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def wait_for_text(driver, element_id, text, timeout=10):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.ID, element_id).text)
    return driver.find_element(By.ID, element_id).text


@pytest.mark.parametrize("confirmation", [False, True], ids=["paid-at-once", "confirm-like-wechat"])
def test_join_clock_in_open_red_packet(live_server, browser, transactional_db, tmp_path, settings, confirmation):
    """Paid at once (the seed's channel), or — with the sandbox answering like WeChat's transfer bills — open
    the packet, confirm the transfer on the page, paid."""
    from selenium.webdriver.common.by import By

    channel = settings.CLOCK["PAYMENT_CHANNEL"]
    settings.CLOCK = {**settings.CLOCK, "PAYMENT_CHANNEL": {**channel, "OPTIONS": {"CONFIRM": confirmation}}}

    # Some history for the leaderboards and talents: yesterday's round, settled and paid out.
    play_round(DAY - date.resolution, 6, 4)
    with time_machine.travel(local(DAY, "08:05:00"), tick=False):
        round_push(DAY - date.resolution, handler=Channel())
    for uid in range(101, 108):  # other players of today's round, so there is a pot to split
        join(uid, DAY, "19:00:00")
    with time_machine.travel(local(DAY, "20:00:00"), tick=True) as traveller:
        browser.get(live_server.url + "/")
        browser.find_element(By.ID, "uid").clear()
        browser.find_element(By.ID, "uid").send_keys("7")
        browser.find_element(By.ID, "login").click()
        wait_for_text(browser, "status-text", "未参与")
        browser.find_element(By.ID, "join").click()
        wait_for_text(browser, "message", "已支付")
        assert wait_for_text(browser, "user-num", "8") == "8"
        assert Participation.objects.filter(uid=7, clock_day=DAY).exists()

        traveller.move_to(local("2026-11-27", "06:00:00"))
        browser.refresh()
        wait_for_text(browser, "status-text", "待打卡")
        browser.find_element(By.ID, "clock-in").click()
        wait_for_text(browser, "message", "打卡成功")

        traveller.move_to(local("2026-11-27", "08:06:00"))
        browser.refresh()
        wait_for_text(browser, "status-text", "")
        browser.find_element(By.ID, "open-red").click()
        if confirmation:
            wait_for_text(browser, "message", "请确认收款")
            assert Participation.objects.get(uid=7, clock_day=DAY).red_status == RedStatus.AWAITING
            browser.find_element(By.ID, "confirm-transfer").click()
        amount = wait_for_text(browser, "packet", "到账")
        part = Participation.objects.get(uid=7, clock_day=DAY)
        assert part.red_status == RedStatus.PAID
        assert amount.endswith(f"{part.clock_money / 100:.2f}")
        # The README's screenshot (make screenshot) is the WeChat-like run's.
        screenshot = Path((os.environ.get("CLOCK_SCREENSHOT") if confirmation else None) or tmp_path / "page.png")
        browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
