import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponseDto } from '../../common/errors/api-error';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../../common/auth/decorators';
import { EngineProvider } from '../engine/engine.provider';

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
  @ApiOperation({ summary: 'Overall health (same checks as readiness)' })
  @ApiResponse({ status: 200, description: 'healthy: terminus report {status, info, error, details}' })
  @ApiResponse({ status: 503, type: ErrorResponseDto, description: 'not ready: code NOT_READY, details = the terminus report' })
  check() {
    return this.ready();
  }

  /** Liveness checks nothing external: a slow database must not get the pod restarted. */
  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Liveness: the process is up (no dependency checks)' })
  @ApiResponse({ status: 200, description: 'alive' })
  live() {
    return this.health.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: store reachable, engine initialized, not draining; 503 otherwise' })
  @ApiResponse({ status: 200, description: 'ready: terminus report {status, info, error, details}' })
  @ApiResponse({ status: 503, type: ErrorResponseDto, description: 'not ready: code NOT_READY, details = the terminus report' })
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
