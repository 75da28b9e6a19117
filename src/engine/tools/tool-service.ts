import { CONSTRUCT_SCHEMAS } from '../dsl/constructs';
import { childLists, type TaskTypeSchema } from '../dsl/property-schema';
import { LRUCache } from 'lru-cache';
import type { AuditLog } from '../access/audit';
import { hasScopes, type Principal, type Scope } from '../access/scopes';
import { levenshtein } from '../dsl/diagnostics';
import { DEFAULT_TOOL_WAIT_MS, MAX_TOOL_WAIT_MS, type TaskDefinition, type WorkflowDefinition } from '../dsl/types';
import { EngineError, NotFoundError } from '../errors';
import type { ExecutionService } from '../runtime/executions';
import { InvalidInputsError } from '../runtime/executions';
import { coerceInputs } from '../runtime/inputs';
import { type ExecutionError, type ExecutionRecord } from '../store/execution-types';
import { TERMINAL_STATES } from '../execution-state';
import type { StateStore, ToolWorkflow } from '../store/state-store';
import { namespaceAllowed } from '../access/namespace-patterns';
import type { WorkflowCatalog } from '../workflows';
import { BUILT_IN_TOOLS, type BuiltInTool } from './built-ins';
import { inputSchemaOf, outputSchemaOf } from './schema';
import type { DryRunPlan, ToolDescriptor, ToolInvocation, ToolResult, ToolTransport } from './types';

export const TOOLS_SCOPE: Scope = 'tools:invoke';
/** `tools/list` over MCP answers in one page; a catalogue larger than this is cut (documented). */
export const MAX_LISTED_TOOLS = 1000;
const MAX_SUGGESTIONS = 5;
const MAX_CLIENT_LENGTH = 200;
/** how often a waiting invocation with a progress listener looks at the task runs */
const PROGRESS_POLL_MS = 250;

/** A tool that does not exist or that the key may not see: the same answer for both. */
export class ToolNotFoundError extends NotFoundError {
  constructor(name: string, suggestions: string[]) {
    super('tool', name, { suggestions });
    if (suggestions.length > 0) this.message += `; did you mean ${suggestions.map((s) => `'${s}'`).join(', ')}?`;
  }
}

export class ToolForbiddenError extends EngineError {
  constructor() {
    super('FORBIDDEN', `this API key lacks the scope required to use tools: ${TOOLS_SCOPE}`, { requiredScopes: [TOOLS_SCOPE] });
  }
}

/** What a User-Agent or clientInfo may put in the audit trail: printable, bounded. */
function clientLabel(client: string | null): string | null {
  if (client === null) return null;
  const printable = client.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return printable.length === 0 ? null : printable.slice(0, MAX_CLIENT_LENGTH);
}

/**
 * A result as structured content for MCP (and anything validating against the outputSchema):
 * absent rather than null, and `isError` when the execution failed or was cancelled.
 */
export function structuredResult(result: ToolResult): { structured: Record<string, unknown>; isError: boolean } {
  switch (result.kind) {
    case 'execution': {
      const { executionId, status, outputs, error, durationMs } = result;
      return {
        structured: { executionId, status, ...(outputs !== null ? { outputs } : {}), ...(error !== null ? { error } : {}), durationMs },
        isError: status === 'FAILED' || status === 'CANCELLED',
      };
    }
    case 'dry_run':
      return { structured: { status: result.status, tool: result.tool, inputs: result.inputs, plan: result.plan }, isError: false };
    case 'value':
      return { structured: result.value, isError: result.isError };
  }
}

/** The error of a finished execution without nulls (clients validating against the schema). */
export function presentError(error: ExecutionError | null): { message: string; taskId?: string; kind?: string } | null {
  if (!error) return null;
  return { message: error.message, ...(error.taskId ? { taskId: error.taskId } : {}), ...(error.kind ? { kind: error.kind } : {}) };
}

function countTasks(tasks: readonly TaskDefinition[]): number | undefined {
  let count = 0;
  for (const task of tasks) {
    const container = Object.hasOwn(CONSTRUCT_SCHEMAS, task.type) ? (CONSTRUCT_SCHEMAS as Record<string, TaskTypeSchema>)[task.type] : undefined;
    // A foreach runs its children once per item: the total is not known before it runs.
    if (container?.loopBody) return undefined;
    count += 1;
    for (const [name] of container ? childLists(container) : []) {
      const inner = countTasks((task[name] ?? []) as TaskDefinition[]);
      if (inner === undefined) return undefined;
      count += inner;
    }
  }
  return count;
}

