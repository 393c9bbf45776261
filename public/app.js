// The Call API button. The session cookie is HttpOnly, so this script never sees it: it only
// learns whether the API answered (200), asked for a login (401), or redirected (opaque).
"use strict";

function show(result, node) {
  result.replaceChildren(node);
}

// A sentence and a link: the answer shown when the API wants a (stronger) login.
function prompt(id, text, linkText, linkId, href) {
  const box = document.createElement("p");
  box.id = id;
  box.append(text + " ");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = linkText;
  link.id = linkId;
  box.append(link);
  return box;
}

function loginPrompt(loginUrl) {
  return prompt("login-prompt", "You are not logged in.", "Log in", "login-again", loginUrl);
}

// An API behind the gateway asked for a stronger sign-in (RFC 9470 step-up): the BFF answered
// 401 {"error":"step_up_required","login_url":"/login?acr_values=…"}.
function stepUpPrompt(loginUrl) {
  return prompt("step-up-prompt", "This needs a stronger sign-in.", "Sign in again", "step-up", loginUrl);
}

function here() {
  return window.location.pathname + window.location.search;
}

function currentLoginUrl() {
  return "/login?returnTo=" + encodeURIComponent(here());
}

// The BFF's step-up link, kept only when it is one of its own /login URLs, with returnTo added.
function stepUpLoginUrl(loginUrl) {
  if (typeof loginUrl !== "string" || !/^\/login(\?|$)/.test(loginUrl)) {
    return null;
  }
  const separator = loginUrl.includes("?") ? "&" : "?";
  return loginUrl + separator + "returnTo=" + encodeURIComponent(here());
}

async function callApi(path) {
  const result = document.getElementById("api-result");
  try {
    const response = await fetch(path, {
      credentials: "same-origin",
      redirect: "manual",
      // X-CSRF: the BFF refuses API calls that change something without it; sent on every
      // call so a POST added later works the same.
      headers: { Accept: "application/json", "X-CSRF": "1" },
    });
    if (response.ok) {
      const pre = document.createElement("pre");
      pre.id = "api-json";
      pre.textContent = JSON.stringify(await response.json(), null, 2);
      show(result, pre);
    } else if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      const stepUp = body.error === "step_up_required" ? stepUpLoginUrl(body.login_url) : null;
      show(result, stepUp ? stepUpPrompt(stepUp) : loginPrompt(currentLoginUrl()));
    } else if (response.type === "opaqueredirect") {
      show(result, loginPrompt(currentLoginUrl()));
    } else {
      const p = document.createElement("p");
      p.id = "api-error";
      const body = await response.json().catch(() => ({}));
      p.textContent = "The API answered " + response.status + (body.message ? ": " + body.message : ".");
      show(result, p);
    }
  } catch (error) {
    const p = document.createElement("p");
    p.id = "api-error";
    p.textContent = "The API could not be reached.";
    show(result, p);
  }
}

// The session's clock (GET /session, which never extends it): the time left, a warning a
// minute before the end with "Stay signed in" (POST /session/extend) when the idle limit comes
// first, and the login prompt once it has ended, without waiting for a failed call.
const WARN_BEFORE_SECS = 60;

async function readSession(method, path) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRF": "1" },
  });
  if (!response.ok) {
    return null;
  }
  const body = await response.json();
  // The server's clock, from its Date header, so a wrong clock here does not misplace the end.
  const serverNow = Date.parse(response.headers.get("Date") || "") / 1000;
  const offset = Number.isFinite(serverNow) ? serverNow - Date.now() / 1000 : 0;
  return { body, offset };
}

function minutesAndSeconds(secs) {
  const m = Math.floor(secs / 60);
  const s = secs % 60;
  return m > 0 ? m + " min " + s + " s" : s + " s";
}

function watchSession() {
  const time = document.getElementById("session-time");
  const warning = document.getElementById("session-warning");
  if (!time || !warning) {
    return;
  }
  let session = null;
  let timer = null;

  const ended = () => {
    clearInterval(timer);
    time.textContent = "";
    warning.hidden = false;
    warning.dataset.kind = "ended";
    warning.replaceChildren(
      prompt("session-ended", "Your session has ended.", "Log in again", "session-login", currentLoginUrl()),
    );
  };

  const warn = (left, idleFirst) => {
    if (!warning.hidden && warning.dataset.kind === "warning") {
      warning.querySelector("#session-left").textContent = minutesAndSeconds(left);
      return;
    }
    const text = document.createElement("p");
    text.append("Your session ends in ");
    const strong = document.createElement("strong");
    strong.id = "session-left";
    strong.textContent = minutesAndSeconds(left);
    text.append(strong, ".");
    const actions = [text];
    if (idleFirst) {
      const stay = document.createElement("button");
      stay.type = "button";
      stay.id = "stay-signed-in";
      stay.textContent = "Stay signed in";
      stay.addEventListener("click", async () => {
        const renewed = await readSession("POST", "/session/extend").catch(() => null);
        if (!renewed) {
          ended();
          return;
        }
        session = renewed;
        warning.hidden = true;
        warning.dataset.kind = "";
        tick();
      });
      actions.push(stay);
    }
    const again = document.createElement("a");
    again.href = currentLoginUrl();
    again.id = "log-in-again";
    again.className = "button";
    again.textContent = "Log in again";
    actions.push(again);
    warning.replaceChildren(...actions);
    warning.dataset.kind = "warning";
    warning.hidden = false;
    (idleFirst ? warning.querySelector("#stay-signed-in") : again).focus();
  };

  const tick = () => {
    if (!session) {
      return;
    }
    const now = Date.now() / 1000 + session.offset;
    const idleEnd = session.body.idle_expires_at;
    const end = Math.min(idleEnd, session.body.expires_at);
    const left = Math.max(0, Math.floor(end - now));
    if (left <= 0) {
      ended();
      return;
    }
    time.textContent = "Signed in · " + minutesAndSeconds(left) + " left";
    if (left <= WARN_BEFORE_SECS) {
      warn(left, idleEnd < session.body.expires_at);
    }
  };

  const refresh = async () => {
    const read = await readSession("GET", "/session").catch(() => null);
    if (!read) {
      ended();
      return;
    }
    session = read;
    tick();
  };
  refresh();
  timer = setInterval(tick, 1000);
  // Another tab may have extended it, or logged out: read it again now and then.
  setInterval(() => {
    if (warning.dataset.kind !== "ended") {
      refresh();
    }
  }, 30000);
}

document.addEventListener("DOMContentLoaded", () => {
  watchSession();
  const buttons = { "call-api": "/api/hello", "call-upstream": "/api/upstream" };
  for (const [id, path] of Object.entries(buttons)) {
    const button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", () => callApi(path));
    }
  }
  // The remote API buttons say in data-path where they go (shown when the API is configured).
  for (const button of document.querySelectorAll("button[data-path]")) {
    button.addEventListener("click", () => callApi(button.dataset.path));
  }
});
