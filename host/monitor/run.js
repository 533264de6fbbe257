// One pipeline run: its facts and parameters, its activity runs on a timeline, the selected
// activity's details (a Copy's figures, an error with the activity's input as the engine
// recorded it, secrets already masked there), and the Cancel and Rerun actions. SecureString
// parameters come from the API already masked.

import { ACTIVE, announce, badge, fmtBytes, fmtCount, fmtDuration, fmtTime, h, json, mount, runDuration } from "./dom.js";
import { timeline } from "./timeline.js";

const REFRESH_MS = 2000;

/** Cancels `run` after the user confirms; resolves whether it was asked. */
export async function cancelRun(app, factory, run) {
  if (!window.confirm(`Cancel the run of ${run.pipelineName} (${run.runId})?`)) return false;
  try {
    await app.api.cancel(factory, run.runId);
    announce(`Cancellation of run ${run.runId} requested.`);
    return true;
  } catch (e) {
    app.failed(e);
    return false;
  }
}

/** Reruns `run` (whole, or from its failed activity) and opens the new run. */
export async function rerunRun(app, factory, run, fromFailure) {
  try {
    const options = { referencePipelineRunId: run.runId };
    if (fromFailure) {
      options.isRecovery = "true";
      options.startFromFailure = "true";
    }
    const created = await app.api.createRun(factory, run.pipelineName, run.parameters || {}, options);
    announce(`${fromFailure ? "Rerun from the failed activity" : "Rerun"} started: run ${created.runId}.`);
    location.hash = `#/runs/${encodeURIComponent(factory.name)}/${encodeURIComponent(created.runId)}`;
  } catch (e) {
    app.failed(e);
  }
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A Copy activity's figures, as ADF Studio's copy details show them. */
function copyDetails(out) {
  const detail = (out.executionDetails && out.executionDetails[0]) || {};
  const source = (detail.source && detail.source.type) || "";
  const sink = (detail.sink && detail.sink.type) || "";
  const rows = [
    ["Source", source, "source"],
    ["Sink", sink, "sink"],
    ["Rows read", fmtCount(out.rowsRead), "rowsRead"],
    ["Rows written", fmtCount(out.rowsCopied), "rowsCopied"],
    ["Rows skipped", fmtCount(out.rowsSkipped), "rowsSkipped"],
    ["Data read", fmtBytes(out.dataRead), "dataRead"],
    ["Data written", fmtBytes(out.dataWritten), "dataWritten"],
    ["Throughput", out.throughput !== undefined ? `${Number(out.throughput).toFixed(1)} KB/s` : "", "throughput"],
    ["Copy duration", out.copyDuration !== undefined ? `${out.copyDuration} s` : "", "copyDuration"],
    ["Peak connections", out.sourcePeakConnections !== undefined
      ? `source ${out.sourcePeakConnections}, sink ${out.sinkPeakConnections}` : "", "peakConnections"],
    ["Parallel copies", out.usedParallelCopies, "usedParallelCopies"],
    ["Skipped rows log", out.logFilePath || "none", "logFilePath"],
  ];
  return h("section", { class: "copy", "aria-labelledby": "copy-title" },
    h("h3", { id: "copy-title" }, "Copy details"),
    h("table", { class: "copy-figures" },
      h("tbody", {}, rows.map(([k, v, key]) => h("tr", { "data-field": key },
        h("th", { scope: "row" }, k), h("td", {}, v === undefined || v === null ? "" : String(v)))))),
    (out.errors || []).length
      ? h("div", {}, h("h4", {}, "Row errors"), h("pre", {}, json(out.errors)))
      : null);
}

function activityDetails(a) {
  const err = a.error || {};
  const hasError = Boolean(err.message);
  const out = a.output || {};
  return h("section", { class: "detail", id: "activity-detail", "aria-labelledby": "detail-title", tabindex: "-1" },
    h("h2", { id: "detail-title" }, `${a.activityName} `, h("span", { class: "muted" }, a.activityType)),
    facts([
      ["Status", badge(a.status)],
      ["Started", fmtTime(a.activityRunStart)],
      ["Ended", fmtTime(a.activityRunEnd)],
      ["Duration", fmtDuration(a.durationInMs)],
      ["Activity run ID", h("code", {}, a.activityRunId)],
    ]),
    hasError ? h("section", { class: "error-box", "aria-labelledby": "error-title" },
      h("h3", { id: "error-title" }, "Error"),
      facts([["Code", err.errorCode], ["Failure type", err.failureType], ["Target", err.target]]),
      h("pre", { class: "error-text" }, err.message)) : null,
    a.activityType === "Copy" && a.output ? copyDetails(out) : null,
    h("details", { open: hasError },
      h("summary", {}, "Input"),
      h("pre", { class: "input" }, json(a.input ?? {}))),
    h("details", {},
      h("summary", {}, "Output"),
      h("pre", { class: "output" }, json(a.output ?? {}))));
}

export async function runView(app, main, factoryName, runId) {
  let factory = app.factoryByName(factoryName);
  if (!factory) {
    await app.reloadFactories();
    factory = app.factoryByName(factoryName);
  }
  if (!factory) {
    mount(main, h("h1", {}, "Run not found"),
      h("p", { class: "error", role: "alert" }, `No factory named '${factoryName}' is visible with this token.`),
      h("a", { href: "#/runs" }, "Back to pipeline runs"));
    return;
  }
  let selected = null;
  let timer = null;
  let shown = null;
  const header = h("div");
  const chart = h("div");
  const detail = h("div");
  mount(main, h("p", {}, h("a", { href: "#/runs" }, "← Pipeline runs")), header, chart, detail);

  function select(id) {
    selected = id;
    render();
    const el = document.getElementById("activity-detail");
    if (el) el.focus();
  }

  function render() {
    const { run, activities } = shown;
    renderHeader(run);
    mount(chart, h("h2", {}, "Activity runs"),
      timeline(activities, run.runStart, run.runEnd, selected, select));
    const a = activities.find((x) => x.activityRunId === selected);
    mount(detail, a ? activityDetails(a) : h("p", { class: "muted" }, "Select an activity to see its details."));
  }

  async function refresh(first) {
    let run;
    let activities;
    try {
      [run, activities] = await Promise.all([
        app.api.run(factory, runId),
        app.api.activityRuns(factory, runId),
      ]);
    } catch (e) {
      if (first && e.status === 404) {
        mount(main, h("h1", {}, "Run not found"),
          h("p", { class: "error", role: "alert" }, e.message),
          h("a", { href: "#/runs" }, "Back to pipeline runs"));
        return false;
      }
      app.failed(e);
      return true;
    }
    if (!selected) {
      const failed = activities.find((a) => a.status === "Failed");
      selected = failed ? failed.activityRunId : null;
    }
    shown = { run, activities };
    render();
    return ACTIVE.has(run.status);
  }

  function renderHeader(run) {
    const params = Object.entries(run.parameters || {});
    const buttons = [];
    if (ACTIVE.has(run.status) && run.status !== "Canceling") {
      buttons.push(h("button", { type: "button", id: "cancel-run",
        onclick: async () => { if (await cancelRun(app, factory, run)) tick(false); } }, "Cancel run"));
    }
    if (!ACTIVE.has(run.status)) {
      buttons.push(h("button", { type: "button", id: "rerun", onclick: () => rerunRun(app, factory, run, false) }, "Rerun"));
    }
    if (run.status === "Failed") {
      buttons.push(h("button", { type: "button", id: "rerun-failed",
        onclick: () => rerunRun(app, factory, run, true) }, "Rerun from failed activity"));
    }
    mount(header,
      h("h1", {}, run.pipelineName, " ", h("span", { id: "run-status" }, badge(run.status))),
      h("div", { class: "toolbar" }, buttons),
      facts([
        ["Run ID", h("code", {}, run.runId)],
        ["Factory", factory.name],
        ["Started", fmtTime(run.runStart)],
        ["Ended", fmtTime(run.runEnd)],
        ["Duration", fmtDuration(runDuration(run))],
        ["Triggered by", run.invokedBy ? `${run.invokedBy.name} (${run.invokedBy.invokedByType || ""})` : ""],
        ["Run group", run.runGroupId],
        ["Message", run.message],
      ]),
      params.length ? h("table", { class: "params" },
        h("caption", {}, "Parameters"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
        h("tbody", {}, params.map(([k, v]) => h("tr", {},
          h("th", { scope: "row" }, k),
          h("td", {}, typeof v === "string" ? v : JSON.stringify(v)))))) : null);
  }

  let left = false;
  async function tick(first) {
    if (timer) clearTimeout(timer);
    let going = true;
    try {
      going = await refresh(first);
    } catch (e) {
      app.failed(e);
    }
    // Polled while the run goes on, whatever one refresh met.
    timer = going && !left ? setTimeout(() => tick(false), REFRESH_MS) : null;
  }

  app.onLeave(() => {
    left = true;
    if (timer) clearTimeout(timer);
  });
  await tick(true);
}