/**
 * The tool catalogue and the one invocation path (docs/tools.md). REST and MCP are two faces of
 * this class: same visibility (tools:invoke, the key's namespaces; invisible = NOT_FOUND), same
 * coercion of arguments (the trigger's), same audit event (`tool.invoke`, never argument values).
 */
/** `field` names where the caller asked: the dryRun flag, or dry_run_tool's `tool` argument. */
function builtInCannotDryRun(name: string, field: string): InvalidInputsError {
  return new InvalidInputsError([{ field, message: `built-in tool '${name}' cannot be dry-run; only workflow tools can` }]);
}

export class ToolService {
  // Revisions are immutable: a descriptor cached by id@revision never goes stale.
  private readonly descriptors = new LRUCache<string, { descriptor: ToolDescriptor; definition: WorkflowDefinition }>({ max: 1000 });

  constructor(
    private readonly store: StateStore,
    private readonly workflows: WorkflowCatalog,
    private readonly executions: ExecutionService,
    private readonly audit?: AuditLog,
    private readonly now: () => number = Date.now,
  ) {}

  private builtInsFor(principal: Principal): BuiltInTool[] {
    return BUILT_IN_TOOLS.filter((tool) => hasScopes(principal, tool.scopes));
  }

  private assertMayUseTools(principal: Principal): void {
    if (!hasScopes(principal, [TOOLS_SCOPE])) throw new ToolForbiddenError();
  }

  /** The tools visible to the key, built-ins first, then workflow tools by name. */
  async list(principal: Principal, query: { limit: number; offset: number; namespace?: string }): Promise<{ items: ToolDescriptor[]; hasMore: boolean }> {
    this.assertMayUseTools(principal);
    // Built-ins belong to no namespace: a namespace filter lists workflow tools only.
    const builtIns = query.namespace === undefined ? this.builtInsFor(principal).map((tool) => tool.descriptor) : [];
    const items = builtIns.slice(query.offset, query.offset + query.limit);
    const page = await this.store.listToolWorkflows({
      limit: query.limit - items.length,
      offset: Math.max(0, query.offset - builtIns.length),
      namespace: query.namespace,
      namespaces: principal.namespaces,
    });
    for (const workflow of page.items) {
      const entry = await this.describeWorkflow(workflow);
      if (entry) items.push(entry.descriptor);
    }
    // A page the built-ins filled asked the store for 0 rows: its hasMore still says whether a
    // workflow tool follows (it reads one row past the limit); later built-ins count too.
    return { items, hasMore: page.hasMore || builtIns.length > query.offset + query.limit };
  }

  /** Every visible tool in one list (MCP tools/list), at most MAX_LISTED_TOOLS. */
  async listAll(principal: Principal): Promise<ToolDescriptor[]> {
    const { items } = await this.list(principal, { limit: MAX_LISTED_TOOLS, offset: 0 });
    return items;
  }

  async describe(name: string, principal: Principal): Promise<ToolDescriptor> {
    this.assertMayUseTools(principal);
    const builtIn = this.builtInsFor(principal).find((tool) => tool.descriptor.name === name);
    if (builtIn) return builtIn.descriptor;
    const entry = await this.resolveWorkflowTool(name, principal);
    if (!entry) throw await this.notFound(name, principal);
    return entry.descriptor;
  }

