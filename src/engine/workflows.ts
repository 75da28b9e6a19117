import { setImmediate as nextTurn } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { WorkflowParser } from './dsl/workflow-parser';
import type { TaskTypeSchema } from './dsl/property-schema';
import type { AuditLog } from './access/audit';
import { namespaceAllowed, type NamespaceScope } from './access/namespace-patterns';
import type { Caller } from './access/scopes';
import type { SecretGrants } from './dsl/parse-workflow';
import { WORKFLOW_ID_PATTERN, type Diagnostic, type WorkflowDefinition } from './dsl/types';
import { InvalidWorkflowError, NotFoundError, ValidationError, WorkflowIdMismatchError } from './errors';
import { ToolNameConflictError, type Page, type StateStore, type WorkflowRecord, type WorkflowSummary } from './store/state-store';
import { DEFAULT_MAX_ALIAS_COUNT, DEFAULT_MAX_DEPTH } from './dsl/parse-workflow';
import { loadYaml } from './dsl/yaml-source';

export interface WorkflowListOptions {
  limit: number;
  offset: number;
  namespace?: string;
  enabled?: boolean;
}

/** Which secrets a workflow of a namespace may read (the SecretStore). */
export interface SecretAvailability {
  /** each secret's effective allow-list; plain data, so the parser thread can check references */
  grants(): SecretGrants;
}

const ANONYMOUS: Caller = { actor: 'cli', ip: null };

