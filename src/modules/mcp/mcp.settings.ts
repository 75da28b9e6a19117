export const MCP_SETTINGS = Symbol('MCP_SETTINGS');

/** What the MCP routes need from the configuration (mcp.*), resolved once at start. */
export interface McpSettings {
  /** the externally visible base URL; null = from the request's scheme and Host */
  publicUrl: string | null;
}
