// Local OpenID Connect provider for the FHIR client's integration tests.
//
// Usage: node provider.mjs STATE_DIR
//
// Serves a real `oidc-provider` instance on http://127.0.0.1:$OIDC_PORT with only
// what the client-credentials tests need: discovery, the token endpoint
// (client_credentials grant), token introspection and JWKS.
//
// Environment:
//   OIDC_TOKEN_TTL   access token lifetime in seconds (default 8)
//   OIDC_PORT        listen port, required (set by oidc/part.sh from
//                    tests/servers/ports.env; the issuer follows it)
//   OIDC_VERBOSE=1   keep oidc-provider's development NOTICE/WARNING lines
//   OIDC_STRICT_AUTH_METHOD=0
//                    accept client_secret_basic and client_secret_post
//                    interchangeably (oidc-provider's own behaviour); by
//                    default a client must use exactly its registered method
//   OIDC_SMART_KEYS_DIR
//                    the SMART Backend Services client keys of the pki part
//                    (required): their public halves are registered for the
//                    private_key_jwt clients below
//
// SMART Backend Services clients (token_endpoint_auth_method private_key_jwt),
// SMART-strict: the assertion must carry a kid, exp at most 300 s ahead and
// sub = client_id; a jti is accepted once (oidc-provider's replay detection):
//   smart-rs384     RS384, keys rsa-2048 and rsa-4096 (jwks)
//   smart-es384     ES384, key p384 (jwks)
//   smart-jwks-uri  RS384, key rsa-2048 from a jwks_uri this process serves on
//                   loopback at /test-jwks/smart-jwks-uri.json
//
// Every issued client-credentials token and every failed token request is
// appended as one JSON line to STATE_DIR/oidc-tokens.log.

import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { resolve } from 'node:path';

// oidc-provider prints development hints ("quick start ...", "you SHOULD
// change ...", "Unsupported runtime" on Node 20) through console.info/warn.
// They are irrelevant for a loopback test fixture, so drop them unless asked.
if (process.env.OIDC_VERBOSE !== '1') {
  for (const level of ['info', 'warn']) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      if (typeof args[0] === 'string' && /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING):/.test(args[0])) {
        return;
      }
      original(...args);
    };
  }
}

// Imported after the console filter so that import-time notices are filtered too.
const { default: Provider, errors } = await import('oidc-provider');

const stateDir = process.argv[2] || process.env.OIDC_STATE_DIR;
if (!stateDir) {
  console.error('usage: node provider.mjs STATE_DIR');
  process.exit(2);
}
mkdirSync(stateDir, { recursive: true });
const tokenLog = resolve(stateDir, 'oidc-tokens.log');

const ttlRaw = process.env.OIDC_TOKEN_TTL ?? '8';
const tokenTtl = Number.parseInt(ttlRaw, 10);
if (!Number.isInteger(tokenTtl) || tokenTtl <= 0 || String(tokenTtl) !== ttlRaw.trim()) {
  console.error(`OIDC_TOKEN_TTL must be a positive integer number of seconds, got ${JSON.stringify(ttlRaw)}`);
  process.exit(2);
}

const host = '127.0.0.1';
const port = Number.parseInt(process.env.OIDC_PORT ?? '', 10);
if (!(port > 0 && port < 65536)) {
  console.error('OIDC_PORT must be set to the listen port (tests/servers/ports.env)');
  process.exit(2);
}
const issuer = `http://${host}:${port}`;

function logEvent(record) {
  const line = JSON.stringify({ time: new Date().toISOString(), ...record });
  appendFileSync(tokenLog, `${line}\n`);
}

// Tokens are opaque: the stored id (jti) *is* the bearer value, so only a
// short prefix ever leaves this process.
const tokenPrefix = (value) => (typeof value === 'string' ? value.slice(0, 6) : undefined);

