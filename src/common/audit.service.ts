import { Injectable } from '@nestjs/common';
import type { AuditEntry } from '../engine/access/audit';
import type { Caller } from '../engine/access/scopes';
import { EngineProvider } from './engine.provider';

export type { AuditEntry } from '../engine/access/audit';

/**
 * The audit trail for modules: what a team's route records lands beside the built-in events
 * (`GET /api/v1/audit`), buffered like them. Pass the authenticated principal as the caller
 * (`@CurrentPrincipal()`); `details` must never hold secrets.
 */
@Injectable()
export class AuditService {
  constructor(private readonly engine: EngineProvider) {}

  record(caller: Caller, entry: AuditEntry): void {
    this.engine.engine.audit.record(caller, entry);
  }
}
