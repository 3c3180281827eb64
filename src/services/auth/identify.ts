import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import type { CryptoKey, JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import type { LRUCache } from 'lru-cache';
import { boundedLru } from '../../core/bounded-lru.js';
import type { KeyRecord } from '../../db/store.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Caller } from '../../types/caller.js';
import type { AuthSpec, JwtSpec } from '../../types/config.js';
import { KEY_PREFIX, type KeyService } from '../keys.js';

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

export interface IdentifyInput {
  headers: Headers;
  /** The exact body bytes, for keys that require an HMAC signature. */
  rawBody?: Buffer | string;
  ip: string;
}

/** jose is loaded only when JWT auth is configured. */
type Jose = typeof import('jose');
let joseModule: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => {
  joseModule ??= import('jose');
  return joseModule;
};

export const SIGNATURE_HEADER = 'x-switchyard-signature';
export const TIMESTAMP_HEADER = 'x-switchyard-timestamp';

/** No tier: the limits stage gives anonymous callers `limits.anonymous_tier`. */
const NO_AUTH: Caller = Object.freeze({ team: 'none', via: 'none' }) as Caller;
/** Longer tokens are not keys or JWTs we issue or accept; refuse before hashing or parsing them. */
const MAX_CREDENTIAL_LENGTH = 8192;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The credential a client sent: `Authorization: Bearer <x>` or `x-api-key: <x>`. */
export function presentedCredential(h: Headers): string | undefined {
  const auth = header(h, 'authorization');
  if (auth !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    return m ? m[1]!.trim() : auth.trim();
  }
  const apiKey = header(h, 'x-api-key');
  return apiKey?.trim() || undefined;
}

/**
 * The identify stage: headers (and for signed keys the raw body) in, a Caller out, or a 401/403 in
 * OpenAI's error shape. Nothing else in the gateway reads identity from headers. Messages say why a
 * credential failed without telling a guesser whether a key exists: an unknown key and a malformed one
 * get the same answer; revoked, expired and signature failures are only reported to someone who holds
 * the full secret.
 */
export class Identifier {
  private readonly jwtKey: Promise<Uint8Array | CryptoKey | JWTVerifyGetKey> | undefined;
  private readonly seenSignatures: LRUCache<string, true>;

  constructor(
    private readonly auth: AuthSpec,
    private readonly keys: KeyService | undefined,
  ) {
    this.jwtKey = auth.jwt ? loadJwtKey(auth.jwt) : undefined;
    // Avoid an unhandled rejection before the first JWT arrives; the error resurfaces on use.
    this.jwtKey?.catch(() => {});
    this.seenSignatures = boundedLru({ maxEntries: 100_000, ttl: auth.signatureWindowMs * 2 });
  }

  /**
   * The caller, or a 401/403 GatewayError, thrown or rejected. Synchronous for a key whose record is
   * cached (nearly every request), so the identify stage costs no promise; JWTs and uncached keys wait.
   */
  identify(input: IdentifyInput): Caller | Promise<Caller> {
    const mode = this.auth.mode;
    if (mode === 'none') return NO_AUTH;
    const cred = presentedCredential(input.headers);
    if (!cred) {
      throw new GatewayError(
        'missing_api_key',
        mode === 'jwt'
          ? 'No credentials: send a JWT as "Authorization: Bearer <token>".'
          : 'No API key: send "Authorization: Bearer <key>" or "x-api-key: <key>".',
      );
    }
    if (cred.length > MAX_CREDENTIAL_LENGTH)
      throw new GatewayError('invalid_api_key', 'The API key is not valid.');
    const looksLikeJwt = cred.split('.').length === 3 && !cred.startsWith(KEY_PREFIX);
    if ((mode === 'jwt' || mode === 'keys+jwt') && looksLikeJwt) return this.fromJwt(cred);
    if (mode === 'jwt') {
      throw new GatewayError('invalid_token', 'The bearer token is not a JWT.');
    }
    return this.fromKey(cred, input);
  }

  private fromKey(secret: string, input: IdentifyInput): Caller | Promise<Caller> {
    const found = secret.startsWith(KEY_PREFIX) ? this.keys?.lookupNow(secret) : undefined;
    if (found instanceof Promise) return found.then((key) => this.keyCaller(key, secret, input));
    return this.keyCaller(found, secret, input);
  }

  private keyCaller(key: KeyRecord | undefined, secret: string, input: IdentifyInput): Caller {
    if (!key) throw new GatewayError('invalid_api_key', 'The API key is not valid.');
    if (key.revokedAt !== null) {
      throw new GatewayError('api_key_revoked', 'The API key has been revoked.');
    }
    if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
      throw new GatewayError('api_key_expired', 'The API key has expired.');
    }
    if (key.requireSignature) this.checkSignature(secret, input);
    return callerFromKey(key);
  }

  /**
   * HMAC-SHA256 over `<timestamp>.<body>` keyed with the API key itself, hex, in `x-switchyard-signature`
   * (optionally `v1=`-prefixed); `x-switchyard-timestamp` is Unix seconds. Old timestamps and replays
   * within the window are refused.
   */
  private checkSignature(secret: string, input: IdentifyInput): void {
    const sigHeader = header(input.headers, SIGNATURE_HEADER);
    const tsHeader = header(input.headers, TIMESTAMP_HEADER);
    if (!sigHeader || !tsHeader) {
      throw new GatewayError(
        'signature_required',
        `This key requires signed requests: send ${TIMESTAMP_HEADER} and ${SIGNATURE_HEADER}.`,
      );
    }
    const ts = Number(tsHeader);
    if (!/^\d{1,12}$/.test(tsHeader) || Math.abs(Date.now() - ts * 1000) > this.auth.signatureWindowMs) {
      throw new GatewayError(
        'signature_expired',
        `${TIMESTAMP_HEADER} must be Unix seconds within ${Math.round(this.auth.signatureWindowMs / 1000)}s of now.`,
      );
    }
    const body = input.rawBody === undefined ? '' : input.rawBody;
    const want = createHmac('sha256', secret).update(`${tsHeader}.`).update(body).digest();
    const givenHex = sigHeader.trim().replace(/^v1=/, '');
    const given = /^[0-9a-f]{64}$/i.test(givenHex) ? Buffer.from(givenHex, 'hex') : Buffer.alloc(0);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new GatewayError('invalid_signature', 'The request signature does not match the body.');
    }
    const seen = `${tsHeader}:${givenHex.toLowerCase()}`;
    if (this.seenSignatures.has(seen)) {
      throw new GatewayError('signature_replayed', 'This signed request was already received.');
    }
    this.seenSignatures.set(seen, true);
  }

  private async fromJwt(token: string): Promise<Caller> {
    const jwt = this.auth.jwt!;
    let payload: JWTPayload;
    const { jwtVerify, errors: joseErrors } = await loadJose();
    try {
      const key = await this.jwtKey!;
      const opts = {
        algorithms: jwt.algorithms,
        clockTolerance: jwt.clockToleranceS,
        ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
        ...(jwt.audience ? { audience: jwt.audience } : {}),
      };
      payload =
        typeof key === 'function'
          ? (await jwtVerify(token, key, opts)).payload
          : (await jwtVerify(token, key, opts)).payload;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new GatewayError('token_expired', 'The JWT has expired.');
      }
      const reason =
        err instanceof joseErrors.JWTClaimValidationFailed
          ? `claim "${err.claim}" ${err.reason === 'check_failed' ? 'is not accepted' : err.reason.replace(/_/g, ' ')}`
          : err instanceof joseErrors.JOSEAlgNotAllowed
            ? 'its algorithm is not allowed'
            : err instanceof joseErrors.JWSSignatureVerificationFailed
              ? 'its signature does not verify'
              : err instanceof joseErrors.JWKSNoMatchingKey
                ? 'no configured key matches it'
                : 'it is malformed';
      throw new GatewayError('invalid_token', `The JWT is not valid: ${reason}.`);
    }
    const claim = (name: string): string | undefined => {
      const v = payload[name];
      return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
    };
    const team = claim(jwt.claims.team) ?? jwt.defaultTeam;
    if (!team) {
      throw new GatewayError(
        'token_missing_team',
        `The JWT has no "${jwt.claims.team}" claim naming a team.`,
        {},
      );
    }
    const tierClaim = claim(jwt.claims.tier);
    const tier =
      tierClaim !== undefined && this.auth.tiers.includes(tierClaim) ? tierClaim : this.auth.defaultTier;
    const user = claim(jwt.claims.user);
    return { team, tier, via: 'jwt', role: 'user', ...(user !== undefined ? { user } : {}) };
  }
}