  /**
   * Calls a tool: a built-in answers at once; a workflow tool triggers its workflow with the
   * arguments as inputs and waits up to the tool's `wait` (or less, if the caller asks).
   */
  async invoke(name: string, invocation: ToolInvocation, principal: Principal): Promise<ToolResult> {
    const audit = (outcome: 'success' | 'failure' | 'denied', namespace: string | null, details: Record<string, unknown>) =>
      this.audit?.record(principal, {
        action: 'tool.invoke',
        resourceType: 'tool',
        resourceId: name.slice(0, 200),
        namespace,
        outcome,
        details: { transport: invocation.transport, client: clientLabel(invocation.client), ...(invocation.dryRun ? { dryRun: true } : {}), ...details },
      });
    if (!hasScopes(principal, [TOOLS_SCOPE])) {
      audit('denied', null, { reason: 'FORBIDDEN' });
      throw new ToolForbiddenError();
    }
    const builtIn = this.builtInsFor(principal).find((tool) => tool.descriptor.name === name);
    if (builtIn) {
      try {
        // A built-in acts at once (cancel_execution cancels): there is nothing to plan.
        if (invocation.dryRun) throw builtInCannotDryRun(name, 'dryRun');
        const value = await builtIn.run(invocation.inputs ?? {}, { principal, executions: this.executions, tools: this, invocation });
        audit('success', null, { ...(typeof value.executionId === 'string' ? { executionId: value.executionId } : {}) });
        return { kind: 'value', isError: false, value };
      } catch (error) {
        audit(error instanceof NotFoundError ? 'denied' : 'failure', null, { error: error instanceof EngineError ? error.code : 'INTERNAL_ERROR' });
        throw error;
      }
    }
    const entry = await this.resolveWorkflowTool(name, principal);
    if (!entry) {
      audit('denied', null, { reason: 'NOT_FOUND' });
      throw await this.notFound(name, principal);
    }
    const { descriptor, definition } = entry;
    const namespace = descriptor.namespace;
    try {
      const result = invocation.dryRun ? this.dryRun(entry.workflow, definition, invocation) : await this.run(entry.workflow, definition, invocation, principal);
      if (result.kind === 'execution') {
        audit(result.status === 'FAILED' || result.status === 'CANCELLED' ? 'failure' : 'success', namespace, { executionId: result.executionId, status: result.status });
      } else {
        audit('success', namespace, {});
      }
      return result;
    } catch (error) {
      audit('failure', namespace, { error: error instanceof EngineError ? error.code : 'INTERNAL_ERROR' });
      throw error;
    }
  }

  /**
   * A dry run for the dry_run_tool built-in: the same checks as `invoke(..., {dryRun: true})`
   * without an audit event of its own (the built-in's call is the one event).
   */
  async plan(name: string, inputs: Record<string, unknown> | undefined, principal: Principal): Promise<ToolResult & { kind: 'dry_run' }> {
    if (this.builtInsFor(principal).some((tool) => tool.descriptor.name === name)) {
      throw builtInCannotDryRun(name, 'inputs.tool');
    }
    const entry = await this.resolveWorkflowTool(name, principal);
    if (!entry) throw await this.notFound(name, principal);
    return this.dryRun(entry.workflow, entry.definition, { inputs, transport: 'rest', client: null });
  }

  /** Validates the arguments and answers what would run; nothing is created. */
  private dryRun(workflow: ToolWorkflow, definition: WorkflowDefinition, invocation: ToolInvocation): ToolResult & { kind: 'dry_run' } {
    const coerced = coerceInputs(definition.inputs, invocation.inputs);
    if (!coerced.ok) throw new InvalidInputsError(coerced.problems);
    const plan: DryRunPlan = {
      workflowId: workflow.id,
      namespace: workflow.namespace,
      revision: workflow.revision,
      tasks: definition.tasks.map((task) => ({ id: task.id, type: task.type })),
      waitMs: this.waitFor(definition, invocation),
    };
    return { kind: 'dry_run', status: 'DRY_RUN', tool: workflow.toolName, inputs: coerced.inputs, plan };
  }

  private async run(workflow: ToolWorkflow, definition: WorkflowDefinition, invocation: ToolInvocation, principal: Principal): Promise<ToolResult> {
    const transport: ToolTransport = invocation.transport;
    const { execution } = await this.executions.trigger(
      workflow.id,
      { inputs: invocation.inputs, idempotencyKey: invocation.idempotencyKey, trigger: { type: 'tool', tool: workflow.toolName, transport } },
      principal,
    );
    const waitMs = this.waitFor(definition, invocation);
    let finished = execution;
    if (!TERMINAL_STATES.has(finished.state)) {
      finished = invocation.onProgress
        ? await this.waitWithProgress(finished, definition, waitMs, invocation)
        : await this.executions.wait(finished.id, waitMs, invocation.signal);
    }
    return this.answer(finished, definition);
  }

