// 12345 wallboard: renders /api/state, follows /api/stream (SSE), sends supervisor actions.
// No framework, no CDN: plain DOM and an inline SVG chart. Text from Asterisk (names,
// reasons) is only ever set through textContent.
"use strict";

const WINDOWS = [["15m", "近15分钟"], ["1h", "近1小时"], ["today", "今日"]];
let me = { role: "viewer", can_act: false, csrf: "" };
let clockOffset = 0; // server time - local time, seconds
let last = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
function secs(v) { return v === null || v === undefined ? "—" : Math.round(v) + " 秒"; }
function duration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
}
function serverNow() { return Date.now() / 1000 + clockOffset; }

function figuresTable(figs, longest) {
  const head = el("tr", {}, el("th", {}, "时段"), el("th", {}, "呼入"), el("th", {}, "接通"),
    el("th", {}, "放弃"), el("th", {}, "接通率"), el("th", {}, "15秒接通率"),
    el("th", {}, "放弃率"), el("th", {}, "平均应答"), el("th", {}, "服务水平"));
  const rows = [head];
  for (const [key, label] of WINDOWS) {
    const f = figs[key];
    const rate = el("td", { "data-figure": "answer_rate", "data-window": key }, pct(f.answer_rate));
    if (f.answer_rate !== null && f.answer_rate < 0.95) rate.className = "low";
    rows.push(el("tr", {}, el("td", {}, label), el("td", {}, f.offered), el("td", {}, f.answered),
      el("td", {}, f.abandoned), rate, el("td", {}, pct(f.answer_15s_rate)),
      el("td", {}, pct(f.abandon_rate)), el("td", {}, secs(f.asa_s)),
      el("td", {}, pct(f.service_level))));
  }
  rows.push(el("tr", {}, el("td", {}, "当前最长等待"),
    el("td", { colSpan: 8, "data-live-wait": longest.at }, secs(longest.value))));
  return rows;
}

function renderAmi(ami) {
  const badge = document.getElementById("conn");
  const banner = document.getElementById("ami-banner");
  if (ami.connected) {
    badge.textContent = "已连接 Asterisk";
    badge.className = "badge ok";
    banner.hidden = true;
    return;
  }
  badge.className = "badge bad";
  badge.textContent = ami.state === "following" ? "共享状态（本实例未连接 AMI）" : "未连接 Asterisk";
  banner.hidden = false;
  banner.replaceChildren();
  if (!ami.configured) {
    banner.append(ami.detail);
  } else {
    const what = ami.state === "login_failed" ? "AMI 登录失败" : "与 Asterisk 的 AMI 连接中断，正在重连";
    banner.append(el("strong", {}, what + "："), " ", ami.detail || "", el("br"), ami.how_to_connect);
  }
}

function renderAlerts(alerts) {
  const box = document.getElementById("alerts");
  box.replaceChildren(...alerts.map((a) =>
    el("div", { class: "alert", "data-kind": a.kind, "data-queue": a.queue }, "⚠ " + a.text)));
}

function renderQueues(queues) {
  const box = document.getElementById("queues");
  const alerting = new Set((last.alerts || []).map((a) => a.queue));
  box.replaceChildren(...queues.map((q) => {
    const waitRows = q.waiting.map((c) => el("tr", { "data-uniqueid": c.uniqueid },
      el("td", {}, c.position), el("td", { class: "caller" }, c.caller || "未知号码"),
      el("td", {}, c.name || ""),
      el("td", { class: "wait", "data-joined": c.joined_at, "data-target": q.target_s },
        duration(c.wait_s))));
    const waiting = waitRows.length
      ? el("table", { class: "waiting" }, el("tr", {}, el("th", {}, "位置"), el("th", {}, "来电"),
          el("th", {}, "姓名"), el("th", {}, "已等待")), ...waitRows)
      : el("p", { class: "meta" }, "无排队来电");
    const longestAt = q.waiting.length ? Math.min(...q.waiting.map((c) => c.joined_at)) : "";
    return el("div", { class: "queue" + (alerting.has(q.name) ? " alerting" : ""), "data-queue": q.name },
      el("h3", {}, q.label, " ", el("span", { class: "meta" }, q.name)),
      el("p", { class: "meta" }, `排队 `, el("strong", { class: "waiting-count" }, q.waiting.length),
        ` 人 · 目标 ${q.target_s} 秒内应答 · 坐席 ${q.members.length} 个`),
      waiting,
      el("table", { class: "figures" }, ...figuresTable(q.figures, { value: q.longest_wait_s, at: longestAt })));
  }));
}

