// The challenge screen: plain fetch() against clock_app's JSON endpoints, no build step.
(function () {
  "use strict";
  const API = window.CLOCK_API;
  const $ = (id) => document.getElementById(id);
  const yuan = (fen) => (Number(fen || 0) / 100).toFixed(2);
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const STATUS = { 0: "未参与", 1: "已参与，待打卡", 2: "已打卡" };
  let timers = {};

  async function api(path, method = "GET", body) {
    const response = await fetch(API + path, {
      method,
      credentials: "same-origin",
      headers: method === "POST" ? { "Content-Type": "application/json", "X-CSRFToken": csrf() } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.json();
  }

  function say(envelope, okText) {
    const box = $("message");
    if (!box) return;
    box.textContent = envelope.status === 1 ? okText : envelope.message;
    box.className = "message " + (envelope.status === 1 ? "ok" : "err");
  }

  function hms(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }

  function tick() {
    for (const [id, left] of Object.entries(timers)) {
      $(id).textContent = left > 0 ? hms(left) : "--:--:--";
      timers[id] = left - 1;
    }
  }

  async function refreshSummary() {
    const envelope = window.CLOCK_UID ? await api("summary/") : await api("init/");
    if (envelope.status !== 1) return;
    const s = envelope.data.summary;
    $("pool").textContent = yuan(s.clock_money);
    $("user-num").textContent = s.user_num;
    $("clock-user-num").textContent = s.clock_user_num;
    $("yest-money").textContent = yuan(s.yest_money);
    $("round-day").textContent = s.clock_day;
    timers = { "clock-time": s.clock_time, "red-time": s.red_time, "zero-time": s.zero_time };
    tick();
    if ($("status-text")) $("status-text").textContent = STATUS[s.clock_status];
    if ($("join")) $("join").disabled = !(s.is_start === 1 && s.clock_status === 0);
  }

  async function refreshBoards() {
    const talent = await api("talents/");
    if (talent.status === 1) {
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
    }
    const records = await api("records/?limit=10");
    if (records.status === 1) {
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
  }

  async function refreshMine() {
    if (!window.CLOCK_UID) return;
    const info = await api("information/");
    if (info.status === 1) {
      $("spend").textContent = yuan(info.data.info.spend_money);
      $("income").textContent = yuan(info.data.info.income_money);
      $("days").textContent = info.data.info.clock_day_num;
    }
    const log = await api("money-log/?limit=10");
    if (log.status === 1) {
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
  }

  async function refreshAll() {
    await refreshSummary();
    await Promise.all([refreshBoards(), refreshMine()]);
  }

  async function join() {
    // The payer's profile comes from the server (CLOCK["PROFILE_RESOLVER"]), never from the page.
    const order = await api("prepay/", "POST");
    if (order.status !== 1) return say(order);
    // The sandbox channel hands back the signed callback a real channel would send after payment.
    const ack = await fetch(API + "notify/", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(order.data.payment.notification),
    }).then((r) => r.json());
    say({ status: ack.code === "SUCCESS" ? 1 : 0, message: ack.message }, `已支付 ¥${yuan(order.data.pay_amount)}，明早 05:00–08:00 来打卡！`);
    await refreshAll();
  }

  async function clockIn() {
    const envelope = await api("clock/", "POST");
    say(envelope, envelope.status === 1 ? `打卡成功！本轮奖池 ¥${yuan(envelope.data.money)}` : "");
    await refreshAll();
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
    await refreshAll();
  }

  function showPacket(money) {
    $("packet-amount").textContent = yuan(money);
    $("packet").hidden = false;
  }

  async function confirmTransfer() {
    if (!bill) return;
    const response = await fetch(API + "transfer-notify/", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ package: bill.package }),
    });
    if (response.ok) {
      $("confirm-transfer").hidden = true;
      say({ status: 1 }, "红包已到账");
      showPacket(bill.money);
      bill = null;
    } else {
      say({ status: 0, message: "确认收款失败，请重新拆红包" });
    }
    await refreshAll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if ($("join")) {
      $("join").addEventListener("click", join);
      $("clock-in").addEventListener("click", clockIn);
      $("open-red").addEventListener("click", openRed);
      $("confirm-transfer").addEventListener("click", confirmTransfer);
    }
    refreshAll();
    setInterval(tick, 1000);
    setInterval(refreshSummary, 30000);
  });
})();
