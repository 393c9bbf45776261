// Local OpenID Provider for the oidc-bff end-to-end tests.
//
// Built on `oidc-provider` (OpenID Certified). Everything is in memory and
// regenerated at every start: signing keys, cookie keys, sessions, grants.
// It is a test fixture, NOT a production identity provider.
//
// Environment:
//   IDP_PORT          port to listen on (127.0.0.1), default 4000
//   CLIENT_ID         client_id of the app, default "oidc-bff"
//   CLIENT_SECRET     client_secret of the app, default "oidc-bff-secret"
//   APP_BASE_URL      base URL of the app, default "http://localhost:3000"
//                     (redirect_uri <APP_BASE_URL>/callback,
//                      post_logout_redirect_uri <APP_BASE_URL>/)
//   ACCESS_TOKEN_TTL  access token lifetime in seconds, default 3600
//   ID_TOKEN_TTL      ID token lifetime in seconds, default 3600
//   AUTO_CONSENT      "1" (default): consent is granted automatically after
//                     login (first-party client); "0": show a consent page
//   CONFORM_ID_TOKEN_CLAIMS
//                     "1" (default): spec-conformant, ID tokens carry profile
//                     and email claims only when no access token is issued
//                     (response_type=id_token); "0": always put them in.
//   PKCE_REQUIRED     "1" (default): code flows must use PKCE (S256);
//                     "0": optional for the confidential app client
//   FAPI_CLIENT_ID    client_id of the app's second registration, a FAPI 2.0
//                     client (private_key_jwt with the keys at
//                     <APP_BASE_URL>/.well-known/jwks.json, pushed
//                     authorization requests required, DPoP-bound access
//                     tokens), default "oidc-bff-fapi"
//   DPOP_REQUIRE_NONCE
//                     "1" (default): every DPoP proof must carry a nonce the
//                     provider gave (DPoP-Nonce); "0": nonces are optional
//   RESOURCES         the APIs (RFC 8707 resource indicators) a token may be
//                     asked for, separated by spaces, default
//                     "https://orders.example https://stock.example
//                     https://reports.example"; each gets JWT access tokens
//                     whose `aud` is the resource, scopes from RESOURCE_SCOPES
//                     (default "api:read api:write"), ACCESS_TOKEN_TTL

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual, createHash } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

// ---------------------------------------------------------------------------
// configuration from the environment

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number.parseInt(raw, 10);
  if (!Number.isInteger(n) || n <= 0 || String(n) !== raw.trim()) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function envBool(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return !['0', 'false', 'no', 'off'].includes(raw.trim().toLowerCase());
}

const HOST = '127.0.0.1';
const PORT = envInt('IDP_PORT', 4000);
const ISSUER = `http://${HOST}:${PORT}`;
const CLIENT_ID = process.env.CLIENT_ID || 'oidc-bff';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'oidc-bff-secret';
const APP_BASE_URL = (process.env.APP_BASE_URL || 'http://localhost:3000').replace(/\/+$/, '');
const ACCESS_TOKEN_TTL = envInt('ACCESS_TOKEN_TTL', 3600);
const ID_TOKEN_TTL = envInt('ID_TOKEN_TTL', 3600);
const AUTO_CONSENT = envBool('AUTO_CONSENT', true);
const CONFORM_ID_TOKEN_CLAIMS = envBool('CONFORM_ID_TOKEN_CLAIMS', true);
const PKCE_REQUIRED = envBool('PKCE_REQUIRED', true);
const FAPI_CLIENT_ID = process.env.FAPI_CLIENT_ID || 'oidc-bff-fapi';
const DPOP_REQUIRE_NONCE = envBool('DPOP_REQUIRE_NONCE', true);
const RESOURCES = new Set((process.env.RESOURCES
  || 'https://orders.example https://stock.example https://reports.example').split(/\s+/).filter(Boolean));
const RESOURCE_SCOPES = process.env.RESOURCE_SCOPES || 'api:read api:write';

if (FAPI_CLIENT_ID === CLIENT_ID) {
  throw new Error(`FAPI_CLIENT_ID and CLIENT_ID must differ, both are ${JSON.stringify(CLIENT_ID)}`);
}