function renderOverall(overall, queues) {
  const longest = Math.max(0, ...queues.map((q) => q.longest_wait_s));
  const ats = queues.flatMap((q) => q.waiting.map((c) => c.joined_at));
  document.getElementById("overall").replaceChildren(
    ...figuresTable(overall, { value: longest, at: ats.length ? Math.min(...ats) : "" }));
}

function renderChart(chart) {
  const b = chart.buckets;
  const W = 960, H = 220, pad = 28;
  const max = Math.max(1, ...b.map((x) => x.offered));
  const bw = (W - pad * 2) / Math.max(1, b.length);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "每15分钟呼入与接通");
  const add = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const y = (v) => H - pad - (v / max) * (H - pad * 2);
  add("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: "#999" });
  add("text", { x: 2, y: pad, "font-size": 11 }, String(max));
  b.forEach((x, i) => {
    const x0 = pad + i * bw;
    const r1 = add("rect", { x: x0 + 1, y: y(x.offered), width: bw / 2 - 1, height: H - pad - y(x.offered), fill: "#9e9e9e", "data-offered": x.offered });
    r1.append(Object.assign(document.createElementNS(NS, "title"), { textContent: `${x.label} 呼入 ${x.offered}` }));
    const r2 = add("rect", { x: x0 + bw / 2, y: y(x.answered), width: bw / 2 - 1, height: H - pad - y(x.answered), fill: "#1a7f37", "data-answered": x.answered });
    r2.append(Object.assign(document.createElementNS(NS, "title"), { textContent: `${x.label} 接通 ${x.answered}` }));
    if (x.label.endsWith(":00")) add("text", { x: x0, y: H - 8, "font-size": 11 }, x.label);
  });
  add("rect", { x: W - 170, y: 6, width: 10, height: 10, fill: "#9e9e9e" });
  add("text", { x: W - 155, y: 15, "font-size": 12 }, "呼入");
  add("rect", { x: W - 110, y: 6, width: 10, height: 10, fill: "#1a7f37" });
  add("text", { x: W - 95, y: 15, "font-size": 12 }, "接通");
  document.getElementById("chart").replaceChildren(svg);
}

function renderSeats(seats) {
  const body = document.querySelector("#seats tbody");
  body.replaceChildren(...seats.map((s) => {
    const pick = el("button", { type: "button", class: "pick" }, "选择");
    pick.addEventListener("click", () => {
      document.getElementById("act-interface").value = s.interface;
      document.getElementById("act-name").value = s.name;
    });
    return el("tr", { "data-interface": s.interface, "data-state": s.state },
      el("td", {}, s.name), el("td", {}, s.interface),
      el("td", {}, el("span", { class: "state state-" + s.state }, s.state_label)),
      el("td", { class: "since", "data-since": s.since }, duration(s.time_in_state_s)),
      el("td", { class: "reason" }, s.paused_reason || ""),
      el("td", {}, s.queues.map((m) => `${m.queue}（${m.penalty}）${m.paused ? "·暂停" : ""}`).join("，")),
      el("td", {}, me.can_act ? pick : ""));
  }));
  const list = document.getElementById("seat-list");
  list.replaceChildren(...seats.map((s) => el("option", { value: s.interface }, s.name)));
}

function renderQueueSelect(queues) {
  const sel = document.getElementById("act-queue");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "（全部队列）"),
    ...queues.map((q) => el("option", { value: q.name }, `${q.label}（${q.name}）`)));
  sel.value = keep;
}

function render(snap) {
  last = snap;
  clockOffset = snap.now - Date.now() / 1000;
  renderAmi(snap.ami);
  renderAlerts(snap.alerts);
  renderOverall(snap.overall, snap.queues);
  renderQueues(snap.queues);
  renderChart(snap.chart);
  renderSeats(snap.seats);
  renderQueueSelect(snap.queues);
  document.body.dataset.version = snap.version;
}

function tick() {
  const now = serverNow();
  const tz = (last && last.timezone) || "Asia/Shanghai";
  document.getElementById("clock").textContent =
    new Date(now * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone: tz });
  for (const td of document.querySelectorAll("[data-since]")) td.textContent = duration(now - Number(td.dataset.since));
  for (const td of document.querySelectorAll("td.wait[data-joined]")) {
    const w = now - Number(td.dataset.joined);
    td.textContent = duration(w);
    td.classList.toggle("over", w > Number(td.dataset.target));
  }
  for (const td of document.querySelectorAll("[data-live-wait]")) {
    const at = td.dataset.liveWait;
    td.textContent = at ? secs(now - Number(at)) : secs(0);
  }
}

