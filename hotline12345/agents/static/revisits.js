"use strict";
// The 回访 page: the list (GET /api/revisits), the callback (POST .../callback: the seat's
// phone rings first, then the caller) and its result (POST .../callback/result).
let csrf = "";
let current = null;  // the ticket whose result is being recorded

const $ = (id) => document.getElementById(id);

function say(text) { $("message").textContent = text; }

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  row.appendChild(td);
}

async function load() {
  const res = await fetch("/api/revisits", { credentials: "same-origin" });
  const data = await res.json();
  const body = $("revisits").querySelector("tbody");
  body.textContent = "";
  if (res.status !== 200) { say(data.error || res.status); return; }
  for (const item of data.revisits) {
    const row = document.createElement("tr");
    cell(row, item.ticket_id);
    cell(row, item.kind);
    cell(row, item.due ? new Date(item.due).toLocaleString("zh-CN") : "（待定）");
    cell(row, item.state);
    cell(row, item.caller);
    cell(row, item.department);
    cell(row, item.note);
    const td = document.createElement("td");
    const call = document.createElement("button");
    call.textContent = "回访";
    call.addEventListener("click", () => callBack(item.ticket_id));
    const done = document.createElement("button");
    done.textContent = "记录结果";
    done.addEventListener("click", () => showResult(item.ticket_id));
    td.append(call, done);
    row.appendChild(td);
    body.appendChild(row);
  }
  if (!data.revisits.length) say("没有待回访的工单。");
}

async function callBack(ticketId) {
  const iface = $("interface").value.trim();
  if (!iface) { say("请先填写您的话机，例如 PJSIP/8001"); return; }
  localStorage.setItem("hotline12345-interface", iface);
  say(`工单 ${ticketId}：正在振铃您的话机……`);
  const { status, body } = await post(`/api/tickets/${ticketId}/callback`, { interface: iface });
  say(status === 200 ? `工单 ${ticketId}：您已接起，正在拨打来电人（通话 ${body.uniqueid}）`
                     : `工单 ${ticketId}：${body.message || body.error}`);
  if (status === 200) showResult(ticketId);
}

function showResult(ticketId) {
  current = ticketId;
  $("result-ticket").textContent = `工单 ${ticketId}`;
  $("result").hidden = false;
}

async function saveResult(event) {
  event.preventDefault();
  const body = { outcome: $("outcome").value };
  if ($("resolved").value) body.resolved = $("resolved").value === "true";
  if ($("rating").value) body.rating = $("rating").value;
  if ($("note").value.trim()) body.note = $("note").value.trim();
  const res = await post(`/api/tickets/${current}/callback/result`, body);
  say(res.status === 200 ? `工单 ${current}：已记录（${res.body.state}）`
                         : `工单 ${current}：${res.body.error}`);
  if (res.status === 200) { $("result").hidden = true; await load(); }
}

async function start() {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (me.status !== 200) { location.href = "/login"; return; }
  csrf = (await me.json()).csrf;
  $("interface").value = localStorage.getItem("hotline12345-interface") || "";
  $("result").addEventListener("submit", saveResult);
  await load();
}

start();
