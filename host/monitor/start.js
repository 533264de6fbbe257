// Start a pipeline run: pick a factory and a pipeline, fill in its declared parameters
// (typed as the pipeline declares them, defaults filled in), and createRun.

import { announce, h, mount } from "./dom.js";

/** A form value as the parameter's declared type wants it in the createRun body. */
function typed(type, text) {
  switch (String(type).toLowerCase()) {
    case "int": {
      if (!/^\s*-?\d+\s*$/.test(text)) throw new Error(`'${text}' is not an Int`);
      return Number.parseInt(text, 10);
    }
    case "float": {
      const v = Number(text);
      if (text.trim() === "" || !Number.isFinite(v)) throw new Error(`'${text}' is not a Float`);
      return v;
    }
    case "bool": {
      const t = text.trim().toLowerCase();
      if (t !== "true" && t !== "false") throw new Error(`'${text}' is not a Bool (true or false)`);
      return t === "true";
    }
    case "array":
    case "object":
      return JSON.parse(text);
    default:
      return text;
  }
}

function defaultText(p) {
  if (p.defaultValue === undefined || p.defaultValue === null) return "";
  return typeof p.defaultValue === "string" ? p.defaultValue : JSON.stringify(p.defaultValue);
}

export async function startView(app, main, factoryName, pipelineName) {
  await app.reloadFactories();
  if (!app.factories.length) {
    mount(main, h("h1", {}, "Start a run"), h("p", {}, "This tenant has no factory yet."));
    return;
  }
  const factory = app.factoryByName(factoryName) || app.factories[0];
  const pipelines = await app.api.pipelines(factory);
  const pipeline = pipelines.find((p) => p.name === pipelineName) || pipelines[0];

  const factorySelect = h("select", { id: "s-factory", name: "factory" },
    app.factories.map((f) => h("option", { value: f.name, selected: f.name === factory.name }, f.name)));
  const pipelineSelect = h("select", { id: "s-pipeline", name: "pipeline" },
    pipelines.map((p) => h("option", { value: p.name, selected: pipeline && p.name === pipeline.name }, p.name)));
  factorySelect.addEventListener("change", () => {
    if (factorySelect.value === factory.name) return;
    location.hash = `#/start/${encodeURIComponent(factorySelect.value)}`;
  });
  pipelineSelect.addEventListener("change", () => {
    if (pipeline && pipelineSelect.value === pipeline.name) return;
    location.hash = `#/start/${encodeURIComponent(factory.name)}/${encodeURIComponent(pipelineSelect.value)}`;
  });

  const declared = Object.entries((pipeline && pipeline.properties && pipeline.properties.parameters) || {});
  const fields = declared.map(([name, p], i) => {
    const id = `p-${i}`;
    const type = (p && p.type) || "String";
    const secure = String(type).toLowerCase() === "securestring";
    const input = h("input", {
      id, name, "data-type": type, type: secure ? "password" : "text", autocomplete: "off",
      value: defaultText(p || {}), "aria-describedby": `${id}-type`,
    });
    return [h("label", { for: id }, name), input,
      h("span", { id: `${id}-type`, class: "muted" }, `${type}${p && p.defaultValue !== undefined ? "" : ", required"}`)];
  });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "start", "aria-labelledby": "start-title" },
    h("div", { class: "grid" },
      h("label", { for: "s-factory" }, "Factory"), factorySelect, h("span"),
      h("label", { for: "s-pipeline" }, "Pipeline"), pipelineSelect, h("span"),
      fields),
    h("button", { type: "submit", id: "start-run", disabled: !pipeline }, "Start run"),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const parameters = {};
    try {
      for (const input of form.querySelectorAll("input[data-type]")) {
        if (input.value === "" && String(input.dataset.type).toLowerCase() !== "string") continue;
        parameters[input.name] = typed(input.dataset.type, input.value);
      }
    } catch (err) {
      error.textContent = `Parameter: ${err.message}`;
      return;
    }
    try {
      const created = await app.api.createRun(factory, pipeline.name, parameters);
      announce(`Run ${created.runId} of ${pipeline.name} queued.`);
      location.hash = `#/runs/${encodeURIComponent(factory.name)}/${encodeURIComponent(created.runId)}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });
  mount(main, h("h1", { id: "start-title" }, "Start a run"),
    pipelines.length ? form : h("p", {}, `Factory '${factory.name}' has no pipeline.`));
}
