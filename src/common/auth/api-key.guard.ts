import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError } from '../../engine/access/api-keys';
import { EngineProvider } from '../engine.provider';
import { ApiError } from '../errors/api-error';
import { extractPresentedKey } from './presented-key';
import { PUBLIC_ROUTE, REQUIRED_SCOPES } from './decorators';
import { credentialId, FailedAuthLimiter } from './failed-auth-limiter';
import { KeyRequestLimiter, rateLimitHeaders } from './key-request-limiter';
import { hasScopes, type Principal, type Scope } from './scopes';

interface RoutePolicy {
  isPublic: boolean;
  scopes: readonly Scope[];
}

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
 * The global guard (APP_GUARD): every route needs a valid key unless marked @Public(), and the
 * key must hold the scopes of the route's @Authenticated({ scopes }) (`admin` for a route that
 * declares none). The handler's decorator wins over its controller's. Route metadata is read
 * once per handler.
 *
 * Authentication comes first: a valid key is accepted whatever others did from its address.
 * Only failures are audited (aggregated) and rate limited, per address and per presented
 * credential. A managed key carrying a `rateLimit` is then counted against it (429 over it,
 * RateLimit-* headers on each of its responses); keys without one skip that step entirely.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly policies = new WeakMap<object, RoutePolicy>();
  private readonly keyLimiter = new KeyRequestLimiter();

  constructor(
    private readonly reflector: Reflector,
    private readonly engine: EngineProvider,
    @Inject(FAILED_AUTH_LIMITER) private readonly limiter: FailedAuthLimiter,
  ) {}

  private policyFor(context: ExecutionContext): RoutePolicy {
    const handler = context.getHandler();
    let policy = this.policies.get(handler);
    if (!policy) {
      const targets = [handler, context.getClass()];
      policy = {
        isPublic: this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) ?? false,
        scopes: this.reflector.getAllAndOverride<Scope[]>(REQUIRED_SCOPES, targets) ?? ['admin'],
      };
      this.policies.set(handler, policy);
    }
    return policy;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const policy = this.policyFor(context);
    if (policy.isPublic) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
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
      http.getResponse<FastifyReply>().headers(headers);
    }

    if (!hasScopes(principal, policy.scopes)) {
      throw new ApiError('FORBIDDEN', `this API key lacks the scope(s) required by this route: ${policy.scopes.join(', ')}`, {
        requiredScopes: policy.scopes,
      });
    }
    request.principal = { ...principal, ip };
    return true;
  }
}

/** A malformed Authorization header counts against what it carried (hashed), not just the address. */
function malformedHeaderId(authorization: string | string[] | undefined): string | null {
  if (authorization === undefined) return null;
  return credentialId(Array.isArray(authorization) ? authorization.join(',') : authorization);
}
