import { Inject, Injectable } from '@nestjs/common';
import { greetingsConfig, type GreetingsConfig } from './greetings.config';

/** A service of the team's own, injected into both the route and the task type. */
@Injectable()
export class GreetingService {
  constructor(@Inject(greetingsConfig.KEY) private readonly config: GreetingsConfig) {}

  get maxRepeat(): number {
    return this.config.maxRepeat;
  }

  get namespace(): string {
    return this.config.namespace;
  }

  greet(name: string): string {
    const text = `${this.config.salutation}, ${name}`;
    return this.config.style === 'shout' ? `${text.toUpperCase()}!` : text;
  }
}
