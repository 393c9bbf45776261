#!/usr/bin/env python3
"""Code-flow logins through the app at the development IdP, as a browser makes them: /login,
the IdP's sign-in form (a new IdP session each time, so the password is always asked), its
form_post back to /callback. For bench/fapi-server.sh: the app's CPU per login is read from
/proc around a batch of these.

Usage: code_logins.py APP_BASE IDP_BASE COUNT [COOKIE_OUT]
Prints how many logins succeeded; with COOKIE_OUT, writes the last session cookie there as a
`Cookie:` header value. Exit 1 if any login failed.
"""

import html
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


class LoopbackPolicy(http.cookiejar.DefaultCookiePolicy):
    """Secure cookies go to http://localhost too, as browsers treat it as a secure context
    (the app's login attempt cookie is SameSite=None, hence Secure)."""

    def return_ok_secure(self, cookie, request):
        return True


def cookie_jar():
    return http.cookiejar.CookieJar(policy=LoopbackPolicy())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener(jar):
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def fetch(client, url, data=None, headers=None):
    """(status, headers, body) of one request; redirects are answers too."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with client.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def hidden_fields(page):
    return [(html.unescape(n), html.unescape(v)) for n, v in HIDDEN.findall(page)]


def login(app, idp, app_jar):
    status, headers, _ = fetch(opener(app_jar), f"{app}/login")
    if status != 302:
        return False
    idp_client = opener(cookie_jar())
    status, _, sign_in = fetch(idp_client, headers["Location"])
    if status != 200:
        return False
    fields = hidden_fields(sign_in) + [
        ("username", "alice"),
        ("password", "alice"),
        ("action", "sign_in"),
    ]
    status, _, form_post = fetch(idp_client, f"{idp}/authorize", fields, {"Origin": idp})
    if status != 200:
        return False
    status, _, _ = fetch(opener(app_jar), f"{app}/callback", hidden_fields(form_post))
    return status == 303


def main():
    app, idp, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cookie_out = sys.argv[4] if len(sys.argv) > 4 else None
    ok = 0
    jar = cookie_jar()
    for _ in range(count):
        jar = cookie_jar()
        ok += login(app, idp, jar)
    print(ok)
    if cookie_out:
        session = [c for c in jar if "bff_session" in c.name]
        with open(cookie_out, "w") as out:
            out.write("; ".join(f"{c.name}={c.value}" for c in session))
    sys.exit(0 if ok == count else 1)


if __name__ == "__main__":
    main()
