// Browser tests of the Monitor page (issue 18) in real headless Chromium (Debian's
// /usr/bin/chromium) driven by Playwright. tests/e2e/monitor_page.rs starts `sluice serve`
// (TLS, embedded workers, two tenants) and runs this script with:
//   SLUICE_URL, SLUICE_TOKEN_A, SLUICE_TOKEN_B, SLUICE_SUB_B, SLUICE_PG_CONNECTION,
//   SLUICE_SCHEMA, SCREENSHOTS (a folder), NODE_EXTRA_CA_CERTS (the test CA, for fetch).
// It sets tenant A's factory up through the REST API, then uses the page as a person would,
// checking what the page shows against what the API answers. It prints "monitor: all passed".

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (tests/e2e/monitor_page.rs sets it)`);
  return v;
};
const URL_ = env("SLUICE_URL");
const TOKEN_A = env("SLUICE_TOKEN_A");
const TOKEN_B = env("SLUICE_TOKEN_B");
const SUB_B = env("SLUICE_SUB_B");
const PG = env("SLUICE_PG_CONNECTION");
const SCHEMA = env("SLUICE_SCHEMA");
const SHOTS = env("SCREENSHOTS");
const SECRET = "S3cret-Monitor-4711";
const V = "api-version=2018-06-01";

mkdirSync(SHOTS, { recursive: true });

async function api(token, method, path, body) {
  const sep = path.includes("?") ? "&" : "?";
  const url = path.includes("api-version") ? `${URL_}${path}` : `${URL_}${path}${sep}${V}`;
  const res = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}
async function ok(token, method, path, body) {
  const r = await api(token, method, path, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

// ---- Tenant A's factory, set up through the API -------------------------------------------
const subA = (await ok(TOKEN_A, "GET", "/subscriptions?api-version=2020-01-01")).value[0].subscriptionId;
const F = `/subscriptions/${subA}/resourceGroups/rg-monitor/providers/Microsoft.DataFactory/factories/monitor-a`;
await ok(TOKEN_A, "PUT", F, { location: "local" });
await ok(TOKEN_A, "PUT", `${F}/linkedservices/Pg`, { properties: {
  type: "AzurePostgreSql", typeProperties: { connectionString: { type: "SecureString", value: PG } } } });
for (const [name, table] of [["Source", "source"], ["Sink", "sink"], ["Later", "later"]]) {
  await ok(TOKEN_A, "PUT", `${F}/datasets/${name}`, { properties: {
    type: "AzurePostgreSqlTable",
    linkedServiceName: { referenceName: "Pg", type: "LinkedServiceReference" },
    typeProperties: { schema: SCHEMA, table } } });
}
const copy = (name, input, source, extra = {}) => ({
  name, type: "Copy",
  inputs: [{ referenceName: input, type: "DatasetReference" }],
  outputs: [{ referenceName: "Sink", type: "DatasetReference" }],
  typeProperties: { source: { type: "AzurePostgreSqlSource", ...source },
    sink: { type: "AzurePostgreSqlSink", preCopyScript: `TRUNCATE "${SCHEMA}".sink` } },
  ...extra });
const script = (name, text, extra = {}) => ({
  name, type: "Script", linkedServiceName: { referenceName: "Pg", type: "LinkedServiceReference" },
  typeProperties: { scripts: [{ type: "NonQuery", text }] }, ...extra });
const pipelines = {
  CopyRows: { parameters: { note: { type: "String", defaultValue: "from the page" }, batch: { type: "Int", defaultValue: 1 } },
    activities: [copy("CopyRows", "Source", {})] },
  Long: { activities: [{ name: "Sleep", type: "Wait", typeProperties: { waitTimeInSeconds: 120 } }] },
  Recover: { parameters: { pw: { type: "SecureString" } },
    activities: [
      script("Prepare", "SELECT 1"),
      copy("CopyLater", "Later",
        { query: `SELECT id, name FROM "${SCHEMA}".later WHERE name <> '@{pipeline().parameters.pw}'` },
        { dependsOn: [{ activity: "Prepare", dependencyConditions: ["Succeeded"] }] }),
    ] },
  MakeLater: { activities: [script("Create",
    `CREATE TABLE "${SCHEMA}".later (id int PRIMARY KEY, name text); INSERT INTO "${SCHEMA}".later VALUES (7, 'late')`)] },
};
for (const [name, properties] of Object.entries(pipelines)) {
  await ok(TOKEN_A, "PUT", `${F}/pipelines/${name}`, { properties });
}
await ok(TOKEN_A, "PUT", `${F}/triggers/Nightly`, { properties: {
  type: "ScheduleTrigger",
  typeProperties: { recurrence: { frequency: "Day", interval: 1, startTime: "2026-01-01T02:00:00Z", timeZone: "UTC" } },
  pipelines: [{ pipelineReference: { referenceName: "CopyRows", type: "PipelineReference" } }] } });

async function waitRun(runId, statuses, seconds = 90) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const run = await ok(TOKEN_A, "GET", `${F}/pipelineruns/${runId}`);
    if (statuses.includes(run.status)) return run;
    assert.ok(Date.now() < until, `run ${runId} still ${run.status} after ${seconds}s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
