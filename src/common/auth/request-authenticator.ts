import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError } from '../../engine/access/api-keys';
import { EngineProvider } from '../engine.provider';
import { ApiError } from '../errors/api-error';
import { credentialId, FailedAuthLimiter } from './failed-auth-limiter';
import { KeyRequestLimiter, rateLimitHeaders } from './key-request-limiter';
import { extractPresentedKey } from './presented-key';
import { hasScopes, type Principal, type Scope } from './scopes';

export const FAILED_AUTH_LIMITER = Symbol('FAILED_AUTH_LIMITER');

function retryAfter(waitMs: number): string {
  return String(Math.max(1, Math.ceil(waitMs / 1000)));
}

function failedAuthLimited(waitMs: number): ApiError {
  const seconds = retryAfter(waitMs);
  return new ApiError('RATE_LIMITED', `too many failed authentication attempts from this address or with this key; retry in ${seconds} s`, undefined, {
    'retry-after': seconds,
  });
}

/**
 * Who is calling and may they: the whole of API-key authentication for one request, shared by
 * the global guard (every Nest route) and the direct read routes (src/common/http/direct-routes.ts),
 * so both paths refuse, limit and count exactly alike.
 *
 * Authentication comes first: a valid key is accepted whatever others did from its address.
 * Only failures are audited (aggregated) and rate limited, per address and per presented
 * credential. A managed key carrying a `rateLimit` is then counted against it (429 over it,
 * RateLimit-* headers on each of its responses); keys without one skip that step entirely.
 */
@Injectable()
export class RequestAuthenticator {
  private readonly keyLimiter = new KeyRequestLimiter();

  constructor(
    private readonly engine: EngineProvider,
    @Inject(FAILED_AUTH_LIMITER) private readonly limiter: FailedAuthLimiter,
  ) {}

  /** The caller's principal (also set as `request.principal`), or an ApiError (401, 403, 429). */
  async authenticate(request: FastifyRequest & { principal?: Principal }, reply: FastifyReply, scopes: readonly Scope[]): Promise<Principal> {
    const ip = request.ip;
    const apiKeys = this.engine.engine.apiKeys;

    let presented: string | undefined;
    let principal: Principal;
    try {
      presented = extractPresentedKey(request.headers);
      if (presented === undefined) {
        apiKeys.recordFailure(ip, null, 'missing');
        throw new ApiError('MISSING_API_KEY', 'send an API key as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
      }
      principal = await apiKeys.authenticate(presented, ip);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'INVALID_API_KEY') apiKeys.recordFailure(ip, null, 'bad authorization header');
      if (error instanceof ApiError || error instanceof AuthenticationError) {
        const credential = presented !== undefined ? credentialId(presented) : malformedHeaderId(request.headers.authorization);
        const blockedFor = await this.limiter.recordFailure(ip, credential);
        if (blockedFor > 0) {
          this.engine.engine.events.rateLimited('failed_auth');
          throw failedAuthLimited(blockedFor);
        }
      }
      throw error;
    }

    if (principal.rateLimit && principal.keyId !== null) {
      const quota = await this.keyLimiter.consume(principal.keyId, principal.rateLimit);
      const headers = rateLimitHeaders(quota);
      if (!quota.allowed) {
        this.engine.engine.events.rateLimited('api_key');
        throw new ApiError('RATE_LIMITED', `this API key is limited to ${quota.limit} requests per ${principal.rateLimit.windowSeconds} s; retry in ${retryAfter(quota.resetMs)} s`, undefined, {
          ...headers,
          'retry-after': retryAfter(quota.resetMs),
        });
      }
      reply.headers(headers);
    }

    if (!hasScopes(principal, scopes)) {
      throw new ApiError('FORBIDDEN', `this API key lacks the scope(s) required by this route: ${scopes.join(', ')}`, {
        requiredScopes: scopes,
      });
    }
    const caller = { ...principal, ip };
    request.principal = caller;
    return caller;
  }
}

/** A malformed Authorization header counts against what it carried (hashed), not just the address. */
function malformedHeaderId(authorization: string | string[] | undefined): string | null {
  if (authorization === undefined) return null;
  return credentialId(Array.isArray(authorization) ? authorization.join(',') : authorization);
}
