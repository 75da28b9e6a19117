import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../../common/auth/decorators';
import { EngineProvider } from '../engine/engine.provider';

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
  @HealthCheck()
  @ApiOperation({ summary: 'Overall health (same checks as readiness)' })
  check() {
    return this.ready();
  }

  /** Liveness checks nothing external: a slow database must not get the pod restarted. */
  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up (no dependency checks)' })
  live() {
    return this.health.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: store reachable, engine initialized, not draining; 503 otherwise' })
  ready() {
    return this.health.check([
      async () => {
        const indicator = this.indicators.check('store');
        try {
          await this.engine.getStateStore().ping();
          return indicator.up({ dialect: this.engine.getStateStore().dialect });
        } catch {
          return indicator.down({ message: 'the database does not answer' });
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
