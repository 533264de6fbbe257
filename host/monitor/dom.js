// Small DOM and formatting helpers. Everything the API returns is put on the page as text
// (`textContent`), never as markup, so a pipeline or error text cannot inject script.

/** `h("td", {class: "x", onclick: f}, child, ...)`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Says `text` to screen readers and shows it in the status line. */
let announced = null;
export function announce(text, kind = "info") {
  const el = document.getElementById("announce");
  el.textContent = text;
  el.dataset.kind = kind;
  // News fades after a while; errors stay until the next message.
  clearTimeout(announced);
  if (kind === "info" && text) announced = setTimeout(() => { el.textContent = ""; }, 10000);
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms === "" || Number.isNaN(Number(ms))) return "";
  let s = Math.max(0, Number(ms)) / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s = Math.round(s - m * 60);
  return h ? `${h} h ${m} min` : `${m} min ${s} s`;
}

export function fmtBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${x.toFixed(1)} ${units[i]}`;
}

export function fmtCount(n) {
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString("en-US") : "";
}

/** A run or activity status as a badge (colour and text, never colour alone). */
export function badge(status) {
  const s = String(status || "Unknown");
  return h("span", { class: `badge s-${s.toLowerCase()}` }, s);
}

/** The run's duration, or the time since it started when it is still going. */
export function runDuration(run) {
  if (run.durationInMs !== undefined && run.durationInMs !== null && run.runEnd) return run.durationInMs;
  if (run.runStart) return Date.now() - new Date(run.runStart).getTime();
  return null;
}

export const ACTIVE = new Set(["Queued", "InProgress", "Canceling"]);

/** Pretty JSON for a `<pre>`. */
export function json(value) {
  return JSON.stringify(value, null, 2);
}
