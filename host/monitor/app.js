// The Monitor page's shell: sign-in with a tenant token (typed once and kept in this tab's
// session storage, or taken from a `#token=...` link and then removed from the address bar),
// the tenant's factories, and the routes between the views.

import { Api, ApiError } from "./api.js";
import { announce, h, mount } from "./dom.js";
import { runsView } from "./runs.js";
import { runView } from "./run.js";
import { startView } from "./start.js";
import { triggersView } from "./triggers.js";

const TOKEN_KEY = "sluice.token";
const main = document.getElementById("main");

/** What the views share: the API client, the factories, and a way to stop timers. */
const app = {
  api: null,
  factories: [],
  stoppers: [],
  factoryByName(name) {
    return this.factories.find((f) => f.name === name) || null;
  },
  onLeave(stop) {
    this.stoppers.push(stop);
  },
  async reloadFactories() {
    this.factories = await this.api.factories();
    return this.factories;
  },
};

function takeTokenFromFragment() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  // The token must not stay in the address bar, the history or a bookmark.
  history.replaceState(null, "", location.pathname + location.search + "#/runs");
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  app.api = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  loginView(message);
}

function loginView(message) {
  leave();
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("label", { for: "token" }, "Tenant token"),
    input,
    h("p", { id: "token-help", class: "muted" },
      "The token `sluice tenant create` printed. It is kept in this browser tab only."),
    h("button", { type: "submit" }, "Sign in"),
    error);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  mount(main, form);
  input.focus();
}

function leave() {
  for (const stop of app.stoppers.splice(0)) stop();
}

async function route() {
  leave();
  if (!app.api) return;
  const path = (location.hash.replace(/^#\/?/, "") || "runs").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === path[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (path[0] === "runs" && path.length === 3) await runView(app, main, path[1], path[2]);
    else if (path[0] === "triggers") await triggersView(app, main);
    else if (path[0] === "start") await startView(app, main, path[1], path[2]);
    else await runsView(app, main);
  } catch (e) {
    failed(e);
  }
}

/** A failed call: a refused token signs out; anything else is said on the page. */
function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut("The token was refused (401). Sign in again.");
    return;
  }
  const text = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e && e.message ? e.message : e);
  announce(text, "error");
}

async function start() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    loginView();
    return;
  }
  app.api = new Api(token);
  try {
    const sub = await app.api.signIn();
    await app.reloadFactories();
    document.getElementById("who").textContent = `Tenant ${sub.displayName}`;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      signOut(`The token was refused: ${e.message}`);
    } else {
      app.api = null;
      loginView(`Cannot reach the API: ${e.message}`);
    }
    return;
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/runs");
  await route();
}

app.failed = failed;
document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", () => {
  if (/^#token=/.test(location.hash)) {
    takeTokenFromFragment();
    start();
  } else {
    route();
  }
});
takeTokenFromFragment();
start();
