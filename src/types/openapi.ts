/**
 * Where a route response's OpenAPI content lives when it must not drive serialisation. Shared by the
 * route schemas that set it and the OpenAPI plugin that reads it, so it sits below both.
 */
export const OPENAPI_CONTENT = 'x-openapi-content';
