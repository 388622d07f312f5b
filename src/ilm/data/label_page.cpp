// The labeling page that LabelServer serves at GET /: one self-contained HTML file (inline CSS
// and JS, nothing fetched from elsewhere). It shows one record at a time, in big text whose
// direction follows the text (dir="auto": Arabic reads right to left), and talks to the JSON
// API: GET /api/next, POST /api/label, POST /api/undo, GET /api/progress.
//
// Keys follow the physical key (KeyboardEvent.code), so they work on an Arabic layout too:
// 1..9 give the labels, s skips (the record comes back after the others), u or Backspace undoes
// the last label. The body's data-state ("loading", "ready", "busy", "done", "error") and
// data-line (the record shown) let tests wait for the page.
#include <string>

#include "ilm/data/label_server.h"

namespace ilm {

const std::string& label_page_html() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ilm data label</title>
<style>
  :root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; }
  body { font-family: system-ui, "Noto Sans", "Noto Naskh Arabic", "Segoe UI", sans-serif;
         margin: 0 auto; max-width: 60rem; padding: 1.5rem; line-height: 1.5; }
  header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
  h1 { font-size: 1.1rem; margin: 0; color: var(--muted); font-weight: 600; }
  #progress { font-size: 1.2rem; font-variant-numeric: tabular-nums; }
  #bar { height: .4rem; background: #8882; border-radius: .2rem; margin: .5rem 0 1.5rem; }
  #bar > div { height: 100%; width: 0; background: var(--accent); border-radius: .2rem; }
  #card { border: 1px solid #8884; border-radius: .75rem; padding: 1.5rem; min-height: 8rem; }
  #where { color: var(--muted); font-size: .9rem; margin-bottom: .75rem; }
  #text { font-size: 1.75rem; line-height: 1.8; white-space: pre-wrap; overflow-wrap: anywhere;
          unicode-bidi: plaintext; }
  #fields { margin-top: 1rem; font-size: .85rem; color: var(--muted); white-space: pre-wrap;
            overflow-wrap: anywhere; unicode-bidi: plaintext; }
  #buttons { display: flex; flex-wrap: wrap; gap: .6rem; margin: 1.5rem 0; }
  button { font: inherit; font-size: 1.15rem; padding: .6rem 1rem; border-radius: .5rem;
           border: 1px solid #8886; background: #8881; cursor: pointer; }
  button.label { border-color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  kbd { font-family: ui-monospace, monospace; font-size: .9em; padding: .05rem .4rem;
        border: 1px solid #8888; border-bottom-width: 2px; border-radius: .3rem; margin-inline-end: .4rem; }
  #status { min-height: 1.5rem; color: var(--muted); }
  #status.error { color: #dc2626; }
  #done { font-size: 1.5rem; }
  details { margin-top: 2rem; color: var(--muted); }
</style>
</head>
<body data-state="loading" data-line="">
<header><h1>ilm data label</h1><div id="progress">…</div></header>
<div id="bar"><div></div></div>
<div id="card">
  <div id="where"></div>
  <div id="text" dir="auto"></div>
  <div id="fields" dir="auto"></div>
</div>
<div id="buttons"></div>
<div id="status" role="status"></div>
<details id="problems" hidden><summary></summary><ul></ul></details>
<script>
"use strict";
let labels = [], textField = "text", current = null, busy = false;
const $ = (id) => document.getElementById(id);

function setState(state) {
  document.body.dataset.state = state;
  document.body.dataset.line = current ? String(current.line) : "";
  for (const b of document.querySelectorAll("button")) b.disabled = state !== "ready";
}

function say(message, isError) {
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || (res.status + " " + res.statusText));
  return data;
}

function showProgress(p) {
  $("progress").textContent = p.done + " / " + p.total + " labeled";
  $("bar").firstElementChild.style.width = (p.total ? 100 * p.done / p.total : 100) + "%";
  const box = $("problems");
  if (p.problem_count > 0) {
    box.hidden = false;
    box.querySelector("summary").textContent =
        p.problem_count + " input line(s) are not records and are skipped";
    const ul = box.querySelector("ul");
    ul.textContent = "";
    for (const q of p.problems) {
      const li = document.createElement("li");
      li.textContent = "line " + q.line + ": " + q.error;
      ul.appendChild(li);
    }
  }
}

function showRecord(record, progress) {
  current = record;
  if (progress) showProgress(progress);
  if (!record) {
    $("where").textContent = "";
    $("text").textContent = "";
    $("fields").textContent = "";
    $("text").innerHTML = '<div id="done">All records are labeled. You can close this page.</div>';
    setState("done");
    return;
  }
  $("where").textContent = "line " + record.line;
  $("text").textContent = record.text;
  const others = Object.assign({}, record.record);
  delete others[textField];
  $("fields").textContent = Object.keys(others).length ? JSON.stringify(others, null, 1) : "";
  setState("ready");
}

async function act(fn) {
  if (busy) return;
  busy = true;
  setState("busy");
  try {
    await fn();
  } catch (e) {
    say(e.message, true);
    setState(current ? "ready" : "error");
  } finally {
    busy = false;
    if (document.body.dataset.state === "busy") setState(current ? "ready" : "done");
  }
}

function label(i) {
  if (!current || i >= labels.length) return;
  const line = current.line, name = labels[i];
  act(async () => {
    const r = await api("POST", "/api/label", { line, label: name });
    say("line " + line + " \u2192 " + name + " (saved)");
    showRecord(r.record, r.progress);
  });
}

function skip() {
  if (!current) return;
  const line = current.line;
  act(async () => {
    const r = await api("GET", "/api/next?after=" + line);
    say("line " + line + " skipped: it comes back after the others");
    showRecord(r.record, r.progress);
  });
}

function undo() {
  act(async () => {
    const r = await api("POST", "/api/undo", {});
    say("undone: line " + r.record.line + " is unlabeled again");
    showRecord(r.record, r.progress);
  });
}

function button(key, text, cls, onClick) {
  const b = document.createElement("button");
  b.className = cls;
  const k = document.createElement("kbd");
  k.textContent = key;
  b.appendChild(k);
  const span = document.createElement("span");
  span.dir = "auto";
  span.textContent = text;
  b.appendChild(span);
  b.addEventListener("click", onClick);
  $("buttons").appendChild(b);
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const m = /^(?:Digit|Numpad)([1-9])$/.exec(e.code) || /^([1-9])$/.exec(e.key);
  if (m) { e.preventDefault(); label(Number(m[1]) - 1); return; }
  if (e.code === "KeyS" || e.key === "s") { e.preventDefault(); skip(); return; }
  if (e.code === "KeyU" || e.key === "u" || e.key === "Backspace") { e.preventDefault(); undo(); }
});

(async () => {
  try {
    const p = await api("GET", "/api/progress");
    labels = p.labels;
    textField = p.text_field;
    labels.forEach((name, i) => button(String(i + 1), name, "label", () => label(i)));
    button("s", "skip", "", skip);
    button("u", "undo", "", undo);
    const r = await api("GET", "/api/next");
    showRecord(r.record, r.progress);
  } catch (e) {
    say("cannot reach the label server: " + e.message, true);
    setState("error");
  }
})();
</script>
</body>
</html>
)HTML";
  return page;
}

}  // namespace ilm