// ---------------------------------------------------------------------------
// demo accounts (in memory)

const ACCOUNTS = new Map([
  ['alice', {
    password: 'alice-password',
    claims: {
      sub: 'alice',
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      preferred_username: 'alice',
      email: 'alice@example.com',
      email_verified: true,
    },
  }],
  ['bob', {
    password: 'bob-password',
    claims: {
      sub: 'bob',
      name: 'Bob Builder',
      given_name: 'Bob',
      family_name: 'Builder',
      preferred_username: 'bob',
      email: 'bob@example.com',
      email_verified: true,
    },
  }],
]);

function digest(value) {
  return createHash('sha256').update(String(value), 'utf8').digest();
}

// Returns the account id when login and password match, undefined otherwise.
function authenticate(login, password) {
  const account = ACCOUNTS.get(String(login ?? '').trim());
  // compare digests so the comparison is constant-time whatever the lengths
  const ok = timingSafeEqual(digest(account ? account.password : randomUUID()), digest(password ?? ''));
  return account && ok ? account.claims.sub : undefined;
}

async function findAccount(_ctx, sub) {
  const account = ACCOUNTS.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    // oidc-provider filters the returned claims by granted scopes/claims
    async claims() {
      return { ...account.claims };
    },
  };
}

// ---------------------------------------------------------------------------
// keys, generated at startup

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`, alg, use: 'sig' };
}

const JWKS = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'), // first key: the default for RS256
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

const COOKIE_KEYS = [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];

// ---------------------------------------------------------------------------
// HTML helpers (no scripts, no external resources)

function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;margin:0;padding:40px 16px;color:#1d2330}
  main{max-width:360px;margin:0 auto;background:#fff;border-radius:8px;padding:24px 28px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
  h1{font-size:1.4em;margin-top:0}
  label{display:block;margin:12px 0 4px;font-weight:600}
  input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:1em;border:1px solid #b8bfcc;border-radius:4px}
  button{margin-top:16px;padding:9px 14px;font-size:1em;border:0;border-radius:4px;background:#2f6fde;color:#fff;cursor:pointer}
  button.secondary{background:#e4e7ec;color:#1d2330}
  .error{color:#a40e26;background:#fdecee;border:1px solid #f3b5bf;padding:8px;border-radius:4px}
  .muted{color:#5b6475;font-size:.9em}
`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function loginPage({ uid, clientName, loginHint, error }) {
  return page('Sign in - Test IdP', `<h1>Sign in</h1>
<p class="muted">to continue to ${esc(clientName)}</p>
${error ? `<p id="error" class="error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="login">Username</label>
<input type="text" id="login" name="login" value="${esc(loginHint)}" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" required>
<button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit" id="cancel" class="secondary">Cancel</button>
</form>`);
}

function consentPage({ uid, clientName, scopes, claims }) {
  const items = [...scopes.map((s) => `scope: ${s}`), ...claims.map((c) => `claim: ${c}`)];
  return page('Authorize - Test IdP', `<h1>Authorize ${esc(clientName)}</h1>
<p>${esc(clientName)} is requesting access to:</p>
<ul id="requested">${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${esc(uid)}/confirm">
<button type="submit" id="consent">Allow</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit" id="deny" class="secondary">Deny</button>
</form>`);
}

// ---------------------------------------------------------------------------
// provider configuration

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    client_name: 'oidc-bff',
    application_type: 'web',
    redirect_uris: [`${APP_BASE_URL}/callback`],
    post_logout_redirect_uris: [`${APP_BASE_URL}/`],
    response_types: ['id_token', 'code', 'code id_token'],
    grant_types: ['implicit', 'authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }, {
    // The same app as a FAPI 2.0 client: no secret, it proves itself with a JWT signed by
    // the key it publishes; authorization requests must be pushed (PAR); access tokens are
    // bound to the app's DPoP key. Code flow only.
    client_id: FAPI_CLIENT_ID,
    client_name: 'oidc-bff (FAPI 2.0)',
    application_type: 'web',
    redirect_uris: [`${APP_BASE_URL}/callback`],
    post_logout_redirect_uris: [`${APP_BASE_URL}/`],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks_uri: `${APP_BASE_URL}/.well-known/jwks.json`,
    require_pushed_authorization_requests: true,
    dpop_bound_access_tokens: true,
    id_token_signed_response_alg: 'ES256',
  }],

  jwks: JWKS,
  cookies: {
    keys: COOKIE_KEYS,
    // the app's cookies start with "bff_"; keep ours clearly distinct
    names: { session: '_session', interaction: '_interaction', resume: '_interaction_resume' },
  },

  claims: {
    acr: null,
    sid: null,
    auth_time: null,
    iss: null,
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  conformIdTokenClaims: CONFORM_ID_TOKEN_CLAIMS,

  responseTypes: ['code id_token', 'code', 'id_token', 'none'],
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256'],
    // private_key_jwt: the algorithms FAPI 2.0 allows (no HMAC, no RS256)
    clientAuthSigningAlgValues: ['PS256', 'ES256'],
    dPoPSigningAlgValues: ['ES256', 'PS256'],
  },

  findAccount,

  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },

  features: {
    devInteractions: { enabled: false },
    // The app's own token (client credentials grant), for APIs with token = "client".
    clientCredentials: { enabled: true },
    // RFC 8707: a token per API, asked for with `resource` (at the authorization request, then
    // at the token endpoint): a JWT whose `aud` is the resource, so the API (and a test) can
    // read whom it was issued for. The token of the code exchange stays the opaque one for
    // UserInfo (no resource asked for there).
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => {
        if (!RESOURCES.has(resource)) throw new errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPES,
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
    // FAPI 2.0 Security Profile behaviours, for the FAPI client only
    fapi: {
      enabled: true,
      profile: (_ctx, client) => (client?.clientId === FAPI_CLIENT_ID ? '2.0' : undefined),
    },
    // PAR is offered to every client (the default); the FAPI client must use it
    // (require_pushed_authorization_requests), the first client may.
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: false,
    },
    // DPoP proofs are checked wherever one is sent; the FAPI client's access tokens must be
    // bound (dpop_bound_access_tokens). Nonces come from a secret made at each start.
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => DPOP_REQUIRE_NONCE,
    },
    introspection: {
      enabled: true,
      // only the client the token was issued to may introspect it
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      // `form` is the provider-generated <form id="op.logoutForm"> carrying
      // the xsrf token and the post logout redirect state.
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = page('Sign out - Test IdP', `<h1>Sign out</h1>
<p>Do you want to sign out from ${esc(ctx.host)}?</p>
${form}
<button type="submit" id="logout-confirm" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" id="logout-cancel" class="secondary" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        const client = ctx.oidc.client?.clientName || ctx.oidc.client?.clientId;
        ctx.body = page('Signed out - Test IdP', `<h1 id="logged-out">Signed out</h1>
<p>You have been signed out${client ? ` of ${esc(client)}` : ''}.</p>`);
      },
    },
  },

  pkce: {
    methods: ['S256'],
    // PKCE is required for every authorization request that issues a code
    // (the library default). PKCE_REQUIRED=0 makes it optional for the
    // confidential app client (still required for public clients).
    required: (_ctx, client) => PKCE_REQUIRED || client.clientAuthMethod === 'none',
  },

  // Always issue a refresh token for the code flow to the app's clients when
  // they may use the refresh_token grant, even without the offline_access scope.
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && ([CLIENT_ID, FAPI_CLIENT_ID].includes(client.clientId) || code.scopes.has('offline_access')),

  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: ID_TOKEN_TTL,
    Interaction: 60 * 60,
    Grant: 14 * 24 * 60 * 60,
    Session: 14 * 24 * 60 * 60,
    RefreshToken: 14 * 24 * 60 * 60,
  },

  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error - Test IdP', `<h1 id="idp-error">Something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span data-field="${esc(k)}">${esc(v)}</span></p>`).join('\n')}`);
  },
};

