/**
 * Authentication and tenancy: AK/SK signatures and X-Auth-Token tokens, projects, roles
 * (design D9, D17). Every failure to authenticate is 401 APIGW.0301; a credential used on
 * another project, or a read-only one on a mutating call, is 403 APIGW.0302. Repeated
 * failures (wrong passwords per user name and per address, wrong signatures per access key
 * and per address) are throttled with back-off: 429 APIGW.0308 (throttle.ts, issue 12).
 *
 * Roles: `admin` changes its project; `readonly` reads it; `operator` reads its own project
 * and sees every project's series on `/metrics` (docs/security.md).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { newAccessKey, newId, newProjectId, newSecretKey } from '../domain/ids.js';
import type { CredentialRecord, Role, TokenRecord } from '../domain/records.js';
import { ReadCache, type ReadPoint } from '../store/read-cache.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { DUMMY_PASSWORD_HASH, hashPassword, sha256Hex, verifyPassword, type Secrets } from './secrets.js';
import { longestBlock, type AuthThrottle } from './throttle.js';
import { canonicalRequest, hmacMatches, MAX_CLOCK_SKEW_MS, parseAuthorization, parseSdkDate, stringToSign } from './signer.js';

export interface Principal {
  projectId: string;
  role: Role;
  /** access key or user name, for logs */
  id: string;
  method: 'aksk' | 'token';
}

export interface IncomingAuth {
  method: string;
  url: string;
  /** names in lower case, as Node gives them */
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer | undefined;
  /** the request's read point (read-cache.ts), shared with the route's own reads */
  at?: ReadPoint | undefined;
  /** the peer's address (the socket's, never a header's): failures are counted per address */
  ip?: string | undefined;
  /**
   * Accept `Authorization: Basic base64(AK:SK)` (the secret key sent as is): only for
   * `/metrics`, since Prometheus cannot sign requests; never on the API routes.
   */
  allowBasic?: boolean;
}

export const TOKEN_TTL_MS = 24 * 3600_000;

const fail = (why: string): AppError => new AppError('AUTH_FAILED', { args: [why] });

/** 429 for a blocked key: the seconds left, in the message and in Retry-After. */
function throttled(what: string, ms: number): AppError {
  const sec = Math.max(1, Math.ceil(ms / 1000));
  return new AppError('TOO_MANY_AUTH_FAILURES', { args: [what, sec], details: { retryAfterSec: sec } });
}

/** The address a failure is counted against; one key for requests with none (in-process calls). */
const addressKey = (ip: string | undefined): string => ip ?? 'unknown';

/** Decrypted secret keys kept (each a few dozen bytes). */
const SECRET_CACHE_SIZE = 10_000;

export class AuthService {
  private readonly secretKeys = new Map<string, string>();
  /** Access keys as the store has them, while it is unchanged (a deleted key fails at once). */
  private readonly credentials: ReadCache<CredentialRecord | undefined>;
  /** Tokens by their hash, the same way (a revoked token fails at once; expiry is checked on each use). */
  private readonly tokens: ReadCache<TokenRecord | undefined>;
  /**
   * `throttle`: the back-off counters (main.ts builds them from the settings); null (the
   * local CLI, which authenticates nobody) counts nothing.
   */
  constructor(
    private readonly store: Store,
    private readonly secrets: Secrets,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly throttle: AuthThrottle | null = null,
  ) {
    this.credentials = new ReadCache(store, clock);
    this.tokens = new ReadCache(store, clock);
  }

