import { Inject, Injectable, Module, type DynamicModule, type OnModuleInit, type Provider } from '@nestjs/common';
import { ConfigService, registerAs, type ConfigFactory, type ConfigFactoryKeyHost } from '@nestjs/config';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { APP_CONFIG } from '../shutdown';
import type { AppConfig } from './config.schema';
import { ConfigError, deepMerge, flattenErrors, isPlainObject } from './load-config';

/** The top-level settings outside the core ones, as loaded (bootstrap's `sections`). */
export const RAW_CONFIG_SECTIONS = Symbol('RAW_CONFIG_SECTIONS');

const SECTION_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;

/**
 * A configuration section an extension module owns: its name (the top-level key in config.yaml),
 * the class-validator class that checks it, and its defaults. It is a `registerAs` factory, so
 * `@Inject(section.KEY)` gives the validated value and `ConfigService.get('<name>.<key>')` reads it.
 */
export type ConfigSection<T extends object> = ConfigFactory<T> & ConfigFactoryKeyHost<T> & { readonly sectionName: string; readonly schema: new () => T };

/**
 * Declares a section. `defaults` are merged under what the configuration sets; the result is
 * validated with `schema` (whitelisted: an unknown key inside the section is a problem too).
 */
export function defineConfigSection<T extends object>(name: string, schema: new () => T, defaults: () => Partial<T> = () => ({})): ConfigSection<T> {
  if (!SECTION_NAME.test(name)) throw new Error(`invalid configuration section name '${name}': use a camelCase word (letters and digits, starting with a lower-case letter)`);
  const factory = registerAs(name, () => defaults() as T) as ConfigSection<T>;
  Object.defineProperties(factory, { sectionName: { value: name }, schema: { value: schema } });
  return factory;
}

/**
 * Validates every declared section against what was loaded and refuses top-level keys that no
 * core setting and no section claims. Problems are collected while the sections' providers are
 * built and reported together, one line each, before the application initializes (so before
 * anything listens or runs).
 */
@Injectable()
export class ConfigSections implements OnModuleInit {
  private readonly declared = new Map<string, new () => object>();
  private readonly problems: string[] = [];

  constructor(
    @Inject(RAW_CONFIG_SECTIONS) private readonly raw: Record<string, unknown>,
    private readonly configService: ConfigService,
  ) {}

  resolve<T extends object>(section: ConfigSection<T>): T {
    const name = section.sectionName;
    const previous = this.declared.get(name);
    if (previous && previous !== section.schema) this.problems.push(`${name}: declared twice, by ${previous.name} and by ${section.schema.name}; section names must be unique`);
    this.declared.set(name, section.schema);
    const loaded = this.raw[name] ?? {};
    if (!isPlainObject(loaded)) {
      this.problems.push(`${name}: must be a mapping of settings`);
      return plainToInstance(section.schema, section());
    }
    const value = plainToInstance(section.schema, deepMerge(section() as Record<string, unknown>, loaded));
    const errors = validateSync(value, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, stopAtFirstError: true });
    this.problems.push(...flattenErrors(errors, name).map((line) => line.replace(/property (\S+) should not exist/, 'unknown setting')));
    // ConfigService reads the validated section like the core ones (internal config, no env write)
    (this.configService as unknown as { internalConfig: Record<string, unknown> }).internalConfig[name] = value;
    return value;
  }

  onModuleInit(): void {
    const unknown = Object.keys(this.raw)
      .filter((name) => !this.declared.has(name))
      .map((name) => `${name}: unknown setting (no core setting and no module's configuration section has this name)`);
    const lines = [...this.problems, ...unknown];
    if (lines.length > 0) throw new ConfigError(lines);
  }
}

/**
 * The providers of the validated configuration, built from a provider of `{config, sections}`
 * (forRoot's value or forRootAsync's factory): `ConfigService` from @nestjs/config over the core
 * settings and the extension sections, `APP_CONFIG` for the typed core object. Environment
 * variables are read by loadConfig only (`skipProcessEnv`): ConfigService never answers with a
 * raw variable that validation did not see.
 */
export function configProviders(optionsToken: symbol): Provider[] {
  return [
    { provide: APP_CONFIG, useFactory: (options: { config: AppConfig }) => options.config, inject: [optionsToken] },
    { provide: RAW_CONFIG_SECTIONS, useFactory: (options: { sections?: Record<string, unknown> }) => options.sections ?? {}, inject: [optionsToken] },
    {
      provide: ConfigService,
      useFactory: (config: AppConfig) => {
        const service = new ConfigService<Record<string, unknown>>({ ...config });
        // the setter is private in the typings; ConfigModule.forRoot({skipProcessEnv}) sets it the same way
        (service as unknown as { skipProcessEnv: boolean }).skipProcessEnv = true;
        return service;
      },
      inject: [APP_CONFIG],
    },
    ConfigSections,
  ];
}

/**
 * What an extension module imports to own a section: `imports: [ConfigSectionModule.forFeature(billingConfig)]`,
 * then `@Inject(billingConfig.KEY) config: BillingConfig`.
 */
@Module({})
export class ConfigSectionModule {
  static forFeature<T extends object>(section: ConfigSection<T>): DynamicModule {
    return {
      module: ConfigSectionModule,
      providers: [{ provide: section.KEY, useFactory: (sections: ConfigSections) => sections.resolve(section), inject: [ConfigSections] }],
      exports: [section.KEY],
    };
  }
}
