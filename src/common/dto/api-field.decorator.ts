import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions, getSchemaPath } from '@nestjs/swagger';
import { registerResponseField } from '../serialization/response-fields';

/**
 * DTO classes that appear only behind a nullable reference: @nestjs/swagger
 * would not put them in `components`, so the document builder adds them
 * (see openapi.ts).
 */
export const NULLABLE_NESTED_MODELS = new Set<Function>();

/**
 * A response field: documented for OpenAPI and allow-listed for the
 * serializer (`nested` names the DTO class of an object or array field).
 * The HTTP adapter (AllowListFastifyAdapter) sends only these properties, so a
 * property without this decorator never reaches a client (fail closed).
 *
 * A nullable nested object is documented as `oneOf: [$ref, null]` — OpenAPI
 * 3.0's `nullable` next to an `allOf` reference does not admit null (3.0.3
 * clarification), and validators and client generators take it at its word.
 */
export function ApiField(options: ApiPropertyOptions & { nested?: new () => unknown } = {}): PropertyDecorator {
  const { nested, ...apiOptions } = options;
  const allowList: PropertyDecorator = (target, key) => registerResponseField(target.constructor, { key: String(key), nested });
  if (nested && apiOptions.nullable) {
    NULLABLE_NESTED_MODELS.add(nested);
    const { nullable: _nullable, ...rest } = apiOptions as ApiPropertyOptions & { nullable?: boolean };
    return applyDecorators(
      allowList,
      ApiProperty({ ...rest, oneOf: [{ $ref: getSchemaPath(nested) }, { type: 'object', nullable: true, enum: [null] }] } as ApiPropertyOptions),
    );
  }
  return applyDecorators(allowList, ApiProperty(nested ? ({ type: nested, ...apiOptions } as ApiPropertyOptions) : apiOptions));
}
