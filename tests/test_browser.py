"""The challenge page in headless Chromium (Debian's chromium + chromium-driver): join → clock in (time moved
by the test) → open the red packet, on a phone-sized screen, with the page saying at each step what the player
can do and until when; and every failure said on the page. Takes a screenshot at the end of the round: into
the test's temporary directory, or where ``CLOCK_SCREENSHOT`` says (``make screenshot`` refreshes the
README's one)."""

import os
import shutil
from datetime import date
from pathlib import Path

import pytest
import time_machine

from clock_app.models import Participation, Player, RedStatus
from clock_app.services.payouts import round_push
from clock_app.services.players import MAX_UID, player_touch

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see a failed load (favicon.ico…)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def wait_for_text(driver, element_id, text, timeout=10):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])
    wait.until(lambda d: text in d.find_element(By.ID, element_id).text)
    return driver.find_element(By.ID, element_id).text


def text_of(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def log_in(driver, url, uid):
    """Type ``uid`` at the demo login and submit it; returns once the answer's page has loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    field = driver.find_element(By.ID, "uid")
    field.clear()
    field.send_keys(uid)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(field))


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
    # Player 7 is known to the app (a simulated player): joining from the page keeps its own profile.
    player_touch(uid=7, nickname="早起鸟7", mobile="13800000007", source_uid="sim-open-7")
    with time_machine.travel(local(DAY, "20:00:00"), tick=True) as traveller:
        log_in(browser, live_server.url, "7")
        wait_for_text(browser, "status-text", "未参与")
        can_join = wait_for_text(browser, "next-step", "截止")
        assert "现在可以支付 ¥1.00 参与第 2026-11-26 轮，今天 23:59:59 截止" in can_join
        assert "Asia/Shanghai" in text_of(browser, "zone") and "现在 20:0" in text_of(browser, "zone")
        browser.find_element(By.ID, "join").click()
        wait_for_text(browser, "message", "已支付")
        assert wait_for_text(browser, "user-num", "8") == "8"
        part = Participation.objects.get(uid=7, clock_day=DAY)
        assert (part.nickname, part.mobile, part.source_uid) == ("早起鸟7", "13800000007", "sim-open-7")
        assert Player.objects.get(uid=7).nickname == "早起鸟7"
        # After joining: the countdown to the packets runs, and the page says why "join" is disabled.
        wait_for_text(browser, "next-step", "明天 05:00–08:00 来打卡")
        assert text_of(browser, "red-time") not in ("", "--:--:--")
        assert not browser.find_element(By.ID, "join").is_enabled()
        assert "你已参与本轮" in text_of(browser, "join-reason")

        traveller.move_to(local("2026-11-27", "06:00:00"))
        browser.refresh()
        wait_for_text(browser, "status-text", "待打卡")
        # During the window: a countdown to 08:00, and what to do before then.
        wait_for_text(browser, "clock-time-label", "距离打卡结束")
        assert text_of(browser, "clock-time").startswith("01:59:")
        assert "现在可以打卡！08:00 截止" in text_of(browser, "next-step")
        browser.find_element(By.ID, "clock-in").click()
        wait_for_text(browser, "message", "打卡成功")
        wait_for_text(browser, "next-step", "已打卡！08:05 开奖")

        traveller.move_to(local("2026-11-27", "08:06:00"))
        browser.refresh()
        # After 08:05 the page shows today's round, and says a packet waits from yesterday's.
        wait_for_text(browser, "next-step", "你在第 2026-11-26 轮打卡成功，红包待领取")
        browser.find_element(By.ID, "open-red").click()
        if confirmation:
            wait_for_text(browser, "message", "请确认收款")
            assert Participation.objects.get(uid=7, clock_day=DAY).red_status == RedStatus.AWAITING
            browser.find_element(By.ID, "confirm-transfer").click()
        amount = wait_for_text(browser, "packet", "到账")
        wait_for_text(browser, "next-step", "第 2026-11-26 轮的红包已到账")  # the page caught up with the payment
        part = Participation.objects.get(uid=7, clock_day=DAY)
        assert part.red_status == RedStatus.PAID
        assert amount.endswith(f"{part.clock_money / 100:.2f}")
        # The README's screenshot (make screenshot) is the WeChat-like run's.
        screenshot = Path((os.environ.get("CLOCK_SCREENSHOT") if confirmation else None) or tmp_path / "page.png")
        browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    failed_loads = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not failed_loads  # no favicon.ico 404, no script error

    # Yesterday's statement page: money in yuan, the back link off the screen's edge, nothing wider than a phone.
    browser.get(f"{live_server.url}/rounds/{DAY - date.resolution}/")
    assert "本金 ¥1.00 + 红包 ¥" in text_of(browser, "packets")
    assert browser.execute_script("return document.querySelector('.back a').getBoundingClientRect().left") >= 12
    browser.get(f"{live_server.url}/rounds/{'9' * 3000}/")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390


def test_every_failure_is_said_on_the_page_and_the_page_stays_usable(live_server, browser, transactional_db):
    """A login that is not a player number; an answer that is not JSON; a refused CSRF token; a player the API
    refuses (uid_invalid): each is said on the page, and the next try works."""
    from django.conf import settings as django_settings
    from django.contrib.sessions.backends.db import SessionStore
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with time_machine.travel(local(DAY, "20:00:00"), tick=True):
        for typed, said in [("0", "从 1 开始"), ("abc", "应为整数"), ("1.5", "应为整数"), ("9" * 20, "太大")]:
            log_in(browser, live_server.url, typed)
            assert said in wait_for_text(browser, "login-error", said)
        log_in(browser, live_server.url, "7")
        wait_for_text(browser, "status-text", "未参与")

        # The API answers something that is not JSON (a proxy's error page, say): said, not swallowed.
        browser.execute_script("window.CLOCK_API = '/no-such-api/';")
        browser.find_element(By.ID, "join").click()
        wait_for_text(browser, "message", "无法识别的应答（HTTP 404）")
        browser.execute_script("window.CLOCK_API = '/api/clock/';")

        # No CSRF cookie any more: the refusal is said; the next summary hands out a new cookie.
        wait_for_text(browser, "next-step", "现在可以支付")  # the page refreshed with the API back
        # ... and no refresh is still running (its summary would hand out a new cookie at once).
        WebDriverWait(browser, 10).until(lambda d: d.execute_script("return !document.body.dataset.refreshing"))
        browser.delete_cookie("csrftoken")
        browser.find_element(By.ID, "join").click()
        wait_for_text(browser, "message", "CSRF 校验失败")
        WebDriverWait(browser, 10).until(lambda d: d.get_cookie("csrftoken"))  # handed out by the next summary
        browser.find_element(By.ID, "join").click()
        wait_for_text(browser, "message", "已支付")
        assert Participation.objects.filter(uid=7, clock_day=DAY).exists()

        # A player the API refuses: the message, not "状态 …" and blank timers.
        session = SessionStore()
        session["demo_uid"] = MAX_UID + 1
        session.create()
        browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "path": "/"})
        browser.get(live_server.url + "/")
        wait_for_text(browser, "notice", "用户ID无效")
        assert wait_for_text(browser, "status-text", "无法获取") == "无法获取"
        # The round's countdowns still run (the page asks for the visitor's summary after the refusal).
        WebDriverWait(browser, 10).until(lambda d: text_of(d, "zero-time") not in ("", "--:--:--"))
