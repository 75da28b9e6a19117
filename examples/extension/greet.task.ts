import { TaskFailure, TaskType, type TaskContext, type TaskDefinition } from 'autokestra';
import { GreetingService } from './greeting.service';

type GreetTask = TaskDefinition & { type: 'greetings.greet'; name: string; repeat: number };

/**
 * A task type as a Nest provider: `@TaskType()` makes it injectable and registers it with the
 * engine before it starts. Its properties are checked when a workflow is applied, with line
 * numbers, like the built-in types' (an unknown property, a missing `name`, a `repeat` of 0).
 */
@TaskType()
export class GreetTaskType implements TaskType<GreetTask> {
  readonly name = 'greetings.greet' as const;
  readonly properties = {
    name: { type: 'template', required: true, description: 'who to greet; may use {{ inputs.* }}' },
    repeat: { type: 'integer', min: 1, max: 10, default: 1 },
  } as const;

  constructor(private readonly greetings: GreetingService) {}

  async run(task: GreetTask, ctx: TaskContext): Promise<{ greeting: string; repeated: number }> {
    if (task.repeat > this.greetings.maxRepeat) {
      throw new TaskFailure(`repeat ${task.repeat} is above greetings.maxRepeat (${this.greetings.maxRepeat})`, 'GREETING_TOO_LONG');
    }
    const greeting = this.greetings.greet(String(ctx.render(task.name)));
    for (let i = 0; i < task.repeat; i++) ctx.log('info', greeting);
    return { greeting, repeated: task.repeat };
  }
}