  async authenticate(r: IncomingAuth): Promise<Principal> {
    const header = (name: string): string | undefined => {
      const v = r.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    };
    const token = header('x-auth-token');
    if (token) return this.authenticateToken(token, r.at);
    const authz = header('authorization');
    if (!authz) throw fail('no credentials: sign the request with AK/SK (Authorization, X-Sdk-Date) or send X-Auth-Token');
    // Keystone tokens also travel as a bearer token (what Prometheus and most HTTP tools send).
    const bearer = /^Bearer +(\S+)$/i.exec(authz);
    if (bearer) return this.authenticateToken(bearer[1]!, r.at);
    if (/^Basic /i.test(authz)) {
      if (!r.allowBasic) throw fail('Basic authentication is accepted only on /metrics; sign the request with AK/SK or send X-Auth-Token');
      return this.authenticateBasic(authz.slice(6).trim(), r.ip, r.at);
    }
    const parsed = parseAuthorization(authz);
    if (!parsed) throw fail('malformed Authorization header: expected "SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…"');
    const date = header('x-sdk-date');
    if (!date) throw fail('X-Sdk-Date header missing');
    const at = parseSdkDate(date);
    if (at === null) throw fail('X-Sdk-Date must be YYYYMMDDTHHMMSSZ');
    if (Math.abs(this.clock.now() - at) > MAX_CLOCK_SKEW_MS) throw fail('X-Sdk-Date is more than 15 minutes from the server time');
    if (!parsed.signedHeaders.includes('x-sdk-date')) throw fail('x-sdk-date must be a signed header');
    // The SDK signs host with every request; without it a signature could be sent to another endpoint.
    if (!parsed.signedHeaders.includes('host')) throw fail('host must be a signed header');
    // X-Sdk-Content-Sha256 replaces the body's hash in the canonical request: honoured only when
    // it is signed and is the hash of the body sent (never UNSIGNED-PAYLOAD with a body), so no
    // body can ride on another body's signature.
    const declared = header('x-sdk-content-sha256');
    if (declared !== undefined) {
      if (!parsed.signedHeaders.includes('x-sdk-content-sha256')) throw fail('X-Sdk-Content-Sha256 must be a signed header');
      const empty = !r.rawBody || r.rawBody.length === 0;
      const ok = declared === 'UNSIGNED-PAYLOAD' ? empty : declared.toLowerCase() === sha256Hex(r.rawBody ?? Buffer.alloc(0));
      if (!ok) throw fail('X-Sdk-Content-Sha256 is not the SHA-256 of the body (dwsbox needs every body signed)');
    }
    await this.refuseIfBlocked(parsed.accessKey, r.ip);
    const cred = await this.credential(parsed.accessKey, r.at);
    if (!cred) {
      await this.signatureFailed(null, r.ip);
      throw fail('unknown access key');
    }
    // Node gives header names in lower case: only the signed ones are read.
    const headers: Record<string, string> = {};
    for (const h of parsed.signedHeaders) headers[h] = header(h) ?? '';
    const canonical = canonicalRequest({ method: r.method, url: r.url, headers, body: r.rawBody }, parsed.signedHeaders);
    if (!hmacMatches(this.secretKeyOf(cred.secretEnc), stringToSign(date, canonical), parsed.signature)) {
      // A wrong signature for a known key is a guess at its secret.
      await this.signatureFailed(cred.accessKey, r.ip);
      throw fail('signature mismatch');
    }
    if (this.throttle?.signatureKey.mayHold(cred.accessKey)) await this.throttle.signatureKey.clear(cred.accessKey);
    return { projectId: cred.projectId, role: cred.role, id: cred.accessKey, method: 'aksk' };
  }

  /** `Basic base64(AK:SK)` (only where `allowBasic`): the secret compared in constant time, failures counted like signatures. */
  private async authenticateBasic(b64: string, ip: string | undefined, at: ReadPoint | undefined): Promise<Principal> {
    const text = Buffer.from(b64, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    const ak = colon > 0 ? text.slice(0, colon) : '';
    const sk = colon > 0 ? text.slice(colon + 1) : '';
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(ak) || sk.length === 0 || sk.length > 256)
      throw fail('malformed Basic credentials: expected base64 of ACCESS_KEY:SECRET_KEY');
    await this.refuseIfBlocked(ak, ip);
    const cred = await this.credential(ak, at);
    if (!cred) {
      await this.signatureFailed(null, ip);
      throw fail('unknown access key');
    }
    const same = timingSafeEqual(Buffer.from(sha256Hex(this.secretKeyOf(cred.secretEnc)), 'hex'), Buffer.from(sha256Hex(sk), 'hex'));
    if (!same) {
      await this.signatureFailed(cred.accessKey, ip);
      throw fail('wrong secret key');
    }
    await this.throttle?.signatureKey.clear(cred.accessKey);
    return { projectId: cred.projectId, role: cred.role, id: cred.accessKey, method: 'aksk' };
  }

