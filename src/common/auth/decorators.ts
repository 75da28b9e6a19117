import { SetMetadata, applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { Scope, Principal } from './scopes';

export const PUBLIC_ROUTE = 'autokestra:public';
export const REQUIRED_SCOPES = 'autokestra:scopes';

/** The OpenAPI mark of a public route: the document gives it no security requirement. */
export const PUBLIC_OPERATION_EXTENSION = 'x-autokestra-public';

/** Opt a route (or controller) out of API key authentication; OpenAPI documents it as public. */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_ROUTE, true), ApiExtension(PUBLIC_OPERATION_EXTENSION, true));

/**
 * Scopes a key needs for the route. Every protected route declares them (an empty list means
 * "any valid key"), so scoped keys need no route changes.
 */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(REQUIRED_SCOPES, scopes);

/** The authenticated caller, set on the request by ApiKeyGuard. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<{ principal: Principal }>().principal;
});
