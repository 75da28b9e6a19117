import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsString, Length } from 'class-validator';
import { ApiError, ApiErrors, Authenticated, AuditService, CurrentPrincipal, namespaceAllowed, type Principal } from 'autokestra';
import { GreetingService } from './greeting.service';

export class CreateGreetingDto {
  @ApiProperty({ minLength: 1, maxLength: 64, example: 'team' })
  @IsString()
  @Length(1, 64)
  name: string;
}

export class GreetingDto {
  @ApiProperty({ example: 'Hello, team' })
  greeting: string;
}

/**
 * A route of the team's own. It gets the API-key guard, the error shape, the validation pipe,
 * the request hardening and a place in the OpenAPI document from Autokestra; it adds its own
 * check (the key's namespaces must cover the greetings namespace) and an audit entry.
 */
@ApiTags('greetings')
@Controller('api/v1/greetings')
export class GreetingsController {
  constructor(
    private readonly greetings: GreetingService,
    private readonly audit: AuditService,
  ) {}

  @Post()
  @HttpCode(201)
  @Authenticated({ scopes: ['executions:write'] })
  @ApiOperation({ operationId: 'createGreeting', summary: 'Greet someone (an extension route)' })
  @ApiCreatedResponse({ type: GreetingDto })
  @ApiErrors(400, 403, 413, 415)
  create(@Body() body: CreateGreetingDto, @CurrentPrincipal() principal: Principal): GreetingDto {
    const namespace = this.greetings.namespace;
    if (!namespaceAllowed(namespace, principal.namespaces)) {
      this.audit.record(principal, { action: 'greeting.create', resourceType: 'greeting', namespace, outcome: 'failure', details: { reason: 'namespace' } });
      throw new ApiError('FORBIDDEN', `this key's namespaces do not cover '${namespace}', where greetings are posted`);
    }
    const greeting = this.greetings.greet(body.name);
    this.audit.record(principal, { action: 'greeting.create', resourceType: 'greeting', resourceId: body.name, namespace, outcome: 'success' });
    return { greeting };
  }
}
