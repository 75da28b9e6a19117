import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Engine } from '../../engine/engine';
import { EngineProvider } from '../../common/engine.provider';

@Global()
@Module({})
export class EngineModule {
  static forEngine(engine: Engine): DynamicModule {
    return {
      module: EngineModule,
      providers: [{ provide: EngineProvider, useValue: new EngineProvider(engine) }],
      exports: [EngineProvider],
    };
  }
}