async function api(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: res.statusText }; }
  return { ok: res.ok, status: res.status, data };
}

const RESULT_TEXT = { confirmed: "已生效", rejected: "Asterisk 拒绝", unconfirmed: "已发送，未收到确认事件", failed: "未发送" };

async function act(path, body) {
  const out = document.getElementById("action-result");
  out.className = "";
  out.textContent = "发送中…";
  const { ok, data } = await api(path, body);
  if (data.result) {
    out.className = data.result === "confirmed" ? "ok" : "error";
    out.textContent = `${RESULT_TEXT[data.result] || data.result}：${data.message}`;
  } else {
    out.className = "error";
    out.textContent = `请求有误（${data.field || ""}）：${data.error || "未知错误"}`;
  }
  if (ok || data.result) loadAudit();
}

function formValues() {
  return {
    interface: document.getElementById("act-interface").value.trim(),
    queue: document.getElementById("act-queue").value,
    reason: document.getElementById("act-reason").value.trim(),
    penalty: Number(document.getElementById("act-penalty").value),
    name: document.getElementById("act-name").value.trim(),
  };
}

function setupActions() {
  document.getElementById("actions").hidden = false;
  document.getElementById("btn-pause").addEventListener("click", () => {
    const v = formValues();
    const body = { interface: v.interface, paused: true, reason: v.reason };
    if (v.queue) body.queue = v.queue;
    act("/api/seats/pause", body);
  });
  document.getElementById("btn-unpause").addEventListener("click", () => {
    const v = formValues();
    const body = { interface: v.interface, paused: false };
    if (v.queue) body.queue = v.queue;
    act("/api/seats/pause", body);
  });
  document.getElementById("btn-penalty").addEventListener("click", () => {
    const v = formValues();
    const body = { interface: v.interface, penalty: v.penalty };
    if (v.queue) body.queue = v.queue;
    act("/api/seats/penalty", body);
  });
  document.getElementById("btn-add").addEventListener("click", () => {
    const v = formValues();
    const body = { interface: v.interface, queue: v.queue, penalty: v.penalty };
    if (v.name) body.member_name = v.name;
    act("/api/seats/add", body);
  });
  document.getElementById("btn-remove").addEventListener("click", () => {
    const v = formValues();
    act("/api/seats/remove", { interface: v.interface, queue: v.queue });
  });
  loadAudit();
}

const ACTION_TEXT = { pause: "暂停", unpause: "恢复", add: "加入队列", remove: "移出队列", penalty: "设置优先级" };

async function loadAudit() {
  const res = await fetch("/api/audit?limit=20", { credentials: "same-origin" });
  if (!res.ok) return;
  const { entries } = await res.json();
  document.querySelector("#audit tbody").replaceChildren(...entries.map((e) => el("tr", {},
    el("td", {}, new Date(e.at).toLocaleString("zh-CN", { hour12: false, timeZone: (last && last.timezone) || "Asia/Shanghai" })),
    el("td", {}, e.user),
    el("td", {}, ACTION_TEXT[e.action] || e.action), el("td", {}, e.queue), el("td", {}, e.interface),
    el("td", {}, RESULT_TEXT[e.result] || e.result), el("td", {}, e.message))));
}

function follow() {
  const source = new EventSource("/api/stream");
  source.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
  // The session ended (logout elsewhere, expired, user removed, password changed).
  source.addEventListener("logout", () => { source.close(); location.href = "/login"; });
  source.onerror = () => {
    const badge = document.getElementById("conn");
    badge.textContent = "与监控服务的连接中断，正在重连…";
    badge.className = "badge bad";
  };
}

async function main() {
  const res = await fetch("/api/me", { credentials: "same-origin" });
  if (res.status === 401) { location.href = "/login"; return; }
  me = await res.json();
  if (me.must_change_password) { location.href = "/password"; return; }
  document.getElementById("who").textContent = `${me.user}（${me.role}）`;
  if (me.can_act) setupActions();
  const state = await fetch("/api/state", { credentials: "same-origin" });
  if (state.ok) render(await state.json());
  follow();
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", main);
