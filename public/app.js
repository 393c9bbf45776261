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

document.addEventListener("DOMContentLoaded", () => {
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