export function callerFromKey(key: KeyRecord): Caller {
  const c: Caller = { team: key.teamId, tier: key.tier, keyId: key.id, via: 'key', role: key.role };
  if (key.userId !== null) c.user = key.userId;
  if (key.allowedModels !== null) c.allowedModels = key.allowedModels;
  if (key.limits !== null) c.limits = key.limits;
  if (key.budget !== null) c.budget = key.budget;
  if (key.cacheNamespaces !== null) c.cacheNamespaces = key.cacheNamespaces;
  return c;
}

async function loadJwtKey(jwt: JwtSpec): Promise<Uint8Array | CryptoKey | JWTVerifyGetKey> {
  const { importSPKI, createLocalJWKSet } = await loadJose();
  if (jwt.secret !== undefined) return new TextEncoder().encode(jwt.secret);
  if (jwt.publicKey !== undefined) {
    const alg = jwt.algorithms[0] ?? 'RS256';
    // One PEM serves one key type; with several algorithms configured, import for the first that fits.
    let lastErr: unknown;
    for (const a of [alg, ...jwt.algorithms.slice(1)]) {
      try {
        return await importSPKI(jwt.publicKey, a);
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }
  const jwks = JSON.parse(readFileSync(jwt.jwksFile!, 'utf8')) as JSONWebKeySet;
  return createLocalJWKSet(jwks);
}

/** The model check after resolve: a key restricted to some models may not use others. */
export function checkModelAllowed(caller: Caller, model: string): void {
  if (caller.allowedModels && !caller.allowedModels.includes(model)) {
    throw new GatewayError('model_not_allowed', `This API key may not use model '${model}'.`, {
      param: 'model',
    });
  }
}

/**
 * /admin/* access: the master key (SWITCHYARD_ADMIN_KEY) for everything, or a `team_admin` virtual key
 * for its own team only; optionally only from `admin.allow_ips`.
 */
export class AdminGuard {
  private adminKey: string | undefined;
  private adminHash: Buffer | undefined;
  private readonly allow: BlockList | undefined;

  /** `adminKey` is read per request: a config reload may change the admin key (the allowlist needs a restart). */
  constructor(
    private readonly currentAdminKey: () => string | undefined,
    allowIps: readonly string[],
    private readonly keys: KeyService | undefined,
  ) {
    if (allowIps.length > 0) {
      const list = new BlockList();
      for (const entry of allowIps) {
        const [addr, bits] = entry.split('/') as [string, string | undefined];
        const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
        if (bits === undefined) list.addAddress(addr, family);
        else list.addSubnet(addr, Number(bits), family);
      }
      this.allow = list;
    }
  }

  private hashOfAdminKey(): Buffer | undefined {
    const key = this.currentAdminKey();
    if (key !== this.adminKey) {
      this.adminKey = key;
      this.adminHash = key ? createHash('sha256').update(key).digest() : undefined;
    }
    return this.adminHash;
  }

  async identify(input: IdentifyInput): Promise<Caller> {
    if (this.allow && !ipAllowed(this.allow, input.ip)) {
      throw new GatewayError('ip_not_allowed', 'The admin API is not reachable from this address.');
    }
    const cred = presentedCredential(input.headers);
    if (!cred) {
      throw new GatewayError('missing_api_key', 'The admin API needs the admin key or a team admin key.');
    }
    const adminHash = this.hashOfAdminKey();
    if (adminHash) {
      const given = createHash('sha256').update(cred).digest();
      if (timingSafeEqual(given, adminHash))
        return { team: '*', tier: 'unlimited', via: 'admin_key', role: 'admin' };
    }
    const key =
      cred.startsWith(KEY_PREFIX) && cred.length <= MAX_CREDENTIAL_LENGTH
        ? await this.keys?.lookup(cred)
        : undefined;
    if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= Date.now())) {
      throw new GatewayError('invalid_admin_key', 'The admin key is not valid.');
    }
    if (key.role !== 'team_admin') {
      throw new GatewayError('admin_forbidden', 'This API key may not use the admin API.');
    }
    return callerFromKey(key);
  }
}

function ipAllowed(list: BlockList, ip: string): boolean {
  // IPv4 clients on a dual-stack socket arrive as ::ffff:a.b.c.d.
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return list.check(v4[1]!, 'ipv4');
  return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}
