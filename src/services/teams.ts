import type { Store, TeamRecord } from '../db/store.js';
import { GatewayError } from '../errors/gateway-error.js';

export const TEAM_ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function publicTeam(t: TeamRecord) {
  return { id: t.id, name: t.name, metadata: t.metadata, created_at: new Date(t.createdAt).toISOString() };
}

/** Teams own keys, usage rows and (later) cache entries and jobs. `teamId` scopes every call to one team. */
export class TeamService {
  constructor(private readonly store: Store) {}

  async create(input: {
    id: string;
    name?: string;
    metadata?: Record<string, unknown>;
  }): Promise<TeamRecord> {
    if (!TEAM_ID_RE.test(input.id)) {
      throw new GatewayError(
        'invalid_team_id',
        'Team id must be 1-64 characters: lowercase letters, digits, "-" or "_", starting with a letter or digit.',
        { param: 'id' },
      );
    }
    if (await this.store.getTeam(input.id)) {
      throw new GatewayError('team_exists', `Team '${input.id}' already exists.`, { param: 'id' });
    }
    return this.store.createTeam({
      id: input.id,
      name: input.name ?? input.id,
      metadata: input.metadata ?? {},
    });
  }

  get(id: string, scopeTeam?: string): Promise<TeamRecord | undefined> {
    if (scopeTeam !== undefined && id !== scopeTeam) return Promise.resolve(undefined);
    return this.store.getTeam(id);
  }

  list(limit: number, scopeTeam?: string): Promise<TeamRecord[]> {
    return this.store.listTeams({ limit, ...(scopeTeam !== undefined ? { ids: [scopeTeam] } : {}) });
  }

  async update(
    id: string,
    patch: { name?: string; metadata?: Record<string, unknown> },
    scopeTeam?: string,
  ): Promise<TeamRecord | undefined> {
    if (!(await this.get(id, scopeTeam))) return undefined;
    return this.store.updateTeam(id, patch);
  }
}
