// The comparison app for bench/run.sh: express-openid-connect configured as oidc-bff is
// (implicit flow with form_post, no login required on every route, no IdP logout), with the
// same two API answers and a floor route.
//
// With REMOTE_API_URL set it is also a gateway as oidc-bff's `/api/<name>/…` is (for
// bench/gateway.sh): `/api/idp/*` proxied there by http-proxy-middleware, the browser's cookies
// kept back, X-Forwarded-* set, the user's access token attached when the session has one (the
// `user-or-none` policy; the implicit flow has none, as for oidc-bff).
//
// Environment: PORT (default 3001), ISSUER_BASE_URL, CLIENT_ID, SECRET (>= 32 bytes),
// REMOTE_API_URL (optional).
'use strict';

const express = require('express');
const { auth } = require('express-openid-connect');
const { createProxyMiddleware } = require('http-proxy-middleware');

const port = Number(process.env.PORT || 3001);
const app = express();

app.use(
  auth({
    issuerBaseURL: process.env.ISSUER_BASE_URL,
    baseURL: `http://localhost:${port}`,
    clientID: process.env.CLIENT_ID,
    secret: process.env.SECRET,
    authRequired: false,
    idpLogout: false,
    authorizationParams: {
      response_type: 'id_token',
      response_mode: 'form_post',
      scope: 'openid profile email',
    },
  }),
);

// The floor: no authentication work beyond what the auth() middleware does for every request.
app.get('/healthz', (req, res) => {
  res.type('text/plain').send('ok');
});

app.get('/api/hello', (req, res) => {
  if (!req.oidc.isAuthenticated()) {
    res.status(401).set('Cache-Control', 'no-store').json({
      error: 'login_required',
      login_url: '/login?returnTo=%2Fapi%2Fhello',
    });
    return;
  }
  const user = req.oidc.user || {};
  res.set('Cache-Control', 'no-store').json({
    message: `Hello, ${user.name || user.email || user.sub}!`,
    sub: user.sub,
  });
});

if (process.env.REMOTE_API_URL) {
  app.use(
    '/api/idp',
    createProxyMiddleware({
      target: process.env.REMOTE_API_URL,
      changeOrigin: true,
      xfwd: true,
      on: {
        proxyReq: (proxyReq, req) => {
          proxyReq.removeHeader('cookie');
          proxyReq.removeHeader('authorization');
          const token = req.oidc.accessToken;
          if (token && token.access_token) {
            proxyReq.setHeader('Authorization', `Bearer ${token.access_token}`);
          }
        },
        proxyRes: (proxyRes) => {
          delete proxyRes.headers['set-cookie'];
        },
      },
    }),
  );
}

app.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on http://127.0.0.1:${port}`);
});
