import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors/api-error';
import { ApiKeyAuthenticator, extractPresentedKey } from './api-key-authenticator';
import { PUBLIC_ROUTE, REQUIRED_SCOPES } from './decorators';
import { hasScopes, type Principal, type Scope } from './scopes';

interface RoutePolicy {
  isPublic: boolean;
  scopes: readonly Scope[];
}

/**
 * The global guard (APP_GUARD): every route needs a valid key unless marked @Public(), and the
 * key must hold the route's @RequireScopes(). Route metadata is read once per handler.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly policies = new WeakMap<object, RoutePolicy>();

  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: ApiKeyAuthenticator,
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
    const presented = extractPresentedKey(request.headers);
    if (presented === undefined) {
      throw new ApiError('MISSING_API_KEY', 'send an API key as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    }
    const principal = await this.authenticator.authenticate(presented);
    if (!hasScopes(principal, policy.scopes)) {
      throw new ApiError('FORBIDDEN', `this API key lacks the scope(s) required by this route: ${policy.scopes.join(', ')}`, {
        requiredScopes: policy.scopes,
      });
    }
    request.principal = principal;
    return true;
  }
}
