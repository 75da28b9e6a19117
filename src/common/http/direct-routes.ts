import { RequestMethod, SetMetadata, type INestApplication } from '@nestjs/common';
import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  HEADERS_METADATA,
  HTTP_CODE_METADATA,
  INTERCEPTORS_METADATA,
  METHOD_METADATA,
  PATH_METADATA,
  PIPES_METADATA,
  REDIRECT_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants';
import { DiscoveryService, Reflector } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ApiKeyGuard, routePolicy } from '../auth/api-key.guard';
import { RequestAuthenticator } from '../auth/request-authenticator';
import type { Principal } from '../auth/scopes';
import { AllExceptionsFilter, sendError } from '../errors/all-exceptions.filter';
import { ContentTypeGuard } from './content-type.guard';
import { createValidationPipe } from './validation';

const DIRECT_ROUTE = 'autokestra:direct-route';

/** How the direct path calls the controller method: its parameters taken from the request. */
export type DirectCall<C> = (controller: C, request: FastifyRequest, principal: Principal, reply: FastifyReply) => unknown;

/**
 * Marks a GET route as hot: Fastify calls the controller method directly, after the same
 * authentication as every route (RequestAuthenticator, the route's own @Authenticated()/@Public()),
 * skipping Nest's per-request pipeline (guards, pipes, interceptors, router): ~15 % of a
 * workflow read's CPU (docs/benchmarks.md).
 *
 * Only for routes whose parameters need no pipe or DTO: nothing validates or transforms them on
 * this path, so the method (and the engine under it) must check what it reads. The Nest route
 * stays declared as usual, so OpenAPI, the contract test and the route list do not change.
 *
 * What the direct path would skip is refused, not skipped silently: a direct route that carries
 * its own guards, interceptors, filters, pipes (on a parameter too), @HttpCode, @Header or
 * @Redirect stops the start; and when the application has global guards, interceptors, filters
 * or pipes beyond Autokestra's own (a team's APP_GUARD, say), every route stays on Nest's path.
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

/** Autokestra's own global enhancers: the direct path does what they do (authentication, the error shape). */
const CORE_ENHANCERS: readonly unknown[] = [ApiKeyGuard, ContentTypeGuard, AllExceptionsFilter, createValidationPipe];
const ENHANCER_TOKEN = /^APP_(GUARD|INTERCEPTOR|FILTER|PIPE)\b/;
const SKIPPED_METADATA = [GUARDS_METADATA, INTERCEPTORS_METADATA, EXCEPTION_FILTERS_METADATA, PIPES_METADATA, HTTP_CODE_METADATA, HEADERS_METADATA, REDIRECT_METADATA];

/** Global enhancers a team added (their DI tokens, e.g. `APP_GUARD (UUID: …)`), which the direct path would not run. */
function foreignEnhancers(discovery: DiscoveryService): string[] {
  return discovery
    .getProviders()
    .filter((wrapper) => typeof wrapper.token === 'string' && ENHANCER_TOKEN.test(wrapper.token) && !CORE_ENHANCERS.includes(wrapper.metatype))
    .map((wrapper) => `${String(wrapper.token).split(' ')[0]} ${wrapper.metatype?.name ?? '?'}`);
}

/** Why a @DirectRoute() method cannot skip Nest's pipeline, or null when it can. */
function skippedDecorators(metatype: object, name: string, method: object): string | null {
  const marked = SKIPPED_METADATA.filter((key) => {
    const onMethod = Reflect.getMetadata(key, method) as unknown;
    const onClass = Reflect.getMetadata(key, metatype) as unknown;
    return (Array.isArray(onMethod) ? onMethod.length > 0 : onMethod !== undefined) || (Array.isArray(onClass) && onClass.length > 0);
  });
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<string, { pipes?: unknown[] }>;
  if (Object.values(args).some((arg) => (arg.pipes?.length ?? 0) > 0)) marked.push('a parameter pipe');
  return marked.length > 0 ? marked.join(', ') : null;
}

/**
 * Finds every @DirectRoute() and, as Nest registers the matching Fastify route, swaps in the
 * direct handler. Call after NestFactory.create and before app.init()/listen() (routes register
 * there); `verify()` after listen fails the start if a declared route was never registered.
 */
export function installDirectRoutes(
  app: INestApplication,
  fastify: FastifyInstance,
  logger: { error(obj: unknown, msg?: string): void; info(obj: unknown, msg?: string): void },
): { verify(): void } {
  const discovery = app.get(DiscoveryService, { strict: false });
  const foreign = foreignEnhancers(discovery);
  if (foreign.length > 0) {
    logger.info({ enhancers: foreign }, 'direct routes off: the application has global enhancers of its own, which only Nest runs');
    return { verify: () => undefined };
  }
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
      const skipped = skippedDecorators(metatype, name, method);
      if (skipped !== null) throw new Error(`@DirectRoute() ${metatype.name}.${name} carries what the direct path would skip (${skipped}): remove one or the other`);
      const url = joinPath(Reflect.getMetadata(PATH_METADATA, metatype), Reflect.getMetadata(PATH_METADATA, method));
      const policy = routePolicy(reflector, method, metatype);
      handlers.set(url, async (request: FastifyRequest, reply: FastifyReply) => {
        // Nest's adapter answers 404 for an empty path parameter (`/api/v1/workflows/`); so does this
        if (Object.values(request.params as Record<string, string>).some((value) => value === '')) return reply.callNotFound();
        try {
          const principal = policy.isPublic ? (undefined as never) : await authenticator.authenticate(request, reply, policy.scopes);
          const result = await call(instance, request, principal, reply);
          // returned, not awaited: awaiting a reply waits for the whole response to be written
          return reply.sent ? reply : reply.send(result);
        } catch (error) {
          sendError(reply, request, error, logger);
          return reply;
        }
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
