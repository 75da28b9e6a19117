import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PUBLIC_ROUTE, REQUIRED_SCOPES } from './decorators';
import { RequestAuthenticator } from './request-authenticator';
import type { Scope } from './scopes';

export interface RoutePolicy {
  isPublic: boolean;
  scopes: readonly Scope[];
}

/** What a route's decorators ask of its callers: @Public(), or the scopes of @Authenticated() (admin if none); the handler's wins over its controller's. */
export function routePolicy(reflector: Reflector, handler: object, controller: object): RoutePolicy {
  const targets = [handler as () => void, controller as new () => unknown];
  return {
    isPublic: reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) ?? false,
    scopes: reflector.getAllAndOverride<Scope[]>(REQUIRED_SCOPES, targets) ?? ['admin'],
  };
}

/**
 * The global guard (APP_GUARD): every route needs a valid key unless marked @Public(), and the
 * key must hold the scopes of the route's @Authenticated({ scopes }) (`admin` for a route that
 * declares none). The handler's decorator wins over its controller's. Route metadata is read
 * once per handler; the checks themselves are the RequestAuthenticator's.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly policies = new WeakMap<object, RoutePolicy>();

  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  private policyFor(context: ExecutionContext): RoutePolicy {
    const handler = context.getHandler();
    let policy = this.policies.get(handler);
    if (!policy) {
      policy = routePolicy(this.reflector, handler, context.getClass());
      this.policies.set(handler, policy);
    }
    return policy;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const policy = this.policyFor(context);
    if (policy.isPublic) return true;
    const http = context.switchToHttp();
    await this.authenticator.authenticate(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), policy.scopes);
    return true;
  }
}
