// A run's activities as a Gantt-style timeline: one row per activity run, its bar placed by
// start and end on the run's time axis, coloured and labelled by status. Each row is a button,
// so the timeline works from the keyboard (Tab, Enter) as well as the mouse.

import { badge, fmtDuration, fmtTime, h } from "./dom.js";

const ms = (iso) => (iso ? new Date(iso).getTime() : NaN);

/**
 * The timeline element for `activities` of a run that started at `runStart` and ended at
 * `runEnd` (now, when still going); `selected` is the activity run id shown in detail.
 */
export function timeline(activities, runStart, runEnd, selected, onSelect) {
  const now = Date.now();
  const starts = activities.map((a) => ms(a.activityRunStart)).filter(Number.isFinite);
  // A queued run has no start yet: its axis starts now.
  const t0 = Math.min(ms(runStart) || now, ...starts);
  const ends = activities.map((a) => ms(a.activityRunEnd) || now);
  const t1 = Math.max(ms(runEnd) || now, ...ends, t0 + 1000);
  const span = t1 - t0;
  const pct = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;

  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "tick", style: { left: `${f * 100}%` } },
    f === 0 ? fmtTime(new Date(t0).toISOString()) : `+${fmtDuration(f * span)}`));
  const rows = activities.map((a) => {
    const start = ms(a.activityRunStart);
    const end = ms(a.activityRunEnd) || now;
    const left = Number.isFinite(start) ? start : t0;
    const width = Math.max(0.4, ((end - left) / span) * 100);
    const label = `${a.activityName} (${a.activityType}), ${a.status}, ${fmtDuration(a.durationInMs ?? end - left)}`;
    return h("li", { class: "gantt-row" },
      h("button", {
        type: "button",
        class: `gantt-label${a.activityRunId === selected ? " selected" : ""}`,
        "aria-pressed": a.activityRunId === selected ? "true" : "false",
        "aria-label": `Details of activity ${label}`,
        "data-activity": a.activityName,
        onclick: () => onSelect(a.activityRunId),
      }, h("span", { class: "name" }, a.activityName), h("span", { class: "type muted" }, a.activityType)),
      h("div", { class: "gantt-track", "aria-hidden": "true" },
        h("div", {
          class: `gantt-bar s-${String(a.status).toLowerCase()}`,
          style: { left: pct(left), width: `${Math.min(width, 100)}%` },
          title: label,
        })),
      h("span", { class: "gantt-status" }, badge(a.status), " ", fmtDuration(a.durationInMs ?? end - left)));
  });
  return h("figure", { class: "gantt" },
    h("figcaption", {}, "Activity runs on the run's timeline"),
    h("div", { class: "gantt-axis", "aria-hidden": "true" }, ticks),
    rows.length ? h("ol", { class: "gantt-rows" }, rows) : h("p", { class: "empty" }, "No activity has run yet."));
}
