// Triggers and their runs: each factory's triggers with their state, and the trigger runs of
// the chosen time range (queryTriggerRuns), newest first.

import { badge, fmtTime, h, mount } from "./dom.js";

export async function triggersView(app, main) {
  await app.reloadFactories();
  const since = new Date(Date.now() - 7 * 86400e3).toISOString();
  const until = new Date(Date.now() + 60e3).toISOString();
  const per = await Promise.all(app.factories.map(async (f) => {
    const [triggers, runs] = await Promise.all([
      app.api.triggers(f),
      app.api.queryTriggerRuns(f, {
        lastUpdatedAfter: since,
        lastUpdatedBefore: until,
        orderBy: [{ orderBy: "TriggerRunTimestamp", order: "DESC" }],
      }).catch(() => ({ value: [] })),
    ]);
    return { f, triggers, runs: runs.value || [] };
  }));
  const triggers = per.flatMap(({ f, triggers: ts }) => ts.map((t) => ({ f, t })));
  const runs = per.flatMap(({ f, runs: rs }) => rs.map((r) => ({ f, r })))
    .sort((a, b) => String(b.r.triggerRunTimestamp).localeCompare(String(a.r.triggerRunTimestamp)));
  const th = (t) => h("th", { scope: "col" }, t);
  mount(main,
    h("h1", {}, "Triggers"),
    triggers.length
      ? h("table", { class: "triggers" },
        h("caption", {}, "Triggers of every factory"),
        h("thead", {}, h("tr", {}, ["Trigger", "Factory", "Type", "State", "Pipelines"].map(th))),
        h("tbody", {}, triggers.map(({ f, t }) => h("tr", {},
          h("td", {}, t.name), h("td", {}, f.name),
          h("td", {}, t.properties && t.properties.type),
          h("td", {}, badge((t.properties && t.properties.runtimeState) || "Stopped")),
          h("td", {}, ((t.properties && t.properties.pipelines) || [])
            .map((p) => p.pipelineReference && p.pipelineReference.referenceName).filter(Boolean).join(", "))))))
      : h("p", { class: "empty" }, "No triggers in any factory."),
    h("h2", {}, "Trigger runs (last 7 days)"),
    runs.length
      ? h("table", { class: "trigger-runs" },
        h("thead", {}, h("tr", {}, ["Time", "Trigger", "Factory", "Status", "Pipeline runs", "Message"].map(th))),
        h("tbody", {}, runs.map(({ f, r }) => h("tr", {},
          h("td", {}, fmtTime(r.triggerRunTimestamp)), h("td", {}, r.triggerName), h("td", {}, f.name),
          h("td", {}, badge(r.status)),
          h("td", {}, Object.entries(r.triggeredPipelines || {}).map(([p, id]) =>
            h("a", { href: `#/runs/${encodeURIComponent(f.name)}/${encodeURIComponent(id)}` }, `${p} `))),
          h("td", {}, r.message || "")))))
      : h("p", { class: "empty" }, "No trigger runs in the last 7 days."));
}
