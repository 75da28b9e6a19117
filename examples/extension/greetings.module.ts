import { Module } from '@nestjs/common';
import { ConfigSectionModule } from 'autokestra';
import { GreetTaskType } from './greet.task';
import { GreetingService } from './greeting.service';
import { greetingsConfig } from './greetings.config';
import { GreetingsController } from './greetings.controller';

/** Everything the team adds: its settings section, a service, a task type and a route. */
@Module({
  imports: [ConfigSectionModule.forFeature(greetingsConfig)],
  controllers: [GreetingsController],
  providers: [GreetingService, GreetTaskType],
})
export class GreetingsModule {}
