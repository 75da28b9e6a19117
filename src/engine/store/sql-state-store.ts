import type { WorkflowDefinition } from '../dsl/types';
import { fromJson, toJson, toMillis, type SqlClient } from './sql-client';
import { SqlListQuery } from './sql-list-query';
import { SqlExecutionStore } from './sql-execution-store';
import { SqlAccessStore } from './sql-access-store';
import {
  ToolNameConflictError,
  type ApplyWorkflowCommand,
  type Page,
  type StateStore,
  type ToolWorkflow,
  type ToolWorkflowQuery,
  type WorkflowListQuery,
  type WorkflowRecord,
  type WorkflowSummary,
} from './state-store';

interface WorkflowRow {
  id: string;
  namespace: string;
  description: string | null;
  enabled: number | boolean;
  revision: number | string;
  created_at: number | string;
  updated_at: number | string;
  source?: string;
  definition?: string;
}

const SUMMARY_COLUMNS = 'id, namespace, description, enabled, revision, created_at, updated_at';

function toSummary(row: WorkflowRow): WorkflowSummary {
  return {
    id: row.id,
    namespace: row.namespace,
    description: row.description,
    enabled: row.enabled === true || Number(row.enabled) === 1,
    revision: Number(row.revision),
    createdAt: toMillis(row.created_at),
    updatedAt: toMillis(row.updated_at),
  };
}

/** The unique index on workflows.tool_name refused a write (SQLite and PostgreSQL report it differently). */
function isToolNameConflict(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.code === '23505') return e.constraint === 'workflows_tool_name_unique' || message.includes('workflows_tool_name_unique');
  return (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT') && message.includes('workflows.tool_name');
}

function toRecord(row: WorkflowRow): WorkflowRecord {
  return { ...toSummary(row), source: row.source!, definition: fromJson<WorkflowDefinition>(row.definition), definitionJson: row.definition };
}

export class SqlStateStore implements StateStore {
  readonly executions: SqlExecutionStore;
  readonly access: SqlAccessStore;

  constructor(
    protected readonly db: SqlClient,
    private readonly onClose: () => Promise<void>,
  ) {
    this.executions = new SqlExecutionStore(db);
    this.access = new SqlAccessStore(db);
  }

  get dialect() {
    return this.db.dialect;
  }

  async ping(): Promise<void> {
    await this.db.get('select 1 as ok');
  }

  close(): Promise<void> {
    return this.onClose();
  }

  listWorkflows(query: WorkflowListQuery): Promise<Page<WorkflowSummary>> {
    // Workflows have user-chosen ids, so "newest first" is by creation time, id as tie-breaker.
    const list = new SqlListQuery().filter('namespace = ?', query.namespace);
    if (query.enabled !== undefined) list.where('enabled = ?', query.enabled ? 1 : 0);
    return list
      .namespaces('namespace', query.namespaces)
      .page(this.db, `select ${SUMMARY_COLUMNS} from workflows`, 'created_at desc, id desc', query, toSummary);
  }

  async getWorkflow(id: string): Promise<WorkflowRecord | null> {
    const row = await this.db.get<WorkflowRow>(`select ${SUMMARY_COLUMNS}, source, definition from workflows where id = ?`, [id]);
    return row ? toRecord(row) : null;
  }

  async getWorkflowSummary(id: string): Promise<WorkflowSummary | null> {
    const row = await this.db.get<WorkflowRow>(`select ${SUMMARY_COLUMNS} from workflows where id = ?`, [id]);
    return row ? toSummary(row) : null;
  }

  /** Enabled workflows that are tools, by tool name (the `workflows.tool_name` index; no definition decoded). */
  listToolWorkflows(query: ToolWorkflowQuery): Promise<Page<ToolWorkflow>> {
    return new SqlListQuery()
      .where('tool_name is not null')
      .where('enabled = ?', 1)
      .filter('namespace = ?', query.namespace)
      .namespaces('namespace', query.namespaces)
      .page(this.db, `select ${SUMMARY_COLUMNS}, tool_name from workflows`, 'tool_name', query, (row: WorkflowRow & { tool_name: string }) => ({
        ...toSummary(row),
        toolName: row.tool_name,
      }));
  }

  async getToolWorkflow(toolName: string): Promise<ToolWorkflow | null> {
    const row = await this.db.get<WorkflowRow & { tool_name: string }>(
      `select ${SUMMARY_COLUMNS}, tool_name from workflows where tool_name = ? and enabled = ?`,
      [toolName, 1],
    );
    return row ? { ...toSummary(row), toolName: row.tool_name } : null;
  }

