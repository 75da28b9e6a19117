import { RequestMethod, SetMetadata, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, Reflector } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { routePolicy } from '../auth/api-key.guard';
import { RequestAuthenticator } from '../auth/request-authenticator';
import type { Principal } from '../auth/scopes';
import { sendError } from '../errors/all-exceptions.filter';

const DIRECT_ROUTE = 'autokestra:direct-route';

/** How the direct path calls the controller method: its parameters taken from the request. */
export type DirectCall<C> = (controller: C, request: FastifyRequest, principal: Principal, reply: FastifyReply) => unknown;

/**
 * Marks a GET route as hot: Fastify calls the controller method directly, after the same
 * authentication as every route (RequestAuthenticator, the route's own @RequireScopes()/@Public()),
 * skipping Nest's per-request pipeline (guards, pipes, interceptors, router). Profiles put that
 * pipeline at a third of a point read's CPU (docs/benchmarks.md).
 *
 * Only for routes whose parameters need no pipe or DTO: nothing validates or transforms them on
 * this path, so the method (and the engine under it) must check what it reads. The Nest route
 * stays declared as usual, so OpenAPI, the contract test and the route list do not change.
 */
export function DirectRoute<C>(call: DirectCall<C>): MethodDecorator {
  return SetMetadata(DIRECT_ROUTE, call);
}

const joinPath = (...parts: (string | undefined)[]): string =>
  '/' +
  parts
    .flatMap((p) => (p ?? '').split('/'))
    .filter((p) => p.length > 0)
    .join('/');

/**
 * Finds every @DirectRoute() and, as Nest registers the matching Fastify route, swaps in the
 * direct handler. Call after NestFactory.create and before app.init()/listen() (routes register
 * there); `verify()` after listen fails the start if a declared route was never registered.
 */
export function installDirectRoutes(app: INestApplication, fastify: FastifyInstance, logger: { error(obj: unknown, msg?: string): void }): { verify(): void } {
  const discovery = app.get(DiscoveryService, { strict: false });
  const reflector = app.get(Reflector, { strict: false });
  const authenticator = app.get(RequestAuthenticator, { strict: false });
  const handlers = new Map<string, RouteOptions['handler']>();
  for (const wrapper of discovery.getControllers()) {
    const { instance, metatype } = wrapper;
    if (!instance || !metatype) continue;
    const prototype = (metatype as { prototype: Record<string, unknown> }).prototype;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      const call = Reflect.getMetadata(DIRECT_ROUTE, method) as DirectCall<unknown> | undefined;
      if (!call) continue;
      if (Reflect.getMetadata(METHOD_METADATA, method) !== RequestMethod.GET) throw new Error(`@DirectRoute() is for GET routes: ${metatype.name}.${name}`);
      const url = joinPath(Reflect.getMetadata(PATH_METADATA, metatype), Reflect.getMetadata(PATH_METADATA, method));
      const policy = routePolicy(reflector, method, metatype);
      handlers.set(url, async (request: FastifyRequest, reply: FastifyReply) => {
        try {
          const principal = policy.isPublic ? (undefined as never) : await authenticator.authenticate(request, reply, policy.scopes);
          const result = await call(instance, request, principal, reply);
          if (!reply.sent) await reply.send(result);
        } catch (error) {
          sendError(reply, request, error, logger);
        }
        return reply;
      });
    }
  }
  const installed = new Set<string>();
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const direct = route.method === 'GET' ? handlers.get(route.url) : undefined;
    if (direct) {
      route.handler = direct;
      installed.add(route.url);
    }
  });
  return {
    verify() {
      const missing = [...handlers.keys()].filter((url) => !installed.has(url));
      if (missing.length > 0) throw new Error(`@DirectRoute() found no Fastify route for ${missing.join(', ')}`);
    },
  };
}
