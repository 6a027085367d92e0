// 12345 ticket detail: renders GET /api/tickets/{id}; the action buttons are the ticket's
// allowed_actions as the API returns them (the pages hold no lifecycle rule), and each
// action's fields are described by the API's OpenAPI document. Text is set by textContent.
"use strict";

const ticketId = Number(location.pathname.split("/").filter(Boolean).pop());
let me = { csrf: "" };
let fieldSchemas = {};
let current = null;
let chosen = null;

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

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
function clock(s) {
  const m = Math.floor(s / 60), r = Math.floor(s % 60);
  return `${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
}

async function call(url, options) {
  const res = await fetch(url, { credentials: "same-origin", ...(options || {}) });
  if (res.status === 401) { location.href = "/login"; throw new Error("请先登录"); }
  const body = await res.json();
  if (!res.ok) {
    let message = body.error || res.statusText;
    if (res.status === 409 && body.allowed) message += `（当前状态：${body.state}；可执行：${body.allowed.join("、") || "无"}）`;
    throw new Error(message);
  }
  return body;
}

function post(url, body) {
  return call(url, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
    body: JSON.stringify(body || {}) });
}

function rows(tbody, pairs) {
  tbody.replaceChildren(...pairs.map(([k, v, attrs]) => el("tr", attrs || {}, el("th", {}, k), el("td", {}, v ?? "—"))));
}

function card(level) {
  return level ? el("span", { class: `card card-${level}`, "data-supervision": level }, level) : "";
}

function render(t) {
  current = t;
  document.getElementById("t-id").textContent = `#${t.id}`;
  const state = document.getElementById("t-state");
  state.textContent = t.state;
  state.setAttribute("data-state", t.state);
  document.getElementById("t-supervision").replaceChildren(card(t.supervision));
  const caller = el("span", { id: "caller" }, t.caller || "—");
  const callerCell = el("span", {}, caller);
  if (t.full_number_allowed && t.caller) {
    const btn = el("button", { type: "button", id: "reveal" }, "显示完整号码");
    btn.addEventListener("click", async () => {
      try {
        const r = await post(`/api/tickets/${t.id}/reveal`, { reason: "回访" });
        caller.textContent = r.caller;
        btn.remove();
      } catch (err) { showError(err.message); }
    });
    callerCell.append(" ", btn);
  }
  rows(document.querySelector("#facts tbody"), [
    ["状态", t.state], ["紧急程度", t.urgency], ["分类", t.category], ["承办单位", t.department],
    ["来电号码", callerCell], ["来电人", t.caller_name], ["原号码", t.legacy_number],
    ["坐席", t.seat], ["来电时间", when(t.call_started_at)], ["评价", t.rating || t.survey_rating],
    ["并入", t.merged_into ? `#${t.merged_into}` : null],
    ["被并工单", t.merged.length ? t.merged.map((id) => `#${id}`).join("、") : null]]);
  rows(document.querySelector("#deadlines tbody"), [
    ["签收时限", when(t.deadlines.sign_due), { "data-deadline": "sign_due" }],
    ["答复时限", when(t.deadlines.answer_due), { "data-deadline": "answer_due" }],
    ["退单时限", when(t.deadlines.return_due)],
    ["回访时限", when(t.deadlines.revisit_due)],
    ["督办", t.supervision ? el("span", {}, card(t.supervision), " ", t.supervision_reason || "") : "—"],
    ["超期", t.overdue ? "是" : "否"], ["已延期", `${t.counts.extensions_used} 次`],
    ["挂起", t.paused ? "是（计时暂停）" : "否"]]);
  const warning = document.getElementById("deadline-warning");
  warning.textContent = t.deadline_warning || "";
  warning.hidden = !t.deadline_warning;
  document.getElementById("summary").textContent = t.summary || "（无）";
  document.getElementById("reply").textContent = t.reply ? `答复：${t.reply}` : "";
  const recording = document.getElementById("recording");
  if (t.recording && !recording.querySelector("audio")) {
    recording.replaceChildren(el("audio", { controls: true, preload: "none", id: "player",
      src: `/api/tickets/${t.id}/recording` }));
  } else if (!t.recording) recording.textContent = "无录音";
  document.querySelector("#dialogue tbody").replaceChildren(...t.dialogue.map((u) =>
    el("tr", { class: `speaker-${u.speaker}` }, el("td", {}, clock(u.start)), el("td", {}, u.speaker), el("td", {}, u.text))));
  document.querySelector("#history tbody").replaceChildren(...t.history.map((h) =>
    el("tr", { "data-action": h.action }, el("td", {}, h.seq), el("td", {}, when(h.at)), el("td", {}, h.actor),
      el("td", {}, h.role + (h.actor_department ? `·${h.actor_department}` : "")), el("td", {}, h.action),
      el("td", {}, h.from_state || "—"), el("td", {}, h.to_state || "—"), el("td", {}, h.reason), el("td", {}, h.note))));
  document.querySelector("#assignments tbody").replaceChildren(...t.assignments.map((a) =>
    el("tr", {}, el("td", {}, a.kind), el("td", {}, a.department), el("td", {}, a.active ? "在办" : "结束"),
      el("td", {}, a.answer || ""))));
  document.querySelector("#extensions tbody").replaceChildren(...t.extensions.map((x) =>
    el("tr", {}, el("td", {}, when(x.requested_at)), el("td", {}, `${x.working_days} 个工作日`),
      el("td", {}, x.decision), el("td", {}, x.reason))));
  document.querySelector("#callbacks tbody").replaceChildren(...t.callbacks.map((c) =>
    el("tr", {}, el("td", {}, c.kind), el("td", {}, when(c.due)), el("td", {}, c.outcome || "待回访"),
      el("td", {}, c.rating || ""))));
  const actions = document.getElementById("actions");
  actions.replaceChildren(...t.allowed_actions.map((a) => {
    const btn = el("button", { type: "button", "data-action": a.action }, a.action);
    btn.addEventListener("click", () => choose(a));
    return btn;
  }));
  if (!t.allowed_actions.length) actions.textContent = "当前状态下没有可执行的操作";
}