export function assertWorkflowId(id: string, field = 'id'): void {
  if (!WORKFLOW_ID_PATTERN.test(id)) {
    throw new ValidationError([
      { field, message: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$ (letters, digits, dot, underscore, dash; at most 100 characters)' },
    ]);
  }
}

/**
 * A tool name another workflow holds, as a diagnostic like any other DSL rule: at `tool.name`, or
 * at `tool` when the name is the defaulted workflow id. The line is looked up only on this path
 * (the source is parsed again, which costs what the apply's parse did). The other workflow is
 * named only when the caller may see it: otherwise the name is just taken.
 */
function toolNameTaken(source: string, conflict: ToolNameConflictError, scope: NamespaceScope): InvalidWorkflowError {
  const loaded = loadYaml(source, { maxDepth: DEFAULT_MAX_DEPTH, maxAliasCount: DEFAULT_MAX_ALIAS_COUNT });
  const root = loaded.value as { tool?: { name?: unknown } } | undefined;
  const explicit = root?.tool?.name != null;
  const path = explicit ? ['tool', 'name'] : ['tool'];
  const holder = conflict.holder && namespaceAllowed(conflict.holder.namespace, scope) ? ` by workflow '${conflict.holder.id}'` : ' by another workflow';
  const fix = explicit ? 'choose another tool.name' : 'set tool.name (the default is the workflow id)';
  return new InvalidWorkflowError([
    { path: path.join('.'), message: `tool name '${conflict.toolName}' is already used${holder}; tool names are unique across workflows: ${fix}`, line: loaded.locate(path) },
  ]);
}

/**
 * Workflow definitions: apply (validate + store a new revision), read, enable/disable, delete.
 * Shared by the HTTP module and the CLI so that validation is written once.
 */
export class WorkflowCatalog {
  // Revisions are immutable: a definition cached by id@revision never goes stale.
  private readonly definitions = new LRUCache<string, WorkflowDefinition>({ max: 1000 });

  constructor(
    private readonly store: StateStore,
    /** taskTypes is read per apply: types registered before the engine starts are seen (Engine.registerTaskType) */
    private readonly options: { taskTypes: () => readonly TaskTypeSchema[]; now?: () => number; secrets?: SecretAvailability },
    private readonly audit?: AuditLog,
    /** parses large sources off the event loop */
    readonly parser: WorkflowParser = new WorkflowParser(),
  ) {}

  /** The definition of one revision (cached; used by triggers and by the runner). */
  async definitionOf(id: string, revision: number): Promise<WorkflowDefinition | null> {
    const key = `${id}@${revision}`;
    let definition = this.definitions.get(key);
    if (!definition) {
      definition = (await this.store.getWorkflowRevision(id, revision))?.definition;
      if (definition) this.definitions.set(key, definition);
    }
    return definition ?? null;
  }

  /** The current revision's summary and definition, for triggering (no YAML parse, no source). */
  async current(id: string, caller?: Caller): Promise<{ workflow: WorkflowSummary; definition: WorkflowDefinition }> {
    const scope = caller?.namespaces;
    assertWorkflowId(id);
    const workflow = await this.store.getWorkflowSummary(id);
    if (!workflow || !namespaceAllowed(workflow.namespace, scope)) throw new NotFoundError('workflow', id);
    const definition = await this.definitionOf(id, workflow.revision);
    if (!definition) throw new NotFoundError('workflow', id);
    return { workflow, definition };
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  /**
   * Validates `source` and stores it as the next revision. `expectedId` is the id from the URL
   * (or undefined for the CLI, which takes the id from the file).
   */
  async apply(source: string, expectedId?: string, caller: Caller = ANONYMOUS): Promise<{ workflow: WorkflowRecord; created: boolean }> {
    const scope = caller.namespaces;
    if (expectedId !== undefined) assertWorkflowId(expectedId);
    if (source.trim().length === 0) {
      throw new InvalidWorkflowError([{ path: '', message: 'the workflow YAML is empty' }]);
    }
    const secrets = this.options.secrets;
    const result = await this.parser.parse(source, {
      taskTypes: this.options.taskTypes(),
      // Outside the caller's namespaces the apply ends NOT_FOUND: answering about secrets there
      // would tell the caller which names another namespace can read.
      secretAccess: secrets ? { grants: secrets.grants(), callerNamespaces: scope } : undefined,
    });
    if (!result.ok) {
      throw new InvalidWorkflowError(result.diagnostics as Diagnostic[]);
    }
    // From the parser thread: the fields needed here, the definition itself only as JSON.
    const definition = result.header ?? result.definition;
    // A large result arrives in one piece: let waiting requests (probes) run before storing it.
    if (result.definitionJson !== undefined) await nextTurn();
    if (expectedId !== undefined && definition.id !== expectedId) {
      throw new WorkflowIdMismatchError(expectedId, definition.id);
    }
    if (!namespaceAllowed(definition.namespace, scope)) {
      // Outside the caller's namespaces the workflow "does not exist" for them (no existence leak).
      throw new NotFoundError('workflow', definition.id);
    }
    if (scope) {
      const current = await this.store.getWorkflowSummary(definition.id);
      if (current && !namespaceAllowed(current.namespace, scope)) throw new NotFoundError('workflow', definition.id);
    }
    const toolName = definition.tool?.name ?? null;
    let applied: { workflow: WorkflowRecord; created: boolean };
    try {
      applied = await this.store.applyWorkflow({
        id: definition.id,
        namespace: definition.namespace,
        description: definition.description,
        source,
        get definition() {
          return result.definition;
        },
        definitionJson: result.definitionJson,
        triggers: definition.triggers,
        toolName,
        now: this.now(),
      });
    } catch (error) {
      if (error instanceof ToolNameConflictError) throw toolNameTaken(source, error, scope);
      throw error;
    }
    if (result.definitionJson !== undefined) await nextTurn();
    this.audit?.record(caller, {
      action: 'workflow.apply',
      resourceType: 'workflow',
      resourceId: definition.id,
      namespace: definition.namespace,
      details: { revision: applied.workflow.revision, created: applied.created },
    });
    return applied;
  }

  list(options: WorkflowListOptions, caller?: Caller): Promise<Page<WorkflowSummary>> {
    return this.store.listWorkflows({ ...options, namespaces: caller?.namespaces });
  }

  async get(id: string, caller?: Caller): Promise<WorkflowRecord> {
    const scope = caller?.namespaces;
    assertWorkflowId(id);
    const workflow = await this.store.getWorkflow(id);
    if (!workflow || !namespaceAllowed(workflow.namespace, scope)) throw new NotFoundError('workflow', id);
    return workflow;
  }

  async setEnabled(id: string, enabled: boolean, caller: Caller = ANONYMOUS): Promise<WorkflowRecord> {
    await this.get(id, caller);
    const workflow = await this.store.setWorkflowEnabled(id, enabled, this.now());
    if (!workflow) throw new NotFoundError('workflow', id);
    this.audit?.record(caller, { action: enabled ? 'workflow.enable' : 'workflow.disable', resourceType: 'workflow', resourceId: id, namespace: workflow.namespace });
    return workflow;
  }

  async delete(id: string, caller: Caller = ANONYMOUS): Promise<WorkflowRecord> {
    const workflow = await this.get(id, caller);
    if (!(await this.store.deleteWorkflow(id))) throw new NotFoundError('workflow', id);
    this.audit?.record(caller, { action: 'workflow.delete', resourceType: 'workflow', resourceId: id, namespace: workflow.namespace, details: { revision: workflow.revision } });
    return workflow;
  }
}
