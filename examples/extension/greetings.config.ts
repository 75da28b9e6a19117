import { IsIn, IsInt, IsString, Max, Min, MinLength } from 'class-validator';
import { defineConfigSection } from 'autokestra';

/**
 * The module's own settings: the `greetings:` section of config.yaml. Validated at startup like
 * the core settings (one line per problem); an unknown key inside it is refused too.
 */
export class GreetingsConfig {
  /** the word a greeting starts with */
  @IsString() @MinLength(1) salutation: string;
  /** how many times the greet task may repeat a greeting */
  @IsInt() @Min(1) @Max(10) maxRepeat: number;
  /** the namespace whose keys may post greetings (the route's own check, on top of its scope) */
  @IsString() @MinLength(1) namespace: string;
  @IsIn(['plain', 'shout']) style: 'plain' | 'shout';
}

export const greetingsConfig = defineConfigSection('greetings', GreetingsConfig, () => ({ salutation: 'Hello', maxRepeat: 3, namespace: 'greetings', style: 'plain' as const }));