async function activities(runId) {
  return (await ok(TOKEN_A, "POST", `${F}/pipelineruns/${runId}/queryActivityruns`, {
    lastUpdatedAfter: "2000-01-01T00:00:00Z", lastUpdatedBefore: "2100-01-01T00:00:00Z" })).value;
}

// ---- The browser ----------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const failures = [];
const pages = [];
const newPage = async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  pages.push(page);
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  // Chromium logs every non-2xx answer as "Failed to load resource"; the page handles those
  // (a refused token is a step below). Any other console error is a failure.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) failures.push(`console: ${m.text()}`);
  });
  return page;
};
const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const status = (page, s, timeout = 90000) =>
  page.locator("#run-status").filter({ hasText: new RegExp(`^${s}$`) }).waitFor({ timeout });
const step = (name) => console.log(`-- ${name}`);

try {
  const page = await newPage();

  step("sign in with a #token= link: the token leaves the address bar");
  await page.goto(`${URL_}/#token=${encodeURIComponent(TOKEN_A)}`);
  await page.getByRole("heading", { name: "Pipeline runs" }).waitFor();
  assert.ok(!page.url().includes(TOKEN_A), `the token stayed in ${page.url()}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("sluice.token")), TOKEN_A);
  assert.match(await page.locator("#who").textContent(), /Tenant monitor-a-tenant/);

  step("start a pipeline with parameters from the page; the run appears and finishes");
  await page.getByRole("link", { name: "Start a run" }).click();
  await page.getByRole("heading", { name: "Start a run" }).waitFor();
  await page.getByLabel("Pipeline", { exact: true }).selectOption("CopyRows");
  await page.getByLabel("note").fill("typed in the browser");
  await page.getByLabel("batch").fill("3");
  await page.getByRole("button", { name: "Start run" }).click();
  await page.waitForURL(/#\/runs\/monitor-a\/[0-9a-f-]{36}$/);
  const copyRunId = page.url().split("/").pop();
  await status(page, "Succeeded");
  const copyRun = await ok(TOKEN_A, "GET", `${F}/pipelineruns/${copyRunId}`);
  assert.equal(copyRun.parameters.note, "typed in the browser");
  assert.equal(Number(copyRun.parameters.batch), 3);
  await shot(page, "run-succeeded");

  step("the Copy details match the API's activity output");
  await page.locator('button[data-activity="CopyRows"]').focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Copy details" }).waitFor();
  const [copyAct] = (await activities(copyRunId)).filter((a) => a.activityName === "CopyRows");
  const out = copyAct.output;
  assert.ok(out.rowsRead > 0, JSON.stringify(out));
  const field = async (f) => (await page.locator(`tr[data-field="${f}"] td`).textContent()).trim();
  assert.equal(await field("rowsRead"), out.rowsRead.toLocaleString("en-US"));
  assert.equal(await field("rowsCopied"), out.rowsCopied.toLocaleString("en-US"));
  assert.equal(await field("rowsSkipped"), String(out.rowsSkipped));
  assert.equal(await field("copyDuration"), `${out.copyDuration} s`);
  assert.equal(await field("throughput"), `${out.throughput.toFixed(1)} KB/s`);
  assert.equal(await field("source"), out.executionDetails[0].source.type);
  assert.equal(await field("sink"), out.executionDetails[0].sink.type);
  assert.equal(await field("peakConnections"), `source ${out.sourcePeakConnections}, sink ${out.sinkPeakConnections}`);
  assert.match(await field("dataRead"), /^\d+(\.\d)? (B|KiB|MiB)$/);
  await shot(page, "copy-details");

  step("cancel a long run from the page");
  const longId = (await ok(TOKEN_A, "POST", `${F}/pipelines/Long/createRun`, {})).runId;
  await waitRun(longId, ["InProgress"]);
  await page.goto(`${URL_}/#/runs/monitor-a/${longId}`);
  await status(page, "InProgress");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Cancel run" }).click();
  await status(page, "Cancelled", 30000);
  assert.equal((await ok(TOKEN_A, "GET", `${F}/pipelineruns/${longId}`)).status, "Cancelled");
  await shot(page, "run-cancelled");

  step("a failed run shows its error and input, the secret masked");
  const failedId = (await ok(TOKEN_A, "POST", `${F}/pipelines/Recover/createRun`, { pw: SECRET })).runId;
  await page.goto(`${URL_}/#/runs/monitor-a/${failedId}`);
  await status(page, "Failed");
  await page.locator(".error-text").waitFor();
  const errorText = await page.locator(".error-text").textContent();
  assert.match(errorText, /later/, errorText);
  const input = await page.locator("pre.input").textContent();
  assert.ok(input.includes("***"), input);
  const whole = await page.locator("body").textContent();
  assert.ok(!whole.includes(SECRET), "the SecureString parameter is on the page");
  const shown = await ok(TOKEN_A, "GET", `${F}/pipelineruns/${failedId}`);
  assert.equal(shown.parameters.pw, "**********", "the API shows the SecureString parameter");
  await shot(page, "run-failed");

  step("rerun the failed run from its failed activity once the table exists");
  const makeId = (await ok(TOKEN_A, "POST", `${F}/pipelines/MakeLater/createRun`, {})).runId;
  await waitRun(makeId, ["Succeeded", "Failed"]).then((r) => assert.equal(r.status, "Succeeded", JSON.stringify(r)));
  await page.getByRole("button", { name: "Rerun from failed activity" }).click();
  await page.waitForURL((u) => !u.toString().endsWith(failedId));
  const rerunId = page.url().split("/").pop();
  await status(page, "Succeeded");
  assert.equal(await page.locator('button[data-activity="Prepare"]').count(), 0, "the rerun ran Prepare again");
  assert.equal(await page.locator('button[data-activity="CopyLater"]').count(), 1);
  const rerun = await ok(TOKEN_A, "GET", `${F}/pipelineruns/${rerunId}`);
  const original = await ok(TOKEN_A, "GET", `${F}/pipelineruns/${failedId}`);
  assert.equal(rerun.runGroupId, original.runGroupId);
  await shot(page, "rerun-succeeded");

  step("the runs list: every run, a status filter, and older pages through the continuation token");
  await page.goto(`${URL_}/#/runs`);
  await page.locator("tr[data-run-id]").first().waitFor();
  const ours = [copyRunId, longId, failedId, makeId, rerunId];
  // The server pages 2 runs a query (serve --query-page-size 2): older ones come on request.
  assert.equal(await page.locator("tr[data-run-id]").count(), 2);
  for (let pages = 1; await page.locator("#load-more").isVisible(); pages++) {
    assert.ok(pages < 10, "Load older runs never ran out");
    const before = await page.locator("tr[data-run-id]").count();
    await page.locator("#load-more").click();
    await page.waitForFunction((n) => document.querySelectorAll("tr[data-run-id]").length > n, before);
  }
  for (const id of ours) await page.locator(`tr[data-run-id="${id}"]`).waitFor({ timeout: 10000 });
  assert.equal(await page.locator("#f-auto").isChecked(), false, "auto-refresh did not pause for paging");
  await shot(page, "runs");
  await page.getByLabel("Status").selectOption("Failed");
  await page.locator(`tr[data-run-id="${failedId}"]`).waitFor();
  await page.locator(`tr[data-run-id="${copyRunId}"]`).waitFor({ state: "detached" });
  const statuses = await page.locator("tbody tr .badge").allTextContents();
  assert.ok(statuses.length > 0 && statuses.every((s) => s === "Failed"), statuses.join(","));
  await page.getByLabel("Status").selectOption("");

  step("triggers");
  await page.getByRole("link", { name: "Trigger runs" }).click();
  await page.getByRole("heading", { name: "Triggers" }).waitFor();
  await page.getByRole("cell", { name: "Nightly" }).waitFor();
  await shot(page, "triggers");

  step("a second tenant sees none of the first tenant's runs");
  const other = await newPage();
  await other.goto(`${URL_}/`);
  await other.getByLabel("Tenant token").fill(TOKEN_B);
  await other.getByRole("button", { name: "Sign in" }).click();
  await other.getByRole("heading", { name: "Pipeline runs" }).waitFor();
  await other.getByText("This tenant has no factory yet").waitFor();
  assert.equal(await other.locator("tr[data-run-id]").count(), 0);
  await other.goto(`${URL_}/#/runs/monitor-a/${copyRunId}`);
  await other.getByRole("heading", { name: "Run not found" }).waitFor();
  const body = await other.locator("body").textContent();
  for (const id of ours) assert.ok(!body.includes(id), `tenant B's page shows run ${id}`);
  await shot(other, "tenant-b");
  // And the API the page uses refuses B on A's subscription and A's runs.
  const cross = await api(TOKEN_B, "GET", `${F}/pipelineruns/${copyRunId}`);
  assert.ok([403, 404].includes(cross.status), `B read A's run: ${cross.status}`);
  const own = await api(TOKEN_B, "GET", `/subscriptions/${SUB_B}/providers/Microsoft.DataFactory/factories`);
  assert.equal(own.status, 200);
  assert.equal(own.json.value.length, 0);

  step("a refused token lands on the sign-in form with the reason");
  const bad = await newPage();
  await bad.goto(`${URL_}/#token=not-a-token`);
  await bad.getByText(/token was refused/).waitFor();
  assert.equal(await bad.getByRole("link", { name: "Start a run" }).count(), 0, "the views' links show signed out");
  assert.equal(await bad.evaluate(() => sessionStorage.getItem("sluice.token")), null);
  await shot(bad, "sign-in-refused");

  assert.deepEqual(failures, [], "errors in the page");
} catch (e) {
  // What each page showed when the test failed: a screenshot and its text.
  for (const [i, p] of pages.entries()) {
    await p.screenshot({ path: join(SHOTS, `failure-${i}.png`), fullPage: true }).catch(() => {});
    const text = await p.locator("body").innerText().catch(() => "");
    console.log(`--- page ${i} at ${p.url()}:\n${text}\n--- page errors: ${failures.join("; ")}`);
  }
  throw e;
} finally {
  await browser.close();
}
console.log("monitor: all passed");
