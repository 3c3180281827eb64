/** The process environment as config loading reads it (`${VAR}` interpolation, PORT/HOST, zero-config keys). */
export type Env = Readonly<Record<string, string | undefined>>;
