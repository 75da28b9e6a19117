import { openStore } from './store/open-store';
import type { StateStore } from './store/state-store';
import { WorkflowCatalog } from './workflows';

export interface EngineLogger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

export interface EngineOptions {
  databaseUrl: string;
  /** run migrations while opening (serve: yes; every other command too, they are idempotent) */
  migrate?: boolean;
  shellEnabled: boolean;
  logger?: EngineLogger;
}

export type EngineState = 'starting' | 'ready' | 'draining' | 'stopped';

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * The engine as a library: the HTTP modules and the CLI both hold one and call the same methods.
 */
export class Engine {
  private stateValue: EngineState = 'starting';
  readonly workflows: WorkflowCatalog;
  readonly logger: EngineLogger;

  private constructor(
    private readonly store: StateStore,
    readonly options: EngineOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.workflows = new WorkflowCatalog(store, { shellEnabled: options.shellEnabled });
  }

  /** Opens the store (migrating it) and returns an initialized engine. */
  static async open(options: EngineOptions): Promise<Engine> {
    const { store } = await openStore({ url: options.databaseUrl, migrate: options.migrate ?? true });
    const engine = new Engine(store, options);
    engine.stateValue = 'ready';
    return engine;
  }

  get state(): EngineState {
    return this.stateValue;
  }

  get initialized(): boolean {
    return this.stateValue === 'ready' || this.stateValue === 'draining';
  }

  getStateStore(): StateStore {
    return this.store;
  }

  /** Readiness turns false from here on; requests in flight still complete. */
  beginDrain(): void {
    if (this.stateValue === 'ready') this.stateValue = 'draining';
  }

  async shutdown(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.beginDrain();
    this.stateValue = 'stopped';
    await this.store.close();
  }
}
