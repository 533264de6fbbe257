// The landing view: the tenant's pipeline runs across all its factories, filtered by status,
// pipeline, factory and time range, refreshed every few seconds, and paged through each
// factory's continuation token ("Load older runs").

import { ACTIVE, announce, badge, fmtDuration, fmtTime, h, mount, runDuration } from "./dom.js";
import { cancelRun, rerunRun } from "./run.js";

const REFRESH_MS = 4000;
const RANGES = [
  ["1h", "Last hour", 3600e3],
  ["24h", "Last 24 hours", 86400e3],
  ["7d", "Last 7 days", 7 * 86400e3],
  ["30d", "Last 30 days", 30 * 86400e3],
  ["custom", "Custom range", 0],
];
const STATUSES = ["Queued", "InProgress", "Succeeded", "Failed", "Canceling", "Cancelled"];

/** Filters survive moving between views in this tab. */
const filters = { status: "", pipeline: "", factory: "", range: "24h", from: "", to: "", auto: true };

function window_() {
  const now = Date.now();
  if (filters.range === "custom") {
    const from = filters.from ? new Date(filters.from) : new Date(now - 86400e3);
    const to = filters.to ? new Date(filters.to) : new Date(now + 60e3);
    return [from.toISOString(), to.toISOString()];
  }
  const span = (RANGES.find((r) => r[0] === filters.range) || RANGES[1])[2];
  return [new Date(now - span).toISOString(), new Date(now + 60e3).toISOString()];
}

function queryBody(token) {
  const [after, before] = window_();
  const body = {
    lastUpdatedAfter: after,
    lastUpdatedBefore: before,
    filters: [],
    orderBy: [{ orderBy: "RunStart", order: "DESC" }],
  };
  if (filters.status) body.filters.push({ operand: "Status", operator: "Equals", values: [filters.status] });
  if (filters.pipeline.trim()) {
    body.filters.push({ operand: "PipelineName", operator: "Equals", values: [filters.pipeline.trim()] });
  }
  if (token) body.continuationToken = token;
  return body;
}

