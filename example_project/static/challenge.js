// The challenge screen: plain fetch() against clock_app's JSON endpoints, no build step.
// Every call that fails says so on the page (a refusal, an answer that is not JSON, no network) and the
// page stays usable; a line under the player's status says what they can do now and until when.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const yuan = (fen) => (Number(fen || 0) / 100).toFixed(2);
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const STATUS = { 0: "未参与", 1: "已参与，待打卡", 2: "已打卡" };
  let left = {}; // seconds to: start and end of the check-in window, red packets (red), end of entry (zero)
  let round = null; // the summary the hero shows (the player's, or everyone's when the player's failed)
  let summary = null; // the player's own summary: what the line under the status is about
  let refreshing = false;
  let refreshAgain = false; // a refresh was asked for while one ran

  function failed(message, code) {
    return { status: 0, message, code, data: {} };
  }

  // One call to the API; always resolves to an envelope, whatever went wrong on the way.
  async function api(path, method = "GET") {
    let response;
    try {
      response = await fetch(window.CLOCK_API + path, {
        method,
        credentials: "same-origin",
        headers: method === "POST" ? { "X-CSRFToken": csrf() } : {},
      });
    } catch (error) {
      return failed("网络连接失败，请检查网络后重试", "network_error");
    }
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) {
      return failed(`服务器返回了无法识别的应答（HTTP ${response.status}），请刷新页面后重试`, "bad_response");
    }
    try {
      return await response.json();
    } catch (error) {
      return failed(`服务器的应答不完整（HTTP ${response.status}），请刷新页面后重试`, "bad_response");
    }
  }

  // A failure of something the page loads by itself: said at the top, until the next success.
  function notice(envelope) {
    const box = $("notice");
    if (envelope.status === 1) {
      box.hidden = true;
      box.textContent = "";
    } else {
      box.hidden = false;
      box.textContent = envelope.message || "请求失败，请稍后重试";
    }
  }

  // The answer to something the player did: said under the buttons.
  function say(envelope, okText) {
    const box = $("message");
    if (!box) return notice(envelope);
    box.textContent = envelope.status === 1 ? okText : envelope.message || "操作失败，请稍后重试";
    box.className = "message " + (envelope.status === 1 ? "ok" : "err");
  }

  function hms(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }
  const countdown = (seconds) => (seconds > 0 ? hms(seconds) : "--:--:--");

  function show() {
    const s = round;
    if (!s) return;
    const windowOpen = left.start <= 0 && left.end > 0;
    $("clock-time").textContent = countdown(windowOpen ? left.end : left.start);
    $("clock-time-label").textContent = windowOpen ? "距离打卡结束" : "距离打卡开始";
    $("red-time").textContent = countdown(left.red);
    $("zero-time").textContent = s.is_start === 1 ? countdown(left.zero) : "--:--:--";
    $("zero-time-label").textContent = s.is_start === 1 ? "距离报名截止" : `${s.red_open} 开放报名`;
    if (summary) renderNextStep();
  }

  function tick() {
    let reached = false; // a moment the state changes (05:00, 08:00, 08:05, midnight): ask the server again
    for (const name of Object.keys(left)) {
      if (left[name] === 1) reached = true;
      left[name] = Math.max(0, left[name] - 1);
    }
    show();
    if (reached) setTimeout(refreshAll, 1500);
  }

  // --- what the player can do now, and until when --------------------------------------------------
  let yesterday = null; // the player's part in yesterday's round (for a packet that waits after 08:05)

  function renderNextStep() {
    const s = summary;
    const box = $("next-step");
    if (!box) return;
    const [start, end] = s.clock_window.split("–");
    const stake = `¥${yuan(s.participate_money)}`;
    const lines = [];
    let join = false;
    let joinReason = "";
    let clockIn = false;
    let openRed = false;
    if (s.is_start === 0) {
      // Shown yesterday's round: the player is in it, and today's entry opens at 08:05.
      joinReason = `你已参与第 ${s.clock_day} 轮，今天 ${s.red_open} 开奖后才能参与新一轮`;
      if (s.clock_status === 2) {
        lines.push(`已打卡！${s.red_open} 开奖（还有 ${hms(left.red)}），届时来拆红包。`);
      } else if (left.start > 0) {
        lines.push(`已参与第 ${s.clock_day} 轮：今天 ${start}–${end} 打卡（还有 ${hms(left.start)} 开始）。`);
      } else if (left.end > 0) {
        lines.push(`现在可以打卡！${end} 截止，还剩 ${hms(left.end)}。`);
        clockIn = true;
      } else {
        lines.push(`你错过了今天 ${start}–${end} 的打卡，本金归入奖池。${s.red_open} 后可以参与新一轮。`);
      }
    } else {
      const y = yesterday;
      if (y && y.clock_status === 2 && y.red_status !== 2) {
        const what = {
          1: `你在第 ${y.clock_day} 轮打卡成功，红包待领取：今天 23:59 前点「拆红包」，之后系统会自动打款。`,
          3: `第 ${y.clock_day} 轮的红包发放中，稍后到账。`,
          4: `第 ${y.clock_day} 轮的红包发放未成功，可以再点「拆红包」，系统也会自动重试。`,
          5: `第 ${y.clock_day} 轮的红包已发出，待你确认收款：点「拆红包」再确认。`,
        }[y.red_status];
        if (what) lines.push(what);
        openRed = y.red_status !== 3;
      } else if (y && y.clock_status === 2) {
        lines.push(`第 ${y.clock_day} 轮的红包已到账。`);
      } else if (y && y.clock_status === 1) {
        lines.push(`第 ${y.clock_day} 轮你没有按时打卡，本金归入了奖池。`);
      }
      if (s.clock_status === 0) {
        lines.push(`现在可以支付 ${stake} 参与第 ${s.clock_day} 轮，今天 23:59:59 截止（还剩 ${hms(left.zero)}）；明天 ${start}–${end} 打卡。`);
        join = true;
      } else {
        lines.push(`已参与第 ${s.clock_day} 轮：明天 ${start}–${end} 来打卡（还有 ${hms(left.start)}）。`);
        joinReason = "你已参与本轮，明天打卡后可参与下一轮";
      }
    }
    box.textContent = lines.join(" ");
    $("join").disabled = !join;
    $("join").textContent = `支付 ${stake} 参与挑战`;
    $("join-reason").hidden = join || !joinReason;
    $("join-reason").textContent = join ? "" : joinReason;
    $("clock-in").disabled = !clockIn;
    $("clock-in").textContent = `早起打卡（${start}–${end}）`;
    $("open-red").disabled = !openRed;
    $("open-red").textContent = `拆红包（${s.red_open} 起）`;
  }

  async function refreshSummary() {
    let envelope = window.CLOCK_UID ? await api("summary/") : await api("init/");
    notice(envelope);
    const mine = envelope.status === 1 && Boolean(window.CLOCK_UID);
    if (envelope.status !== 1 && window.CLOCK_UID) {
      // The player's own summary failed (said above): still show the round everyone sees.
      const everyone = await api("init/");
      if (everyone.status === 1) envelope = everyone;
    }
    if (envelope.status !== 1) return;
    const s = (round = envelope.data.summary);
    summary = mine ? s : null;
    if (!mine && window.CLOCK_UID) {
      $("status-text").textContent = "无法获取"; // nothing to say about a player the server could not answer for
      $("next-step").textContent = "";
    }
    if (mine) {
      const y = await api("yesterday/");
      yesterday = y.status === 1 ? y.data.yesterday : null;
    }
    const shownYesterday = s.is_start === 0;
    $("pool-label").textContent = `第 ${s.clock_day} 轮奖池`;
    $("pool").textContent = yuan(s.clock_money);
    $("user-num").textContent = s.user_num;
    $("clock-user-num").textContent = s.clock_user_num;
    $("clocked-in-part").hidden = !shownYesterday; // today's round is checked in tomorrow
    $("yest-money").textContent = yuan(s.yest_money);
    $("yest-part").hidden = shownYesterday; // shown yesterday's round: its pool is the one above
    left = { start: s.clock_time, end: s.clock_end_time, red: s.red_open_time, zero: s.zero_time };
    $("zone").textContent = `时间均为 ${s.time_zone} 时区 · 现在 ${s.local_time.slice(11, 16)}`;
    if (mine) $("status-text").textContent = STATUS[s.clock_status];
    show();
  }

  async function refreshBoards() {
    const talent = await api("talents/");
    if (talent.status !== 1) return notice(talent);
    const names = { persistent: "毅力达人", lucky: "运气达人", early: "早起达人" };
    $("talents").innerHTML = "";
    for (const [key, title] of Object.entries(names)) {
      const t = talent.data.talent[key];
      const card = document.createElement("div");
      card.className = "talent";
      card.innerHTML = `<b></b><span></span><br><small></small>`;
      card.querySelector("b").textContent = title;
      card.querySelector("span").textContent = t.nickname || "";
      card.querySelector("small").textContent = t.desc;
      $("talents").appendChild(card);
    }
    const records = await api("records/?limit=10");
    if (records.status !== 1) return notice(records);
    $("records").innerHTML = "";
    for (const item of records.data.records.items) {
      const li = document.createElement("li");
      li.textContent = `${item.nickname || item.mobile} ${item.mobile}`;
      const right = document.createElement("span");
      right.textContent = `¥${yuan(item.incomeMoney)} · ${item.clockDayCount} 天`;
      li.appendChild(right);
      $("records").appendChild(li);
    }
  }

  async function refreshMine() {
    if (!window.CLOCK_UID) return;
    const info = await api("information/");
    if (info.status !== 1) return notice(info);
    $("spend").textContent = yuan(info.data.info.spend_money);
    $("income").textContent = yuan(info.data.info.income_money);
    $("days").textContent = info.data.info.clock_day_num;
    const log = await api("money-log/?limit=10");
    if (log.status !== 1) return notice(log);
    $("money-log").innerHTML = "";
    for (const item of log.data.items) {
      const li = document.createElement("li");
      const sign = item.money_type === 1 ? "-" : "+";
      li.textContent = `${item.clock_day} ${item.title}`;
      const amount = document.createElement("span");
      amount.textContent = `${sign}¥${yuan(item.change_money)}`;
      li.appendChild(amount);
      $("money-log").appendChild(li);
    }
  }

  async function refreshAll() {
    // One refresh at a time; one asked for meanwhile (a button pressed while the last one still loads) runs
    // right after it, so what the button changed is never missed.
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    document.body.dataset.refreshing = "1"; // for tests that must act between refreshes
    try {
      do {
        refreshAgain = false;
        await refreshSummary();
        await Promise.all([refreshBoards(), refreshMine()]);
      } while (refreshAgain);
    } finally {
      refreshing = false;
      delete document.body.dataset.refreshing;
    }
  }

  // Buttons are disabled while their call runs, so a double tap sends one request.
  function action(run) {
    return async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        await run();
      } catch (error) {
        say(failed("页面出错了，请刷新后重试", "page_error"));
      } finally {
        button.disabled = false; // the summary decides again which buttons apply now
        await refreshAll();
      }
    };
  }

  async function join() {
    // The payer's profile comes from the server (CLOCK["PROFILE_RESOLVER"]), never from the page.
    const order = await api("prepay/", "POST");
    if (order.status !== 1) return say(order);
    // The sandbox channel hands back the signed callback a real channel would send after payment.
    let ack;
    try {
      ack = await fetch(window.CLOCK_API + "notify/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(order.data.payment.notification),
      }).then((r) => r.json());
    } catch (error) {
      return say(failed("支付结果没有送达，请稍后刷新查看", "network_error"));
    }
    say(
      { status: ack.code === "SUCCESS" ? 1 : 0, message: ack.message },
      `已支付 ¥${yuan(order.data.pay_amount)}，明早 ${round ? round.clock_window : ""} 来打卡！`,
    );
  }

  async function clockIn() {
    const envelope = await api("clock/", "POST");
    say(envelope, envelope.status === 1 ? `打卡成功！本轮奖池 ¥${yuan(envelope.data.money)}` : "");
  }

  let bill = null; // the transfer the user still has to confirm (WeChat's transfer bills)

  async function openRed() {
    const envelope = await api("red/", "POST");
    const assign = envelope.status === 1 ? envelope.data.assign : null;
    if (assign && assign.state === "confirm") {
      // WeChat pays a transfer once the user confirms it: a mini-program calls
      // wx.requestMerchantTransfer({mchId, appId, package}); the sandbox's package is confirmed by posting it.
      bill = { money: assign.money, ...assign.confirm };
      say(envelope, `红包 ¥${yuan(assign.money)} 已发出，请确认收款`);
      $("confirm-transfer").hidden = false;
    } else if (assign && assign.state === "pending") {
      say(envelope, `红包 ¥${yuan(assign.money)} 发放中，稍后到账`);
    } else {
      say(envelope, "红包已到账");
      if (assign) showPacket(assign.money);
    }
  }

  function showPacket(money) {
    $("packet-amount").textContent = yuan(money);
    $("packet").hidden = false;
  }

  async function confirmTransfer() {
    if (!bill) return;
    let response;
    try {
      response = await fetch(window.CLOCK_API + "transfer-notify/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ package: bill.package }),
      });
    } catch (error) {
      return say(failed("网络连接失败，请重新确认收款", "network_error"));
    }
    if (response.ok) {
      $("confirm-transfer").hidden = true;
      say({ status: 1 }, "红包已到账");
      showPacket(bill.money);
      bill = null;
    } else {
      say(failed("确认收款失败，请重新拆红包", "confirm_failed"));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if ($("join")) {
      $("join").addEventListener("click", action(join));
      $("clock-in").addEventListener("click", action(clockIn));
      $("open-red").addEventListener("click", action(openRed));
      $("confirm-transfer").addEventListener("click", action(confirmTransfer));
    }
    refreshAll();
    setInterval(tick, 1000);
    setInterval(refreshAll, 30000);
  });
})();
