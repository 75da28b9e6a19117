import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiExtension, ApiSecurity } from '@nestjs/swagger';
import { ApiErrors, routeDecorator, SECURITY_SCHEMES } from '../http/openapi';
import type { Scope, Principal } from './scopes';

export const PUBLIC_ROUTE = 'autokestra:public';
export const REQUIRED_SCOPES = 'autokestra:scopes';

/** The OpenAPI mark of a public route: the document gives it no security requirement (`security: []`). */
export const PUBLIC_OPERATION_EXTENSION = 'x-autokestra-public';

/** A handler that states its own policy: a controller-level decorator leaves it alone (the guard reads the handler first). */
const hasOwnPolicy = (handler: object) => Reflect.hasOwnMetadata(PUBLIC_ROUTE, handler);

export interface AuthenticatedOptions {
  /** The scopes a key needs for the route; none listed = any valid key. */
  scopes?: readonly Scope[];
}

/**
 * The route (or every route of the controller) needs a valid API key holding `scopes`. One
 * decorator sets both halves: what ApiKeyGuard enforces and what the OpenAPI document says
 * (security bearer or apiKey; 401, 403 when scopes are listed, 429). A route without any of these
 * decorators needs an `admin` key and is documented by the document's default security.
 */
export function Authenticated({ scopes = [] }: AuthenticatedOptions = {}): ClassDecorator & MethodDecorator {
  const errors = ApiErrors(401, ...(scopes.length > 0 ? [403] : []));
  return routeDecorator(
    [SetMetadata(REQUIRED_SCOPES, scopes), SetMetadata(PUBLIC_ROUTE, false)],
    (handler) => {
      for (const scheme of SECURITY_SCHEMES) ApiSecurity(scheme)(handler, handler.name, { value: handler });
      errors(handler, handler.name, { value: handler });
    },
    (handler) => !hasOwnPolicy(handler),
  );
}

/** `@Authenticated({ scopes })` as a list: the same decorator. */
export const RequireScopes = (...scopes: Scope[]) => Authenticated({ scopes });

/** Opt a route (or controller) out of API key authentication; the OpenAPI document gives it `security: []`. */
export function Public(): ClassDecorator & MethodDecorator {
  return routeDecorator(
    [SetMetadata(PUBLIC_ROUTE, true)],
    (handler) => ApiExtension(PUBLIC_OPERATION_EXTENSION, true)(handler, handler.name, { value: handler }),
    (handler) => !hasOwnPolicy(handler),
  );
}

/** The authenticated caller, set on the request by RequestAuthenticator (for the guard and the direct routes alike). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<{ principal: Principal }>().principal;
});