  private credential(accessKey: string, at: ReadPoint | undefined): Promise<CredentialRecord | undefined> {
    return this.credentials.get(accessKey, async () => ({ value: await this.store.getCredential(accessKey) }), at);
  }

  /**
   * An access key's secret, decrypted once per sealed value (AES-GCM on every request was 4 %
   * of the API's CPU time, issue 14). Keyed by the ciphertext, which a new or rotated key
   * changes; the signature itself is still checked on every request.
   */
  private secretKeyOf(sealed: string): string {
    let secret = this.secretKeys.get(sealed);
    if (secret === undefined) {
      secret = this.secrets.decrypt(sealed);
      if (this.secretKeys.size >= SECRET_CACHE_SIZE) this.secretKeys.delete(this.secretKeys.keys().next().value!);
      this.secretKeys.set(sealed, secret);
    }
    return secret;
  }

  /** 429 while the access key or the address is blocked: nothing is looked up or checked. */
  private async refuseIfBlocked(accessKey: string, ip: string | undefined): Promise<void> {
    const t = this.throttle;
    const address = addressKey(ip);
    if (!t || (!t.signatureKey.mayHold(accessKey) && !t.signatureAddress.mayHold(address))) return;
    const ms = await longestBlock([
      [t.signatureKey, accessKey],
      [t.signatureAddress, address],
    ]);
    if (ms > 0) throw throttled('too many failed signatures for this access key or from this address', ms);
  }

  private async signatureFailed(accessKey: string | null, ip: string | undefined): Promise<void> {
    const t = this.throttle;
    if (!t) return;
    await Promise.all([accessKey === null ? 0 : t.signatureKey.fail(accessKey), t.signatureAddress.fail(addressKey(ip))]);
  }

  private async authenticateToken(token: string, at: ReadPoint | undefined): Promise<Principal> {
    if (token.length > 512) throw fail('malformed token');
    const hash = sha256Hex(token);
    const t = await this.tokens.get(hash, async () => ({ value: await this.store.getToken(hash) }), at);
    if (!t) throw fail('invalid token');
    if (t.expiresAt <= this.clock.now()) throw fail('token expired');
    return { projectId: t.projectId, role: t.role, id: `user:${t.userId}`, method: 'token' };
  }

  /** 403 unless the principal may act on this project (and mutate, when `mutating`). */
  authorize(p: Principal, projectId: string, mutating: boolean): void {
    if (p.projectId !== projectId)
      throw new AppError('FORBIDDEN', { args: [`the credential belongs to another project than ${projectId.slice(0, 64)}`] });
    if (mutating && p.role !== 'admin')
      throw new AppError('FORBIDDEN', {
        args: [`${p.role === 'operator' ? 'an operator' : 'a read-only'} credential cannot change resources`],
      });
  }

  /**
   * Keystone-style password authentication with project scope. `source` is the caller's
   * address: failures are counted per user name and per address, with back-off (429 while
   * blocked). An unknown name is checked against a dummy hash, so it costs what a known one
   * costs and is throttled the same way.
   */
  async issueToken(
    userName: string,
    password: string,
    scope: { projectId?: string; projectName?: string },
    source?: string,
  ): Promise<{ token: string; expiresAt: number; issuedAt: number; userId: string; projectId: string; projectName: string; role: Role }> {
    const t = this.throttle;
    const address = addressKey(source);
    if (t) {
      const ms = await longestBlock([
        [t.loginUser, userName],
        [t.loginAddress, address],
      ]);
      if (ms > 0) throw throttled('too many failed sign-ins for this user name or from this address', ms);
    }
    const u = await this.store.getUserByName(userName);
    const ok = await verifyPassword(password, u?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!u || !ok) {
      if (t) await Promise.all([t.loginUser.fail(userName), t.loginAddress.fail(address)]);
      throw fail('wrong user name or password');
    }
    await t?.loginUser.clear(userName);
    const project = await this.store.getProject(u.projectId);
    if (!project) throw fail('the user has no project');
    if ((scope.projectId && scope.projectId !== project.id) || (scope.projectName && scope.projectName !== project.name)) {
      throw new AppError('FORBIDDEN', { args: ['the user has no role in the requested project'] });
    }
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    await this.store.insertToken({
      tokenHash: sha256Hex(token),
      userId: u.id,
      projectId: u.projectId,
      role: u.role,
      expiresAt: now + TOKEN_TTL_MS,
      createdAt: now,
    });
    await this.store.deleteExpiredTokens(now);
    return {
      token,
      expiresAt: now + TOKEN_TTL_MS,
      issuedAt: now,
      userId: u.id,
      projectId: project.id,
      projectName: project.name,
      role: u.role,
    };
  }

