import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AuthenticationError } from '../../engine/access/api-keys';
import { EngineProvider } from '../../modules/engine/engine.provider';
import { ApiError } from '../errors/api-error';
import { extractPresentedKey } from './presented-key';
import { PUBLIC_ROUTE, REQUIRED_SCOPES } from './decorators';
import { FailedAuthLimiter } from './failed-auth-limiter';
import { hasScopes, type Principal, type Scope } from './scopes';

interface RoutePolicy {
  isPublic: boolean;
  scopes: readonly Scope[];
}

export const FAILED_AUTH_LIMITER = Symbol('FAILED_AUTH_LIMITER');

function rateLimited(waitMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ApiError('RATE_LIMITED', `too many failed authentication attempts from this address; retry in ${seconds} s`, undefined, {
    'retry-after': String(seconds),
  });
}

/**
 * The global guard (APP_GUARD): every route needs a valid key unless marked @Public(), and the
 * key must hold the route's @RequireScopes(). Route metadata is read once per handler. Failed
 * attempts are audited (aggregated) and rate limited per client address.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly policies = new WeakMap<object, RoutePolicy>();

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
    const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    const ip = request.ip;
    const wait = this.limiter.blockedFor(ip);
    if (wait > 0) throw rateLimited(wait);

    let principal: Principal;
    try {
      const presented = extractPresentedKey(request.headers);
      if (presented === undefined) {
        this.engine.engine.apiKeys.recordFailure(ip, null, 'missing');
        throw new ApiError('MISSING_API_KEY', 'send an API key as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
      }
      principal = await this.engine.engine.apiKeys.authenticate(presented, ip);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'INVALID_API_KEY') this.engine.engine.apiKeys.recordFailure(ip, null, 'bad authorization header');
      if (error instanceof ApiError || error instanceof AuthenticationError) {
        const blockedFor = await this.limiter.recordFailure(ip);
        if (blockedFor > 0) throw rateLimited(blockedFor);
      }
      throw error;
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
