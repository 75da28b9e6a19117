/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for `/mcp`, and the `WWW-Authenticate`
 * challenges that point MCP clients at it (MCP authorization spec). The tokens are Autokestra
 * API keys sent as Bearer tokens: there is no authorization server to advertise.
 */

export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';
export const MCP_PATH = '/mcp';
export const MCP_SCOPE = 'tools:invoke';

export interface ProtectedResourceMetadata {
  resource: string;
  resource_name: string;
  bearer_methods_supported: string[];
  scopes_supported: string[];
  resource_documentation?: string;
}

export function protectedResourceMetadata(baseUrl: string): ProtectedResourceMetadata {
  return {
    resource: `${baseUrl}${MCP_PATH}`,
    resource_name: 'Autokestra MCP server',
    bearer_methods_supported: ['header'],
    scopes_supported: [MCP_SCOPE],
  };
}

/** 401: no key, or one that does not authenticate. */
export function missingCredentialsChallenge(baseUrl: string): string {
  return `Bearer resource_metadata="${baseUrl}${RESOURCE_METADATA_PATH}"`;
}

/** 403: a valid key without tools:invoke (RFC 6750 §3.1). */
export function insufficientScopeChallenge(baseUrl: string): string {
  return `Bearer error="insufficient_scope", scope="${MCP_SCOPE}", resource_metadata="${baseUrl}${RESOURCE_METADATA_PATH}"`;
}

/**
 * The base URL clients reach us at: `mcp.publicUrl` when configured (behind a proxy the request
 * does not show it), else the request's own scheme and Host. Quotes and control characters are
 * never let through into a header value.
 */
export function baseUrlOf(publicUrl: string | null, protocol: string, host: string | undefined): string {
  if (publicUrl) return publicUrl;
  const safeHost = (host ?? 'localhost').replace(/[^A-Za-z0-9.:[\]-]/g, '');
  return `${protocol === 'https' ? 'https' : 'http'}://${safeHost || 'localhost'}`;
}