  /** The answer for an execution as it is now (also what get_execution's callers would see). */
  private answer(execution: ExecutionRecord, definition: WorkflowDefinition): ToolResult {
    const done = TERMINAL_STATES.has(execution.state);
    const declaresOutputs = (definition.outputs ?? []).length > 0;
    const outputs = !done ? null : declaresOutputs ? (execution.state === 'SUCCESS' ? (execution.workflowOutputs ?? null) : null) : (execution.outputs ?? null);
    return {
      kind: 'execution',
      executionId: execution.id,
      status: execution.state,
      finished: done,
      outputs,
      error: presentError(execution.error) as ExecutionError | null,
      durationMs: Math.max(0, (execution.endedAt ?? this.now()) - execution.createdAt),
    };
  }

  private waitFor(definition: WorkflowDefinition, invocation: ToolInvocation): number {
    const budget = Math.min(definition.tool?.waitMs ?? DEFAULT_TOOL_WAIT_MS, MAX_TOOL_WAIT_MS);
    return invocation.waitMs === undefined ? budget : Math.max(0, Math.min(invocation.waitMs, budget));
  }

  /** Waits in short slices, reporting each task that finished (MCP notifications/progress). */
  private async waitWithProgress(execution: ExecutionRecord, definition: WorkflowDefinition, waitMs: number, invocation: ToolInvocation): Promise<ExecutionRecord> {
    const deadline = this.now() + waitMs;
    const total = countTasks(definition.tasks);
    const reported = new Set<string>();
    let current = execution;
    for (;;) {
      const runs = await this.store.executions.listTaskRuns(current.id);
      for (const run of runs) {
        if (run.state === 'RUNNING' || reported.has(run.taskKey)) continue;
        reported.add(run.taskKey);
        invocation.onProgress!({ progress: reported.size, ...(total !== undefined ? { total } : {}), message: `task ${run.taskKey} ${run.state}` });
      }
      const left = deadline - this.now();
      if (TERMINAL_STATES.has(current.state) || left <= 0 || invocation.signal?.aborted) return current;
      current = await this.executions.wait(current.id, Math.min(PROGRESS_POLL_MS, left), invocation.signal);
    }
  }

  private async resolveWorkflowTool(name: string, principal: Principal) {
    const workflow = await this.store.getToolWorkflow(name);
    if (!workflow || !namespaceAllowed(workflow.namespace, principal.namespaces)) return null;
    const entry = await this.describeWorkflow(workflow);
    return entry ? { ...entry, workflow } : null;
  }

  private async describeWorkflow(workflow: ToolWorkflow): Promise<{ descriptor: ToolDescriptor; definition: WorkflowDefinition } | null> {
    const key = `${workflow.id}@${workflow.revision}`;
    let entry = this.descriptors.get(key);
    if (!entry) {
      const definition = await this.workflows.definitionOf(workflow.id, workflow.revision);
      const tool = definition?.tool;
      if (!definition || !tool) return null;
      const outputSchema = outputSchemaOf(definition.outputs ?? []);
      const descriptor: ToolDescriptor = {
        name: tool.name,
        ...(tool.title ? { title: tool.title } : {}),
        description: tool.description,
        inputSchema: inputSchemaOf(definition.inputs),
        ...(outputSchema ? { outputSchema } : {}),
        annotations: { ...tool.annotations },
        workflowId: workflow.id,
        namespace: workflow.namespace,
      };
      entry = { descriptor, definition };
      this.descriptors.set(key, entry);
    }
    return entry;
  }

  /** NOT_FOUND with up to five visible names close to the one asked for. */
  private async notFound(name: string, principal: Principal): Promise<ToolNotFoundError> {
    const names = this.builtInsFor(principal).map((tool) => tool.descriptor.name);
    const page = await this.store.listToolWorkflows({ limit: MAX_LISTED_TOOLS, offset: 0, namespaces: principal.namespaces });
    names.push(...page.items.map((workflow) => workflow.toolName));
    return new ToolNotFoundError(name, nearest(name, names));
  }
}

/** The names within a small edit distance (or containing / contained in the asked one), nearest first. */
export function nearest(asked: string, names: readonly string[], max = MAX_SUGGESTIONS): string[] {
  const lower = asked.toLowerCase().slice(0, 64);
  const limit = Math.max(2, Math.ceil(lower.length / 2));
  return names
    .map((name) => {
      const candidate = name.toLowerCase();
      const distance = candidate.includes(lower) || lower.includes(candidate) ? 1 : levenshtein(lower, candidate, limit);
      return { name, distance };
    })
    .filter((entry) => entry.distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((entry) => entry.name);
}
