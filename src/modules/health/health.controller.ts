import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../../common/auth/decorators';
import { EngineProvider } from '../../common/engine.provider';

/**
 * How long readiness waits for the database. A partition that drops packets makes a query hang
 * (until the pool's acquire timeout, a minute): the probe must answer 503 on its own, well within
 * a Kubernetes probe's default 1-s-plus-retries budget, rather than time out.
 */
const STORE_PING_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const INDICATORS = { type: 'object' as const, additionalProperties: { type: 'object' as const, required: ['status'], properties: { status: { type: 'string' as const, enum: ['up', 'down'] } }, additionalProperties: true } };

/** The report @nestjs/terminus answers with: each check by name under info (up) or error (down). */
export class HealthReportDto {
  @ApiProperty({ enum: ['ok'] }) status: string;
  @ApiPropertyOptional({ ...INDICATORS, description: 'the checks that are up' }) info?: Record<string, unknown>;
  @ApiPropertyOptional({ ...INDICATORS, description: 'the checks that are down (empty when healthy)' }) error?: Record<string, unknown>;
  @ApiProperty({ ...INDICATORS, description: 'every check' }) details: Record<string, unknown>;
}

/** Kubernetes probes: public, never behind a key. */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly engine: EngineProvider,
  ) {}

  @Get()
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ operationId: 'getHealth', summary: 'Overall health (same checks as readiness)' })
  @ApiOk(HealthReportDto, 200, 'healthy')
  @ApiErrors(503)
  check() {
    return this.ready();
  }

  /** Liveness checks nothing external: a slow database must not get the pod restarted. */
  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: the process is up (no dependency checks)' })
  @ApiOk(HealthReportDto, 200, 'alive')
  live() {
    return this.health.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness: store reachable, engine initialized, not draining; 503 otherwise' })
  @ApiOk(HealthReportDto, 200, 'ready')
  @ApiErrors(503)
  ready() {
    return this.health.check([
      async () => {
        const indicator = this.indicators.check('store');
        try {
          await withTimeout(this.engine.getStateStore().ping(), STORE_PING_TIMEOUT_MS);
          return indicator.up({ dialect: this.engine.getStateStore().dialect });
        } catch {
          return indicator.down({ message: `the database does not answer (within ${STORE_PING_TIMEOUT_MS} ms)` });
        }
      },
      () => {
        const indicator = this.indicators.check('engine');
        const state = this.engine.engine.state;
        return state === 'ready' ? indicator.up({ state }) : indicator.down({ state });
      },
    ]);
  }
}