function fieldInput(name) {
  const schema = fieldSchemas[name] || { type: "string" };
  let input;
  if (schema.enum) {
    input = el("select", {}, el("option", { value: "" }, "—"), ...schema.enum.map((v) => el("option", { value: v }, v)));
  } else if (schema.type === "boolean") {
    input = el("input", { type: "checkbox" });
  } else if (name === "reply" || name === "summary") {
    input = el("textarea", { rows: 3, cols: 40 });
  } else {
    input = el("input", { type: schema.type === "number" || schema.type === "integer" ? "number" : "text", size: 16 });
  }
  input.setAttribute("data-field", name);
  input.id = `field-${name}`;
  return el("label", {}, `${schema.title || name} `, input);
}

function choose(action, values) {
  chosen = action;
  const form = document.getElementById("action-form");
  document.getElementById("action-name").textContent = action.action;
  document.getElementById("action-fields").replaceChildren(...action.fields.map(fieldInput));
  document.getElementById("action-reason").value = "";
  document.getElementById("action-note").value = "";
  for (const [name, value] of Object.entries(values || {})) {
    const input = document.getElementById(`field-${name}`);
    if (input) input.value = value;
  }
  form.hidden = false;
}

async function loadDuplicates(t) {
  // 并单 suggestions from the API; a person confirms by submitting 并单 with the main ticket
  const section = document.getElementById("duplicates-section");
  let found = [];
  try { found = (await call(`/api/tickets/${t.id}/duplicates`)).duplicates; } catch (err) { showError(err.message); }
  const merge = t.allowed_actions.find((a) => a.action === "并单");
  document.getElementById("duplicates").replaceChildren(...found.map((d) => {
    const item = el("li", { "data-id": d.id }, el("a", { href: `/tickets/${d.id}` }, `#${d.id}`),
      ` ${d.state} ${d.department || ""} ${d.summary || ""} `);
    if (merge) {
      const btn = el("button", { type: "button", class: "merge-into" }, `并入 #${d.id}`);
      btn.addEventListener("click", () => choose(merge, { main_ticket_id: d.id }));
      item.append(btn);
    }
    return item;
  }));
  section.hidden = found.length === 0;
}

function readField(input) {
  const name = input.getAttribute("data-field");
  const schema = fieldSchemas[name] || {};
  if (schema.type === "boolean") return input.checked ? true : null;
  const raw = input.value.trim();
  if (schema.type === "array") return raw ? raw.split(/[,，、\s]+/).filter(Boolean) : [];
  if (schema.type === "number" || schema.type === "integer") return raw === "" ? null : Number(raw);
  return raw;
}

async function submit(ev) {
  ev.preventDefault();
  if (!chosen) return;
  const body = { reason: document.getElementById("action-reason").value, note: document.getElementById("action-note").value };
  for (const input of document.querySelectorAll("#action-fields [data-field]")) {
    const value = readField(input);
    if (value !== "" && value !== null) body[input.getAttribute("data-field")] = value;
  }
  const result = document.getElementById("action-result");
  try {
    await post(`/api/tickets/${ticketId}/actions/${encodeURIComponent(chosen.action)}`, body);
    result.textContent = `${chosen.action}：已完成`;
    result.className = "ok";
    document.getElementById("action-form").hidden = true;
    await load();
  } catch (err) {
    result.textContent = `${chosen.action}：${err.message}`;
    result.className = "error";
  }
}

function showError(message) {
  const p = document.getElementById("error");
  p.textContent = message || "";
  p.hidden = !message;
}

async function load() {
  try {
    const t = await call(`/api/tickets/${ticketId}`);
    render(t);
    showError("");
    await loadDuplicates(t);
  } catch (err) { showError(err.message); }
}

// 回访 from the ticket page (话务员, 班长): the seat's phone rings first, then the caller;
// the call's result is recorded on the 回访 page (the same API).
const CALLBACK_ROLES = ["话务员", "班长"];

async function callBack() {
  const iface = document.getElementById("callback-interface").value.trim();
  const out = document.getElementById("callback-result");
  if (!iface) { out.textContent = "请先填写您的话机，例如 PJSIP/8001"; return; }
  localStorage.setItem("hotline12345-interface", iface);
  out.textContent = "正在振铃您的话机……";
  try {
    const body = await post(`/api/tickets/${ticketId}/callback`, { interface: iface });
    out.textContent = `您已接起，正在拨打来电人（通话 ${body.uniqueid}）`;
  } catch (err) { out.textContent = err.message; }
}

async function init() {
  me = await call("/api/me");
  if (CALLBACK_ROLES.includes(me.role)) {
    document.getElementById("callback-section").hidden = false;
    document.getElementById("callback-interface").value =
      localStorage.getItem("hotline12345-interface") || "";
    document.getElementById("callback-call").addEventListener("click", callBack);
  }
  document.getElementById("who").textContent = `${me.user}（${me.role}${me.department ? "·" + me.department : ""}）`;
  try {
    const doc = await call("/api/openapi.json");
    const op = doc.paths["/api/tickets/{id}/actions/{action}"].post;
    fieldSchemas = op.requestBody.content["application/json"].schema.properties;
  } catch (err) { showError(err.message); }
  document.getElementById("action-form").addEventListener("submit", submit);
  document.getElementById("action-cancel").addEventListener("click", () => { document.getElementById("action-form").hidden = true; });
  await load();
}

init();