const provider = new Provider(ISSUER, configuration);

// ---------------------------------------------------------------------------
// Development-only: allow http:// and localhost redirect URIs for this web
// client although it uses the implicit flow. This follows the oidc-provider
// recipe "Allowing HTTP and/or localhost for implicit response type web
// clients": the client schema's `invalidate` is wrapped so the two checks
// identified by the codes 'implicit-force-https' and
// 'implicit-forbid-localhost' are skipped. Scoped to our own client only; this
// violates OIDC Core and must never be used in production.
{
  const { invalidate: originalInvalidate } = provider.Client.Schema.prototype;
  provider.Client.Schema.prototype.invalidate = function invalidate(message, code) {
    if ((code === 'implicit-force-https' || code === 'implicit-forbid-localhost')
      && this.client_id === CLIENT_ID) {
      return undefined;
    }
    return originalInvalidate.call(this, message, code);
  };
}

// ---------------------------------------------------------------------------
// interaction routes (login / consent), plain Koa middleware

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(ctx) {
  const type = String(ctx.get('content-type') || '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    ctx.throw(415, 'expected application/x-www-form-urlencoded');
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function setHtml(ctx, html, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = html;
}

async function clientNameFor(clientId) {
  const client = await provider.Client.find(clientId);
  return client?.clientName || clientId;
}

// Grants what the current consent prompt asks for, via the Grant API.
async function grantConsent(details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });

  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

async function interactionRoutes(ctx, uid, action) {
  if ((action && ctx.method !== 'POST') || (!action && ctx.method !== 'GET')) {
    ctx.set('Allow', action ? 'POST' : 'GET');
    ctx.throw(405);
  }

  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction uid mismatch');
  const { prompt, params } = details;
  const clientName = await clientNameFor(params.client_id);

  if (!action) {
    if (prompt.name === 'login') {
      setHtml(ctx, loginPage({ uid, clientName, loginHint: params.login_hint }));
      return undefined;
    }
    if (prompt.name === 'consent') {
      if (AUTO_CONSENT) {
        const grantId = await grantConsent(details);
        ctx.respond = false;
        return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      setHtml(ctx, consentPage({
        uid,
        clientName,
        scopes: prompt.details.missingOIDCScope || [],
        claims: prompt.details.missingOIDCClaims || [],
      }));
      return undefined;
    }
    ctx.throw(400, `unsupported prompt ${prompt.name}`);
  }

  const form = await readForm(ctx);
  let result;
  switch (action) {
    case 'login': {
      if (prompt.name !== 'login') ctx.throw(400, 'not a login prompt');
      const login = form.get('login') || '';
      const accountId = authenticate(login, form.get('password'));
      if (!accountId) {
        setHtml(ctx, loginPage({ uid, clientName, loginHint: login, error: 'Invalid username or password.' }));
        return undefined;
      }
      result = { login: { accountId } };
      break;
    }
    case 'confirm': {
      if (prompt.name !== 'consent') ctx.throw(400, 'not a consent prompt');
      ctx.respond = false;
      return provider.interactionFinished(ctx.req, ctx.res, {
        consent: { grantId: await grantConsent(details) },
      }, { mergeWithLastSubmission: true });
    }
    case 'abort':
    default:
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
      break;
  }

  ctx.respond = false;
  return provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
}

provider.use(async (ctx, next) => {
  const match = ROUTE.exec(ctx.path);
  if (!match) return next();
  try {
    return await interactionRoutes(ctx, match[1], match[2]);
  } catch (err) {
    if (ctx.res.headersSent) throw err; // interactionFinished already answered
    ctx.respond = true;
    const status = err.statusCode || err.status || 500;
    if (status >= 500) console.error('interaction error:', err);
    setHtml(ctx, page('Error - Test IdP', `<h1 id="idp-error">Something went wrong</h1>
<p><strong>error</strong>: <span data-field="error">${esc(err.error || err.name || 'server_error')}</span></p>
<p><strong>error_description</strong>: <span data-field="error_description">${esc(err.error_description || err.message)}</span></p>`), status);
    return undefined;
  }
});

// ---------------------------------------------------------------------------
// server lifecycle

provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

const server = createServer(provider.callback());

server.on('error', (err) => {
  console.error(`oidc-provider failed to start: ${err.message}`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  console.log(`oidc-provider listening on ${ISSUER}`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`oidc-provider received ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
