// Self-test of the test OpenID provider: starts server.js on a free port and
// drives the flows the app relies on over plain HTTP.
//
//   cd tests/e2e/idp && npm test      (node --test selftest.mjs)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));
const APP = 'http://localhost:3000';
const CALLBACK = `${APP}/callback`;
const BASIC = `Basic ${Buffer.from('oidc-bff:oidc-bff-secret').toString('base64')}`;

let child;
let ISSUER;

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

before(async () => {
  const port = await freePort();
  ISSUER = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [join(HERE, 'server.js')], {
    env: { ...process.env, IDP_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`IdP did not start in time: ${stderr}`)), 15000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(`oidc-provider listening on ${ISSUER}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`IdP exited early (${code}): ${stderr}`));
    });
  });
});

after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

// --- tiny HTTP client with a cookie jar -------------------------------------

class Browser {
  constructor() { this.cookies = new Map(); }

  async request(url, { method = 'GET', form, headers = {} } = {}) {
    const target = new URL(url, ISSUER);
    const h = { ...headers };
    if (target.origin === ISSUER && this.cookies.size) {
      h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(target, { method, headers: h, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  // follows redirects while they stay on the IdP; returns the last response
  // and the first URL outside the IdP, if any
  async follow(url, init) {
    let res = await this.request(url, init);
    for (let i = 0; i < 10 && res.location; i += 1) {
      const next = new URL(res.location, ISSUER);
      if (next.origin !== ISSUER) return { res, external: next };
      res = await this.request(next.href);
    }
    return { res, external: null };
  }
}

function formFields(html) {
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\s*\/?>/g)) {
    fields[m[1]] = m[2];
  }
  return fields;
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

async function verifyJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  const header = b64urlJson(h);
  const jwks = await (await fetch(`${ISSUER}/jwks`)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'signing key is published in the JWKS');
  assert.equal(header.alg, 'RS256');
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  assert.ok(ok, 'ID token signature verifies');
  return b64urlJson(p);
}

async function login(browser, authUrl, user, password) {
  const first = await browser.request(authUrl);
  assert.equal(first.status, 303);
  const page = await browser.request(first.location);
  assert.match(page.text, /<title>[^<]*Sign in/);
  const action = /action="(\/interaction\/[^"]+\/login)"/.exec(page.text)[1];
  return browser.follow(action, { method: 'POST', form: { login: user, password } });
}

// --- tests --------------------------------------------------------------------

test('discovery advertises what the app needs', async () => {
  const d = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
  assert.equal(d.issuer, ISSUER);
  assert.equal(d.end_session_endpoint, `${ISSUER}/session/end`);
  assert.equal(d.revocation_endpoint, `${ISSUER}/token/revocation`);
  assert.equal(d.introspection_endpoint, `${ISSUER}/token/introspection`);
  assert.ok(d.response_modes_supported.includes('form_post'));
  assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256', 'ES256']);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
});

test('login page has the expected elements and refuses a wrong password', async () => {
  const b = new Browser();
  const first = await b.request(`/auth?${new URLSearchParams({
    client_id: 'oidc-bff', response_type: 'id_token', response_mode: 'form_post', redirect_uri: CALLBACK, scope: 'openid', nonce: 'n1',
  })}`);
  const page = await b.request(first.location);
  for (const id of ['login', 'password', 'submit']) assert.match(page.text, new RegExp(`id="${id}"`));
  assert.match(page.text, /name="login"/);
  assert.match(page.text, /name="password"/);
  const action = /action="(\/interaction\/[^"]+\/login)"/.exec(page.text)[1];
  const bad = await b.request(action, { method: 'POST', form: { login: 'alice', password: 'bob-password' } });
  assert.equal(bad.status, 200);
  assert.equal(bad.location, null);
  assert.match(bad.text, /id="error"/);
  assert.match(bad.text, /id="login"/);
  const unknown = await b.request(action, { method: 'POST', form: { login: '<mallory>', password: 'x' } });
  assert.match(unknown.text, /value="&lt;mallory&gt;"/);
});

test('implicit id_token flow with form_post carries profile and email claims', async () => {
  const b = new Browser();
  const { res, external } = await login(b, `/auth?${new URLSearchParams({
    client_id: 'oidc-bff', response_type: 'id_token', response_mode: 'form_post', redirect_uri: CALLBACK, scope: 'openid profile email', nonce: 'n123', state: 's123',
  })}`, 'alice', 'alice-password');
  assert.equal(external, null);
  assert.equal(res.status, 200);
  assert.match(res.text, new RegExp(`<form method="post" action="${CALLBACK}">`));
  const fields = formFields(res.text);
  assert.equal(fields.state, 's123');
  const claims = await verifyJwt(fields.id_token);
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, 'oidc-bff');
  assert.equal(claims.nonce, 'n123');
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.name, 'Alice Liddell');
  assert.equal(claims.given_name, 'Alice');
  assert.equal(claims.family_name, 'Liddell');
  assert.equal(claims.email, 'alice@example.com');
  assert.equal(claims.email_verified, true);
});

test('code flow with PKCE, refresh, introspection, revocation', async () => {
  const b = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const { external } = await login(b, `/auth?${new URLSearchParams({
    client_id: 'oidc-bff', response_type: 'code', redirect_uri: CALLBACK, scope: 'openid profile email', nonce: 'n2', state: 's2', code_challenge: challenge, code_challenge_method: 'S256',
  })}`, 'bob', 'bob-password');
  assert.ok(external, 'redirected back to the app');
  assert.equal(external.origin + external.pathname, CALLBACK);
  assert.equal(external.searchParams.get('state'), 's2');
  const code = external.searchParams.get('code');

  const token = async (form) => {
    const r = await fetch(`${ISSUER}/token`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    return { status: r.status, json: await r.json() };
  };

  const wrong = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: `${verifier}x` });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error, 'invalid_grant');

  const t = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  assert.ok(t.json.access_token && t.json.refresh_token && t.json.id_token);
  const idt = await verifyJwt(t.json.id_token);
  assert.equal(idt.sub, 'bob');
  assert.equal(idt.nonce, 'n2');

  const me = await (await fetch(`${ISSUER}/me`, { headers: { authorization: `Bearer ${t.json.access_token}` } })).json();
  assert.equal(me.name, 'Bob Builder');
  assert.equal(me.email, 'bob@example.com');

  const introspect = async (tok) => (await fetch(`${ISSUER}/token/introspection`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tok }) })).json();
  assert.equal((await introspect(t.json.access_token)).active, true);

  const r = await token({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(r.json.access_token);
  const rt = r.json.refresh_token || t.json.refresh_token;

  const rev = await fetch(`${ISSUER}/token/revocation`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: rt, token_type_hint: 'refresh_token' }) });
  assert.equal(rev.status, 200);
  const after = await token({ grant_type: 'refresh_token', refresh_token: rt });
  assert.equal(after.status, 400);
  assert.equal(after.json.error, 'invalid_grant');
  assert.equal((await introspect(r.json.access_token)).active, false);
});

test('RP-initiated logout confirms and redirects to the post_logout_redirect_uri', async () => {
  const b = new Browser();
  const { res } = await login(b, `/auth?${new URLSearchParams({
    client_id: 'oidc-bff', response_type: 'id_token', response_mode: 'form_post', redirect_uri: CALLBACK, scope: 'openid', nonce: 'n3',
  })}`, 'alice', 'alice-password');
  const idToken = formFields(res.text).id_token;
  const page = await b.request(`/session/end?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${APP}/`, state: 'lo' })}`);
  assert.equal(page.status, 200);
  assert.match(page.text, /id="logout-confirm"/);
  assert.match(page.text, /Yes, sign me out/);
  const action = /<form id="op.logoutForm" method="post" action="([^"]+)"/.exec(page.text)[1];
  const done = await b.request(action, { method: 'POST', form: { ...formFields(page.text), logout: 'yes' } });
  assert.equal(done.status, 303);
  assert.equal(done.location, `${APP}/?state=lo`);

  // the IdP session is gone: prompt=none now fails with login_required
  const silent = await b.request(`/auth?${new URLSearchParams({
    client_id: 'oidc-bff', response_type: 'id_token', redirect_uri: CALLBACK, scope: 'openid', nonce: 'n4', prompt: 'none',
  })}`);
  assert.match(silent.location, /error=login_required/);
});

test('SIGTERM stops the server cleanly', async () => {
  const code = await new Promise((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.equal(code, 0);
});
