// Token-checking gateway for the FHIR client's integration tests.
//
// Usage: node gateway.mjs STATE_DIR
//
// Listens on http://127.0.0.1:$OIDC_GATEWAY_PORT:
//   GET /check       for nginx `auth_request`: 200 when the request's
//                    `Authorization: Bearer <token>` is active according to
//                    the provider's introspection endpoint, 401 otherwise
//                    (503 when the provider cannot be asked).
//   GET /introspect  the provider's introspection JSON for the presented
//                    bearer token (401 with {"active":false,...} when no
//                    bearer token is presented).
//   GET /healthz     200 "ok" (readiness probe, no introspection).
//
// Nothing is cached: every request is introspected afresh. One JSON line per
// request goes to STATE_DIR/gateway.log (only a 6-char token prefix).
//
// Environment:
//   OIDC_ISSUER        provider issuer, required
//   OIDC_GATEWAY_PORT  listen port, required
// (both set by oidc/part.sh from tests/servers/ports.env)

import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';

const stateDir = process.argv[2] || process.env.OIDC_STATE_DIR;
if (!stateDir) {
  console.error('usage: node gateway.mjs STATE_DIR');
  process.exit(2);
}
mkdirSync(stateDir, { recursive: true });
const gatewayLog = resolve(stateDir, 'gateway.log');

const issuer = (process.env.OIDC_ISSUER ?? '').replace(/\/$/, '');
const host = '127.0.0.1';
const port = Number.parseInt(process.env.OIDC_GATEWAY_PORT ?? '', 10);
if (!issuer || !(port > 0 && port < 65536)) {
  console.error('OIDC_ISSUER and OIDC_GATEWAY_PORT must be set (tests/servers/ports.env)');
  process.exit(2);
}

const GATEWAY_CLIENT_ID = 'gateway';
const GATEWAY_CLIENT_SECRET = 'gateway-secret';
const gatewayAuth = `Basic ${Buffer.from(
  `${encodeURIComponent(GATEWAY_CLIENT_ID)}:${encodeURIComponent(GATEWAY_CLIENT_SECRET)}`,
).toString('base64')}`;

function logLine(record) {
  appendFileSync(gatewayLog, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
}

// The endpoint URL (not any token state) is looked up once from discovery.
let introspectionEndpoint;
async function getIntrospectionEndpoint() {
  if (!introspectionEndpoint) {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`discovery answered HTTP ${res.status}`);
    const doc = await res.json();
    if (typeof doc.introspection_endpoint !== 'string') {
      throw new Error('discovery has no introspection_endpoint');
    }
    introspectionEndpoint = doc.introspection_endpoint;
  }
  return introspectionEndpoint;
}

async function introspect(token) {
  const endpoint = await getIntrospectionEndpoint();
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: gatewayAuth,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) {
    throw new Error(`introspection answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
  return res.json();
}

function bearerToken(req) {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'cache-control': 'no-store',
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

const unauthorized = { 'www-authenticate': 'Bearer realm="fhir-test", error="invalid_token"' };

async function handle(req, res) {
  const url = new URL(req.url, `http://${host}:${port}`);
  const path = url.pathname;

  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end('ok');
    return;
  }

  if (path !== '/check' && path !== '/introspect') {
    send(res, 404, { error: 'not_found' });
    return;
  }
  // Any method is accepted (and any request body ignored): depending on the
  // nginx setup an auth_request subrequest may carry the original method.
  req.resume();

  const token = bearerToken(req);
  const entry = {
    event: path === '/check' ? 'check' : 'introspect',
    // nginx auth_request passes the original URI in this header when configured to.
    original_uri: req.headers['x-original-uri'] ?? null,
    token_prefix: token ? token.slice(0, 6) : null,
  };

  if (!token) {
    logLine({ ...entry, status: 401, active: false, reason: 'missing_bearer' });
    if (path === '/check') send(res, 401, undefined, unauthorized);
    else send(res, 401, { active: false, error: 'missing bearer token' }, unauthorized);
    return;
  }

  let result;
  try {
    result = await introspect(token);
  } catch (err) {
    logLine({ ...entry, status: 503, active: null, reason: `introspection_failed: ${err.message}` });
    send(res, 503, { error: 'introspection_unavailable' });
    return;
  }

  const active = result?.active === true;
  const clientId = typeof result?.client_id === 'string' ? result.client_id : null;
  if (path === '/check') {
    const status = active ? 200 : 401;
    logLine({ ...entry, status, active, client_id: clientId, exp: result?.exp ?? null });
    if (active) send(res, 200, undefined, clientId ? { 'x-oidc-client-id': clientId } : {});
    else send(res, 401, undefined, unauthorized);
  } else {
    logLine({ ...entry, status: 200, active, client_id: clientId, exp: result?.exp ?? null });
    send(res, 200, result);
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('gateway error', err);
    if (!res.headersSent) send(res, 500, { error: 'internal_error' });
    else res.destroy();
  });
});
server.listen(port, host, () => {
  console.log(`oidc gateway listening on http://${host}:${port} issuer=${issuer} log=${gatewayLog}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