  // ------------------------------------------------------------------ administration (CLI, bootstrap)
  async createCredential(
    projectId: string,
    role: Role,
    ak?: string,
    sk?: string,
    description: string | null = null,
  ): Promise<{ accessKey: string; secretKey: string; projectId: string; role: Role }> {
    await this.store.ensureProject({ id: projectId, name: projectId, createdAt: this.clock.now() });
    const accessKey = ak ?? newAccessKey();
    const secretKey = sk ?? newSecretKey();
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(accessKey))
      throw new AppError('VALIDATION', { args: ['an access key is 8 to 64 letters, digits, _ or -'] });
    if (secretKey.length < 16 || secretKey.length > 128)
      throw new AppError('VALIDATION', { args: ['a secret key is 16 to 128 characters'] });
    await this.store.insertCredential({
      accessKey,
      projectId,
      role,
      secretEnc: this.secrets.encrypt(secretKey),
      description,
      createdAt: this.clock.now(),
    });
    return { accessKey, secretKey, projectId, role };
  }

  async createUser(
    projectId: string,
    name: string,
    password: string,
    role: Role,
  ): Promise<{ id: string; name: string; projectId: string; role: Role }> {
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name))
      throw new AppError('VALIDATION', { args: ['a user name is 1 to 64 letters, digits, _ . @ or -'] });
    if (password.length < 8) throw new AppError('VALIDATION', { args: ['a password has at least 8 characters'] });
    await this.store.ensureProject({ id: projectId, name: projectId, createdAt: this.clock.now() });
    const id = newId();
    await this.store.insertUser({ id, projectId, name, role, passwordHash: await hashPassword(password), createdAt: this.clock.now() });
    return { id, name, projectId, role };
  }

  /**
   * Start-up credentials: the configured project and admin key pair exist; or, on a first
   * start with none configured and no credentials stored, a new project and admin key pair
   * are created and returned (to be printed once).
   */
  async bootstrap(cfg: {
    projectId: string | null;
    accessKey: string | null;
    secretKey: string | null;
  }): Promise<{ accessKey: string; secretKey: string; projectId: string } | null> {
    if (cfg.projectId && cfg.accessKey && cfg.secretKey) {
      const existing = await this.store.getCredential(cfg.accessKey);
      if (existing) {
        if (existing.projectId !== cfg.projectId || this.secrets.decrypt(existing.secretEnc) !== cfg.secretKey) {
          throw new Error(
            `access key ${cfg.accessKey} already exists with another project or secret; delete it (npx dwsbox credentials delete) or choose another DWSBOX_ACCESS_KEY`,
          );
        }
        return null;
      }
      try {
        await this.createCredential(cfg.projectId, 'admin', cfg.accessKey, cfg.secretKey, 'bootstrap');
      } catch (e) {
        // Another process on the same store (started at the same moment) created it first: fine if it is the same.
        const now = await this.store.getCredential(cfg.accessKey);
        if (!now || now.projectId !== cfg.projectId || this.secrets.decrypt(now.secretEnc) !== cfg.secretKey) throw e;
        return null;
      }
      this.log.info('bootstrap credential created', { projectId: cfg.projectId, accessKey: cfg.accessKey });
      return null;
    }
    if ((await this.store.listCredentials()).length > 0) return null;
    const projectId = newProjectId();
    return this.createCredential(projectId, 'admin', undefined, undefined, 'first start');
  }
}