  async getWorkflowRevision(id: string, revision: number): Promise<WorkflowRecord | null> {
    const row = await this.db.get<WorkflowRow>(
      `select r.workflow_id as id, r.namespace, null as description, 1 as enabled, r.revision,
              r.created_at, r.created_at as updated_at, r.source, r.definition
         from workflow_revisions r where r.workflow_id = ? and r.revision = ?`,
      [id, revision],
    );
    if (!row) return null;
    const record = toRecord(row);
    return { ...record, description: record.definition.description };
  }

  async applyWorkflow(command: ApplyWorkflowCommand): Promise<{ workflow: WorkflowRecord; created: boolean }> {
    const toolName = command.toolName !== undefined ? command.toolName : (command.definition.tool?.name ?? null);
    try {
      return await this.applyWorkflowOnce(command, toolName);
    } catch (error) {
      if (toolName === null || !isToolNameConflict(error)) throw error;
      // The transaction is over (a PostgreSQL one is unusable after the violation): look the holder up now.
      const holder = await this.db.get<{ id: string; namespace: string }>('select id, namespace from workflows where tool_name = ?', [toolName]);
      throw new ToolNameConflictError(toolName, holder ? { id: holder.id, namespace: holder.namespace } : null);
    }
  }

  private applyWorkflowOnce(command: ApplyWorkflowCommand, toolName: string | null): Promise<{ workflow: WorkflowRecord; created: boolean }> {
    // `definition` may decode lazily (a large one comes from the parser thread as JSON): not read here.
    const { id, namespace, description, source, now } = command;
    const definitionJson = command.definitionJson ?? toJson(command.definition);
    const triggers = command.triggers ?? command.definition.triggers;
    return this.db.transaction(async (tx) => {
      // The first statement writes, so SQLite takes its write lock before anything is read.
      // tool_name is unique: a name another workflow holds fails this statement (or the insert).
      const bumped = await tx.all<{ revision: number }>(
        `update workflows set revision = revision + 1, namespace = ?, description = ?, source = ?,
                definition = ?, tool_name = ?, updated_at = ? where id = ? returning revision`,
        [namespace, description, source, definitionJson, toolName, now, id],
      );
      let created = false;
      let revision: number;
      if (bumped.length > 0) {
        revision = Number(bumped[0].revision);
      } else {
        const previous = await tx.get<{ max_revision: number | null }>(
          'select max(revision) as max_revision from workflow_revisions where workflow_id = ?',
          [id],
        );
        revision = Number(previous?.max_revision ?? 0) + 1;
        created = true;
        await tx.run(
          `insert into workflows (id, namespace, description, enabled, revision, source, definition, tool_name, created_at, updated_at)
           values (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
          [id, namespace, description, revision, source, definitionJson, toolName, now, now],
        );
      }
      await tx.run(
        `insert into workflow_revisions (workflow_id, revision, namespace, source, definition, created_at)
         values (?, ?, ?, ?, ?, ?)`,
        [id, revision, namespace, source, definitionJson, now],
      );
      // The scheduler reads this small index instead of parsing every definition each tick.
      await tx.run('delete from workflow_triggers where workflow_id = ?', [id]);
      for (const trigger of triggers) {
        await tx.run('insert into workflow_triggers (workflow_id, trigger_id, cron, timezone, inputs) values (?, ?, ?, ?, ?)', [
          id,
          trigger.id,
          trigger.cron,
          trigger.timezone,
          toJson(trigger.inputs),
        ]);
      }
      // The definition just written is the one in hand: decoding it again would cost as much.
      const row = await tx.get<WorkflowRow>(`select ${SUMMARY_COLUMNS} from workflows where id = ?`, [id]);
      const workflow = { ...toSummary(row!), source, definitionJson } as WorkflowRecord;
      Object.defineProperty(workflow, 'definition', { enumerable: true, configurable: true, get: () => command.definition });
      return { workflow, created };
    });
  }

  async setWorkflowEnabled(id: string, enabled: boolean, now: number): Promise<WorkflowRecord | null> {
    const rows = await this.db.all<WorkflowRow>(
      `update workflows set enabled = ?, updated_at = ? where id = ? returning ${SUMMARY_COLUMNS}, source, definition`,
      [enabled ? 1 : 0, now, id],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const deleted = await tx.run('delete from workflows where id = ?', [id]);
      await tx.run('delete from workflow_triggers where workflow_id = ?', [id]);
      return deleted > 0;
    });
  }
}
