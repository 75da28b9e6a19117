import type { TaskDefinition } from '../../dsl/types';
import { foreachContainer } from './foreach';
import type { Container } from './host';
import { ifContainer } from './if';
import { parallelContainer } from './parallel';

export type { Container, ContainerHost, OpenedRun } from './host';

/**
 * The containers the runtime runs itself, by task type (their schemas: dsl/constructs.ts).
 * A task whose type is not here is a leaf, run through the TaskTypeRegistry.
 */
const CONTAINERS: ReadonlyMap<string, Container> = new Map<string, Container>([
  ['parallel', parallelContainer],
  ['if', ifContainer],
  ['foreach', foreachContainer],
]);

export function containerFor(task: TaskDefinition): Container | undefined {
  return CONTAINERS.get(task.type);
}