// Minimal in-memory storage adapter (same contract as oidc-provider's
// built-in development adapter, which warns loudly when used). Entries are
// dropped once their storage lifetime is over; token validity itself is
// still checked by the provider from the `exp` claim.
const store = new Map();
class MemoryStore {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  static sweep() {
    const now = Date.now();
    for (const [k, entry] of store) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) store.delete(k);
    }
  }

  async upsert(id, payload, expiresIn) {
    MemoryStore.sweep();
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    store.set(this.key(id), { payload: structuredClone(payload), expiresAt });
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const list = store.get(grantKey)?.payload ?? [];
      list.push(this.key(id));
      store.set(grantKey, { payload: list, expiresAt });
    }
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt });
    if (payload.uid) store.set(`uid:${payload.uid}`, { payload: id, expiresAt });
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async findByUserCode(userCode) {
    const id = store.get(`userCode:${userCode}`)?.payload;
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = store.get(`uid:${uid}`)?.payload;
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const k of store.get(grantKey)?.payload ?? []) store.delete(k);
    store.delete(grantKey);
  }
}

// A fresh signing key per process; nothing signed by it outlives the process.
// RS256 is oidc-provider's default id_token / introspection signing algorithm.
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ format: 'jwk' });

// The public JWK of a SMART client key of the pki part.
const smartKeysDir = process.env.OIDC_SMART_KEYS_DIR;
if (!smartKeysDir) {
  console.error('OIDC_SMART_KEYS_DIR must name the SMART client keys (tests/servers/pki)');
  process.exit(2);
}
const smartJwk = (file, kid, alg) => ({
  ...createPublicKey(readFileSync(resolve(smartKeysDir, file))).export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});
const smartJwksUri = { keys: [smartJwk('rsa2048.key', 'rsa-2048', 'RS384')] };
const SMART_JWKS_PATH = '/test-jwks/smart-jwks-uri.json';

const confidential = {
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
};