export async function runsView(app, main) {
  // Per factory: the continuation token of its next page (null when it has no more).
  let tokens = new Map();
  let rows = [];
  let timer = null;
  let busy = false;

  const tbody = h("tbody");
  const table = h("table", { class: "runs", "aria-describedby": "runs-caption" },
    h("caption", { id: "runs-caption" }, "Pipeline runs, newest first"),
    h("thead", {}, h("tr", {},
      ["Pipeline", "Factory", "Run start", "Duration", "Status", "Triggered by", "Run ID", "Actions"]
        .map((t) => h("th", { scope: "col" }, t)))),
    tbody);
  const more = h("button", { type: "button", id: "load-more", hidden: true, onclick: () => load(true) },
    "Load older runs");
  const count = h("p", { class: "muted", id: "runs-count", "aria-live": "polite" });

  const select = (id, label, options, key) => {
    const el = h("select", { id, name: id, onchange: () => { filters[key] = el.value; reload(); } },
      options.map(([v, t]) => h("option", { value: v, selected: filters[key] === v }, t)));
    return [h("label", { for: id }, label), el];
  };
  const pipelineInput = h("input", { id: "f-pipeline", name: "pipeline", type: "search",
    value: filters.pipeline, placeholder: "any" });
  const fromInput = h("input", { id: "f-from", type: "datetime-local", value: filters.from });
  const toInput = h("input", { id: "f-to", type: "datetime-local", value: filters.to });
  const custom = h("span", { class: "custom", hidden: filters.range !== "custom" },
    h("label", { for: "f-from" }, "From"), fromInput, h("label", { for: "f-to" }, "To"), toInput);
  const auto = h("input", { id: "f-auto", type: "checkbox", checked: filters.auto });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter runs" },
    select("f-status", "Status", [["", "All"], ...STATUSES.map((s) => [s, s])], "status"),
    h("label", { for: "f-pipeline" }, "Pipeline"), pipelineInput,
    select("f-factory", "Factory", [["", "All factories"], ...app.factories.map((f) => [f.name, f.name])], "factory"),
    select("f-range", "Time range", RANGES.map(([v, t]) => [v, t]), "range"),
    custom,
    h("span", { class: "check" }, auto, h("label", { for: "f-auto" }, "Auto-refresh")),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "button", onclick: () => reload() }, "Refresh"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    filters.pipeline = pipelineInput.value;
    filters.from = fromInput.value;
    filters.to = toInput.value;
    reload();
  });
  form.querySelector("#f-range").addEventListener("change", () => {
    custom.hidden = filters.range !== "custom";
  });
  auto.addEventListener("change", () => {
    filters.auto = auto.checked;
    schedule();
  });

  mount(main, h("h1", {}, "Pipeline runs"), form, count, table, more);

  function factoriesShown() {
    return filters.factory ? app.factories.filter((f) => f.name === filters.factory) : app.factories;
  }

  async function load(older) {
    if (busy) return;
    busy = true;
    try {
      const targets = older
        ? factoriesShown().filter((f) => tokens.get(f.name))
        : factoriesShown();
      if (older) {
        // Browsing older pages: a refresh would drop them, so it pauses.
        filters.auto = false;
        auto.checked = false;
        schedule();
      }
      const pages = await Promise.all(targets.map(async (f) => {
        const page = await app.api.queryRuns(f, queryBody(older ? tokens.get(f.name) : undefined));
        return [f, page];
      }));
      if (!older) {
        rows = [];
        tokens = new Map();
      }
      for (const [f, page] of pages) {
        tokens.set(f.name, page.continuationToken || null);
        for (const run of page.value || []) rows.push({ factory: f, run });
      }
      rows.sort((a, b) => String(b.run.runStart || "").localeCompare(String(a.run.runStart || "")));
      render();
    } catch (e) {
      app.failed(e);
    } finally {
      busy = false;
    }
  }

  function render() {
    mount(tbody, rows.length
      ? rows.map(({ factory, run }) => h("tr", { "data-run-id": run.runId },
        h("td", {}, run.pipelineName),
        h("td", {}, factory.name),
        h("td", {}, fmtTime(run.runStart)),
        h("td", {}, fmtDuration(runDuration(run))),
        h("td", {}, badge(run.status)),
        h("td", {}, (run.invokedBy && run.invokedBy.name) || ""),
        h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(factory.name)}/${encodeURIComponent(run.runId)}`,
          "aria-label": `Open run ${run.runId} of ${run.pipelineName}` }, h("code", {}, run.runId))),
        h("td", { class: "actions" }, actions(factory, run))))
      : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No runs in this range.")));
    const anyMore = [...tokens.values()].some(Boolean);
    more.hidden = !anyMore;
    count.textContent = `${rows.length} run${rows.length === 1 ? "" : "s"} shown${anyMore ? "; older runs can be loaded" : ""}.`;
  }

  function actions(factory, run) {
    const out = [];
    if (ACTIVE.has(run.status) && run.status !== "Canceling") {
      out.push(h("button", { type: "button", class: "small",
        "aria-label": `Cancel run ${run.runId}`,
        onclick: () => cancelRun(app, factory, run).then(() => load(false)) }, "Cancel"));
    }
    if (!ACTIVE.has(run.status)) {
      out.push(h("button", { type: "button", class: "small",
        "aria-label": `Rerun ${run.pipelineName} (run ${run.runId})`,
        onclick: () => rerunRun(app, factory, run, false) }, "Rerun"));
    }
    return out;
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = filters.auto ? setInterval(() => { if (!document.hidden) load(false); }, REFRESH_MS) : null;
  }

  function reload() {
    announce("");
    load(false);
  }

  app.onLeave(() => timer && clearInterval(timer));
  schedule();
  await load(false);
  if (!app.factories.length) {
    announce("This tenant has no factory yet: create one with the API (PUT .../factories/NAME).");
  }
}
