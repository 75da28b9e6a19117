import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../../common/auth/decorators';
import { ApiOk } from '../../common/http/openapi';
import { VERSION } from '../../version';
import { EngineProvider } from '../../common/engine.provider';

export class StatusDto {
  @ApiProperty({ enum: ['starting', 'ready', 'draining', 'stopped'] }) state: string;
  @ApiProperty() version: string;
  @ApiProperty({ type: 'integer', minimum: 0 }) uptimeMs: number;
}

const startedAt = Date.now();

@ApiTags('status')
@Controller('api/v1/status')
export class StatusController {
  constructor(private readonly engine: EngineProvider) {}

  @Get()
  @Authenticated()
  @ApiOperation({ operationId: 'getStatus', summary: 'Service state, version and uptime (any valid key)' })
  @ApiOk(StatusDto)
  status(): StatusDto {
    return { state: this.engine.engine.state, version: VERSION, uptimeMs: Date.now() - startedAt };
  }
}
