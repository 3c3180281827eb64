/** The administration commands' help, apart from their code so `switchyard --help` loads nothing else. */

export const ADMIN_USAGE = `Administration (same services as /admin; use --config for the database):
  migrate                                   apply database migrations
  teams create <id> [--name N]              create a team
  teams list
  keys create --team T [--name N] [--user U] [--tier T] [--role user|team_admin]
              [--models a,b] [--cache-namespaces a,b|*] [--expires ISO-8601] [--require-signature]
                                            create a key; prints its secret once
  keys list [--team T] [--include-revoked]
  keys get <id>
  keys revoke <id>
  usage [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--team T] [--key K] [--model M] [--group-by team,key,model,day]
  secrets add --provider P --value V [--name N]   store a provider key, encrypted (SWITCHYARD_SECRET_KEY)
  secrets list                              stored provider keys, masked
  secrets rotate                            re-encrypt every stored key under SWITCHYARD_SECRET_KEY
                                            (the old key in SWITCHYARD_SECRET_KEY_PREVIOUS)
`;

export const ADMIN_COMMANDS = new Set(['migrate', 'teams', 'keys', 'usage', 'secrets']);
