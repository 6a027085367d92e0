// 12345 ticket queue: renders GET /api/tickets with its filters. No framework, no CDN;
// every text from the server is set through textContent.
"use strict";

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

function card(level) {
  return level ? el("span", { class: `card card-${level}`, "data-supervision": level }, level) : "";
}

async function getJson(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (res.status === 401) { location.href = "/login"; return null; }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

let page = 1;

function showError(message) {
  const p = document.getElementById("error");
  p.textContent = message || "";
  p.hidden = !message;
}

async function load() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (v) params.set(k, v);
  params.set("page", page);
  let data;
  try {
    data = await getJson("/api/tickets?" + params.toString());
  } catch (err) {
    showError(err.message);
    document.querySelector("#queue tbody").replaceChildren();
    return;
  }
  if (!data) return;
  showError("");
  const rows = data.tickets.map((t) => el("tr", { "data-id": t.id, "data-state": t.state, class: t.overdue ? "overdue" : "" },
    el("td", {}, el("a", { href: `/tickets/${t.id}`, class: "open" }, t.id)),
    el("td", { class: "state-name" }, t.state),
    el("td", {}, card(t.supervision)),
    el("td", {}, t.urgency),
    el("td", {}, t.category || "—"),
    el("td", {}, t.department || "—"),
    el("td", { class: "caller" }, t.caller || "—"),
    el("td", { class: "summary" }, t.summary || ""),
    el("td", { class: "due" }, when(t.sign_due)),
    el("td", { class: "due" }, when(t.answer_due)),
    el("td", {}, when(t.created_at))));
  document.querySelector("#queue tbody").replaceChildren(...rows);
  document.getElementById("page-info").textContent = `第 ${data.page} / ${data.pages} 页，共 ${data.total} 件`;
  document.getElementById("prev").disabled = data.page <= 1;
  document.getElementById("next").disabled = data.page >= data.pages;
}

async function init() {
  const me = await getJson("/api/me");
  if (!me) return;
  document.getElementById("who").textContent = `${me.user}（${me.role}）`;
  document.getElementById("scope").textContent = me.department ? me.department : "全部单位";
  if (me.role === "承办单位") document.getElementById("wallboard-link").hidden = true;
  if (me.department) {
    const dep = document.getElementById("f-department");
    dep.value = me.department;
    dep.readOnly = true;
  }
  try {  // the states, as the API documents them
    const doc = await getJson("/api/openapi.json");
    const param = doc.paths["/api/tickets"].get.parameters.find((p) => p.name === "state");
    const select = document.getElementById("f-state");
    for (const s of param.schema.enum) select.append(el("option", { value: s }, s));
  } catch (err) { showError(err.message); }
  const query = new URLSearchParams(location.search);
  for (const name of ["state", "q", "department"]) {
    if (query.get(name)) document.getElementById("f-" + name).value = query.get(name);
  }
  document.getElementById("filters").addEventListener("submit", (ev) => { ev.preventDefault(); page = 1; load(); });
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  await load();
}

init();