const configuration = {
  adapter: MemoryStore,
  jwks: { keys: [{ ...signingKey, kid: 'test-rs256', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clockTolerance: 0,
  clients: [
    {
      client_id: 'fhir-client',
      client_secret: 'fhir-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      ...confidential,
    },
    {
      client_id: 'fhir-client-post',
      client_secret: 'fhir-secret-post',
      token_endpoint_auth_method: 'client_secret_post',
      ...confidential,
    },
    {
      client_id: 'smart-rs384',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS384',
      jwks: {
        keys: [
          smartJwk('rsa2048.key', 'rsa-2048', 'RS384'),
          smartJwk('rsa4096.key', 'rsa-4096', 'RS384'),
        ],
      },
      ...confidential,
    },
    {
      client_id: 'smart-es384',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES384',
      jwks: { keys: [smartJwk('p384.key', 'p384', 'ES384')] },
      ...confidential,
    },
    {
      client_id: 'smart-jwks-uri',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS384',
      jwks_uri: `${issuer}${SMART_JWKS_PATH}`,
      ...confidential,
    },
    {
      // Used by gateway.mjs to call the introspection endpoint.
      client_id: 'gateway',
      client_secret: 'gateway-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  // Scopes a client-credentials request may ask for; no scope at all is fine too.
  scopes: [
    'openid',
    'fhir',
    'system/*.read',
    'system/*.rs',
    'system/*.write',
    'system/*.cruds',
    'system/*.*',
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  enabledJWA: {
    clientAuthSigningAlgValues: ['RS384', 'ES384', 'HS256', 'RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
  },
  // SMART Backend Services is stricter than RFC 7523.
  assertJwtClientAuthClaimsAndHeader: async (ctx, claims, header, client) => {
    if (!header.kid) {
      throw new errors.InvalidClientAuth('SMART: the client assertion header must carry a kid');
    }
    if (claims.exp - Math.floor(Date.now() / 1000) > 300) {
      throw new errors.InvalidClientAuth('SMART: the client assertion exp must be at most 300 seconds ahead');
    }
    if (claims.sub !== client.clientId) {
      throw new errors.InvalidClientAuth('SMART: the client assertion sub must be the client_id');
    }
  },
  // Test only: oidc-provider refuses to fetch a jwks_uri on loopback (its SSRF guard, a
  // dispatcher it sets on every outgoing request); this provider's jwks_uri client is served by
  // this very process on 127.0.0.1.
  fetch: (url, options) => {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The gateway may introspect any token; a client only its own tokens.
      allowedPolicy: (ctx, client, token) => client.clientId === 'gateway' || client.clientId === token.clientId,
    },
    revocation: { enabled: true },
    // Plain opaque access tokens for requests without a `resource` parameter.
    resourceIndicators: { enabled: false },
  },
  ttl: {
    ClientCredentials: tokenTtl,
  },
  // Only the client-credentials grant is exercised; never render HTML errors.
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(issuer, configuration);

// oidc-provider treats client_secret_basic and client_secret_post as
// interchangeable for secret-based clients. Tests must be able to prove
// which one the library used, so by default a client has to use exactly its
// registered method. Client authentication assigns the client through
// OIDCContext#entity('Client', ...) right before it compares the secret; an
// OIDC error thrown there fails the request with 401 invalid_client (and a
// 'grant.error' event on the token endpoint).
const strictAuthMethod = process.env.OIDC_STRICT_AUTH_METHOD !== '0';
const secretMethods = new Set(['client_secret_basic', 'client_secret_post']);
if (strictAuthMethod) {
  const proto = provider.OIDCContext.prototype;
  const originalEntity = proto.entity;
  if (typeof originalEntity !== 'function') {
    throw new Error('oidc-provider internals changed: OIDCContext#entity not found');
  }
  proto.entity = function entity(key, value) {
    if (key === 'Client' && value && secretMethods.has(value.clientAuthMethod)) {
      const usedBasic = /^basic\s/i.test(this.ctx.get('authorization'));
      const usedPost = Boolean(this.params?.client_secret);
      if (usedBasic || usedPost) {
        const used = usedBasic ? 'client_secret_basic' : 'client_secret_post';
        if (used !== value.clientAuthMethod) {
          throw new errors.InvalidClientAuth(
            `${used} used but the client is registered for ${value.clientAuthMethod}`,
          );
        }
      }
    }
    return originalEntity.call(this, key, value);
  };
}

provider.on('client_credentials.saved', (token) => {
  // iat/exp live in the stored payload (the model instance only has the TTL).
  const stored = store.get(`ClientCredentials:${token.jti}`)?.payload ?? {};
  const iat = stored.iat ?? token.iat ?? Math.floor(Date.now() / 1000);
  const exp = stored.exp ?? token.exp ?? iat + token.expiration;
  logEvent({
    event: 'token_issued',
    client_id: token.clientId,
    scope: token.scope ?? null,
    iat,
    exp,
    expires_in: exp - iat,
    token_prefix: tokenPrefix(token.jti),
  });
});

function attemptedClientId(ctx) {
  if (ctx.oidc?.client?.clientId) return ctx.oidc.client.clientId;
  const header = ctx.get('authorization');
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) {
    try {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const idx = decoded.indexOf(':');
      return decodeURIComponent(idx === -1 ? decoded : decoded.slice(0, idx));
    } catch {
      return null;
    }
  }
  const fromBody = ctx.oidc?.params?.client_id ?? ctx.request.body?.client_id;
  return typeof fromBody === 'string' ? fromBody : null;
}

provider.on('grant.error', (ctx, err) => {
  logEvent({
    event: 'grant_error',
    error: err.error ?? err.name,
    error_description: err.error_description ?? err.message,
    error_detail: err.error_detail ?? null,
    client_id: attemptedClientId(ctx),
    grant_type: ctx.oidc?.params?.grant_type ?? null,
    status: err.statusCode ?? err.status ?? null,
  });
});

provider.on('server_error', (ctx, err) => {
  console.error('oidc-provider server_error', ctx.path, err);
});

// Static clients are validated lazily; resolve them now so that a bad
// client definition fails at startup instead of on the first request.
for (const { client_id: clientId } of configuration.clients) {
  if (!(await provider.Client.find(clientId))) {
    console.error(`client ${clientId} failed to load`);
    process.exit(1);
  }
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === SMART_JWKS_PATH) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(smartJwksUri));
    return;
  }
  callback(req, res);
});
server.listen(port, host, () => {
  console.log(`oidc provider listening issuer=${issuer} token_ttl=${tokenTtl}s token_log=${tokenLog}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
