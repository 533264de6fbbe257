// The REST client of the Monitor page: every call goes to this server's public ADF
// management API with the tenant's bearer token, exactly as Microsoft's SDKs would call it.

const VERSION = "api-version=2018-06-01";

/** An API answer that was not 2xx: its HTTP status, ARM error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const enc = encodeURIComponent;

/** A factory's resource id as a request path, each segment percent-encoded. */
const base = (factory) => factory.id.split("/").map(enc).join("/");

export class Api {
  constructor(token) {
    this.token = token;
    this.subscription = null;
  }

  async request(method, path, body) {
    let url = path;
    if (!/[?&]api-version=/.test(url)) url += (url.includes("?") ? "&" : "?") + VERSION;
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const e = json && json.error ? json.error : {};
      throw new ApiError(response.status, e.code || String(response.status), e.message || text || response.statusText);
    }
    return json;
  }

  /** Every item of a list, following `nextLink` (same origin only). */
  async all(path) {
    const items = [];
    let next = path;
    for (let pages = 0; next && pages < 100; pages++) {
      const page = await this.request("GET", next);
      items.push(...(page.value || []));
      next = page.nextLink ? new URL(page.nextLink, location.origin) : null;
      if (next && next.origin !== location.origin) next = null;
      if (next) next = next.pathname + next.search;
    }
    return items;
  }

  /** The token's subscription (ARM's Subscriptions - List). */
  async signIn() {
    const page = await this.request("GET", "/subscriptions?api-version=2020-01-01");
    const sub = (page.value || [])[0];
    if (!sub) throw new ApiError(403, "NoSubscription", "this token reaches no subscription");
    this.subscription = sub;
    return sub;
  }

  factories() {
    return this.all(`/subscriptions/${enc(this.subscription.subscriptionId)}/providers/Microsoft.DataFactory/factories`);
  }

  queryRuns(factory, filter) {
    return this.request("POST", `${base(factory)}/queryPipelineRuns`, filter);
  }

  run(factory, runId) {
    return this.request("GET", `${base(factory)}/pipelineruns/${enc(runId)}`);
  }

  /** Every activity run of a run (following continuation tokens). */
  async activityRuns(factory, run) {
    const out = [];
    const body = {
      lastUpdatedAfter: "1970-01-01T00:00:00Z",
      lastUpdatedBefore: new Date(Date.now() + 86400000).toISOString(),
      orderBy: [{ orderBy: "ActivityRunStart", order: "ASC" }],
    };
    for (let pages = 0; pages < 50; pages++) {
      const page = await this.request("POST", `${base(factory)}/pipelineruns/${enc(run)}/queryActivityruns`, body);
      out.push(...(page.value || []));
      if (!page.continuationToken) break;
      body.continuationToken = page.continuationToken;
    }
    return out;
  }

  cancel(factory, runId) {
    return this.request("POST", `${base(factory)}/pipelineruns/${enc(runId)}/cancel?isRecursive=true&${VERSION}`);
  }

  /** createRun; `options` holds referencePipelineRunId, isRecovery, startFromFailure... */
  createRun(factory, pipeline, parameters, options = {}) {
    const query = Object.entries(options)
      .filter(([, v]) => v !== undefined && v !== null && v !== "")
      .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
    query.push(VERSION);
    return this.request("POST", `${base(factory)}/pipelines/${enc(pipeline)}/createRun?${query.join("&")}`, parameters || {});
  }

  pipelines(factory) {
    return this.all(`${base(factory)}/pipelines`);
  }

  triggers(factory) {
    return this.all(`${base(factory)}/triggers`);
  }

  queryTriggerRuns(factory, filter) {
    return this.request("POST", `${base(factory)}/queryTriggerRuns`, filter);
  }
}
