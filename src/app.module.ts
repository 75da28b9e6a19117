import { Module, RequestMethod, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import type { IncomingMessage } from 'node:http';
import { ApiKeyGuard, FAILED_AUTH_LIMITER } from './common/auth/api-key.guard';
import { FailedAuthLimiter } from './common/auth/failed-auth-limiter';
import type { AppConfig } from './common/config/config.schema';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { ContentTypeGuard } from './common/http/content-type.guard';
import { createValidationPipe } from './common/http/validation';
import { APP_CONFIG, ShutdownCoordinator } from './common/shutdown';
import { redactUrl } from './common/logging';
import type { Engine } from './engine/engine';
import { EngineModule } from './modules/engine/engine.module';
import { HealthModule } from './modules/health/health.module';
import { WorkflowsModule } from './modules/workflows/workflows.module';
import { ExecutionsModule } from './modules/executions/executions.module';
import { LogsModule } from './modules/logs/logs.module';
import { ApiKeysModule } from './modules/api-keys/api-keys.module';
import { AuditModule } from './modules/audit/audit.module';

export interface AppModuleOptions {
  config: AppConfig;
  engine: Engine;
  logger: PinoLogger;
}

/** Root module: global guard, filter and pipe are wired once here (DESIGN.md §2). */
@Module({})
export class AppModule {
  static register({ config, engine, logger }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            logger,
            // Fastify already chose the id (echoed in X-Request-Id); reuse it so every line agrees.
            genReqId: (req: IncomingMessage) => (req as IncomingMessage & { requestId?: string }).requestId ?? '-',
            quietReqLogger: true,
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
            // Only what is needed to follow a request: never headers (keys), never query values.
            serializers: {
              req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
                id: req.id,
                method: req.method,
                url: redactUrl(req.url),
                remoteAddress: req.remoteAddress,
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
            redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'], censor: '[redacted]' },
          },
          forRoutes: [{ path: '{*splat}', method: RequestMethod.ALL }],
        }),
        EngineModule.forEngine(engine),
        HealthModule,
        WorkflowsModule,
        ExecutionsModule,
        LogsModule,
        ApiKeysModule,
        AuditModule,
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: FAILED_AUTH_LIMITER, useValue: new FailedAuthLimiter(config.auth.failedAttemptsLimit, config.auth.failedAttemptsWindowMs) },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: ContentTypeGuard },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        ShutdownCoordinator,
      ],
    };
  }
}
