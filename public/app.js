// The Call API button. The session cookie is HttpOnly, so this script never sees it: it only
// learns whether the API answered (200), asked for a login (401), or redirected (opaque).
"use strict";

function show(result, node) {
  result.replaceChildren(node);
}

function loginPrompt(loginUrl) {
  const box = document.createElement("p");
  box.id = "login-prompt";
  box.append("You are not logged in. ");
  const link = document.createElement("a");
  link.href = loginUrl;
  link.textContent = "Log in";
  link.id = "login-again";
  box.append(link);
  return box;
}

function currentLoginUrl() {
  const here = window.location.pathname + window.location.search;
  return "/login?returnTo=" + encodeURIComponent(here);
}

async function callApi() {
  const result = document.getElementById("api-result");
  try {
    const response = await fetch("/api/hello", {
      credentials: "same-origin",
      redirect: "manual",
      headers: { Accept: "application/json" },
    });
    if (response.ok) {
      const pre = document.createElement("pre");
      pre.id = "api-json";
      pre.textContent = JSON.stringify(await response.json(), null, 2);
      show(result, pre);
    } else if (response.status === 401 || response.type === "opaqueredirect") {
      show(result, loginPrompt(currentLoginUrl()));
    } else {
      const p = document.createElement("p");
      p.id = "api-error";
      p.textContent = "The API answered " + response.status + ".";
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
  const button = document.getElementById("call-api");
  if (button) {
    button.addEventListener("click", callApi);
  }
});
