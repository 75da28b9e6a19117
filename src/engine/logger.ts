/**
 * What the engine logs through (pino's shape). In its own module so that the runtime and access
 * pieces can take a logger without importing the engine that wires them (an import cycle).
 */
export interface EngineLogger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}
