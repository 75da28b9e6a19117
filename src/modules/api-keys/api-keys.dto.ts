import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { SCOPES } from '../../common/auth/scopes';
import { MAX_RATE_LIMIT_REQUESTS, presentKeyRateLimit } from '../../engine/access/key-rate-limit';
import { IsZonedDateTime, Parsed, toIso, PageOf, zonedDateTimeMs, type PageDto } from '../../common/http/validation';
import type { ApiKeyRecord } from '../../engine/store/sql-access-store';

/** Shape and types only; ranges and the duration are checked by the engine (shared with the CLI). */
export class ApiKeyRateLimitDto {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: MAX_RATE_LIMIT_REQUESTS, example: 100, description: 'requests allowed per window' })
  @IsInt({ message: `requests must be an integer from 1 to ${MAX_RATE_LIMIT_REQUESTS}` })
  requests: number;

  @ApiProperty({ example: '1m', description: "window length: a duration of whole seconds from 1s to 24h ('30s', '1m', '1h', 'PT15M'); responses use the shortest exact unit" })
  @IsString({ message: "window must be a duration string such as '1m'" })
  window: string;
}

const RATE_LIMIT_DESCRIPTION =
  'the key\'s own request budget per process (fixed window); over it the key gets 429 RATE_LIMITED with Retry-After, and every response to it carries RateLimit-Limit/-Remaining/-Reset';

export class CreateApiKeyDto {
  @ApiPropertyOptional({ type: String, maxLength: 100, description: 'unique among live keys' })
  @IsOptional()
  @IsString({ message: 'label must be a string' })
  label?: string;

  @ApiProperty({ enum: SCOPES, isArray: true, minItems: 1, description: 'non-empty; at most the scopes of the calling key' })
  @IsArray({ message: 'scopes must be a non-empty list' })
  @IsString({ each: true, message: 'scopes must be strings' })
  scopes: string[];

  @ApiPropertyOptional({ type: [String], nullable: true, description: "allow-list, e.g. ['team-a', 'ops.*']; omit for every namespace" })
  @IsOptional()
  @IsArray({ message: 'namespaces must be a list' })
  @IsString({ each: true, message: 'namespaces must be strings' })
  namespaces?: string[] | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true, description: 'ISO-8601 with a time zone; omit or null for no expiry' })
  @IsOptional()
  @IsZonedDateTime({ message: 'expiresAt must be an ISO-8601 date-time with a time zone (e.g. 2027-01-31T00:00:00Z)' })
  @Parsed(zonedDateTimeMs)
  expiresAt?: number | null;

  @ApiPropertyOptional({ type: ApiKeyRateLimitDto, nullable: true, description: `${RATE_LIMIT_DESCRIPTION}; omit or null for no limit` })
  @IsOptional()
  @IsObject({ message: 'rateLimit must be an object {requests, window}, e.g. {"requests": 100, "window": "1m"}' })
  @ValidateNested()
  @Type(() => ApiKeyRateLimitDto)
  rateLimit?: ApiKeyRateLimitDto | null;

  @ApiPropertyOptional({
    description: 'with a label taken by a key within your authority: return that key (200, no plaintext) instead of 409; a label held by any other key is a plain 409',
  })
  @IsOptional()
  @IsBoolean({ message: 'idempotent must be a boolean' })
  idempotent?: boolean;
}

export class UpdateApiKeyDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100, description: 'unique among live keys; null clears it' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString({ message: 'label must be a string or null' })
  label?: string | null;

  @ApiPropertyOptional() @IsOptional() @IsBoolean({ message: 'enabled must be a boolean' }) enabled?: boolean;

  @ApiPropertyOptional({ enum: SCOPES, isArray: true })
  @IsOptional()
  @IsArray({ message: 'scopes must be a non-empty list' })
  @IsString({ each: true, message: 'scopes must be strings' })
  scopes?: string[];

  @ApiPropertyOptional({ type: [String], nullable: true })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsArray({ message: 'namespaces must be a list or null' })
  @IsString({ each: true, message: 'namespaces must be strings' })
  namespaces?: string[] | null;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true, description: 'ISO-8601 with a time zone; null clears the expiry' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsZonedDateTime({ message: 'expiresAt must be an ISO-8601 date-time with a time zone (e.g. 2027-01-31T00:00:00Z), or null' })
  @Parsed(zonedDateTimeMs)
  expiresAt?: number | null;

  @ApiPropertyOptional({ type: ApiKeyRateLimitDto, nullable: true, description: `${RATE_LIMIT_DESCRIPTION}; null removes the limit` })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsObject({ message: 'rateLimit must be an object {requests, window} or null' })
  @ValidateNested()
  @Type(() => ApiKeyRateLimitDto)
  rateLimit?: ApiKeyRateLimitDto | null;
}

export class RotateApiKeyDto {
  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0, maximum: 2_592_000, description: 'seconds the old key keeps working (0 = stops at once; at most 30 days)' })
  @IsOptional()
  @IsInt({ message: 'graceSeconds must be an integer' })
  @Min(0, { message: 'graceSeconds must be >= 0' })
  @Max(2_592_000, { message: 'graceSeconds must be <= 2592000 (30 days)' })
  graceSeconds: number = 0;
}

export class ApiKeyDto {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'first characters of the key: identifies it in lists, logs and audit entries' }) prefix: string;
  @ApiProperty({ nullable: true, type: String }) label: string | null;
  @ApiProperty({ enum: SCOPES, isArray: true }) scopes: string[];
  @ApiProperty({ type: [String], nullable: true }) namespaces: string[] | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) expiresAt: string | null;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) lastUsedAt: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt: string | null;
  @ApiProperty({ type: ApiKeyRateLimitDto, nullable: true, description: 'null = not limited' }) rateLimit: ApiKeyRateLimitDto | null;

  static from(key: ApiKeyRecord): ApiKeyDto {
    return {
      id: key.id,
      prefix: key.prefix,
      label: key.label,
      scopes: key.scopes,
      namespaces: key.namespaces,
      expiresAt: toIso(key.expiresAt),
      enabled: key.enabled,
      createdAt: toIso(key.createdAt)!,
      lastUsedAt: toIso(key.lastUsedAt),
      revokedAt: toIso(key.revokedAt),
      rateLimit: presentKeyRateLimit(key.rateLimit),
    };
  }
}

/** The 201 of create: `created: true` tells it from the idempotent 200 without a cast. */
export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ enum: [true], type: Boolean, description: 'true: a new key was minted' }) created: true;
  @ApiProperty({ description: 'the plaintext key: returned this once, never again' }) key: string;
}

/** The 200 of an idempotent create whose label a key within your authority holds already. */
export class ExistingApiKeyDto extends ApiKeyDto {
  @ApiProperty({ enum: [false], type: Boolean, description: 'false: the existing key, no plaintext' }) created: false;
}

export class RotatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'the new plaintext key: returned this once, never again' }) key: string;
}

export const ApiKeyPageDto = PageOf(ApiKeyDto, 'ApiKeyPageDto');
export type ApiKeyPageDto = PageDto<ApiKeyDto>;
