import { sql } from 'kysely';
import type { DbHandle } from './connect.js';

/**
 * The queries behind stored Responses API responses (services/response-store.ts), on SQLite and
 * PostgreSQL alike. Every read takes the caller's team and the current time: another team's row and an
 * expired row are equally not found.
 */

export interface ResponseRow {
  id: string;
  teamId: string;
  createdAt: number;
  expiresAt: number;
  previousResponseId: string | null;
  bytes: number;
  /** JSON text. */
  body: string;
  /** Ids of the input and output items it holds, for `item_reference`. */
  itemIds: string[];
}

export interface ResponseBody {
  id: string;
  createdAt: number;
  bytes: number;
  body: string;
}

/** Rows per INSERT statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const INSERT_CHUNK = 500;

export class ResponseRows {
  constructor(private readonly handle: DbHandle) {}

  /** Inserts responses and their item rows in one transaction; a row already there is left as it is. */
  async insert(rows: readonly ResponseRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.handle.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('responses')
          .values(
            rows.slice(i, i + INSERT_CHUNK).map((r) => ({
              id: r.id,
              team_id: r.teamId,
              created_at: r.createdAt,
              expires_at: r.expiresAt,
              previous_response_id: r.previousResponseId,
              bytes: r.bytes,
              body: r.body,
            })),
          )
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
      const items = rows.flatMap((r) =>
        [...new Set(r.itemIds)].map((itemId) => ({
          team_id: r.teamId,
          item_id: itemId,
          response_id: r.id,
          created_at: r.createdAt,
        })),
      );
      for (let i = 0; i < items.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('response_items')
          .values(items.slice(i, i + INSERT_CHUNK))
          .onConflict((oc) => oc.columns(['team_id', 'item_id', 'response_id']).doNothing())
          .execute();
      }
    });
  }

  async get(team: string, id: string, now: number): Promise<ResponseBody | undefined> {
    const row = await this.handle.db
      .selectFrom('responses')
      .select(['id', 'created_at', 'bytes', 'body'])
      .where('id', '=', id)
      .where('team_id', '=', team)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row && { id: row.id, createdAt: row.created_at, bytes: row.bytes, body: row.body };
  }

  /**
   * A `previous_response_id` chain in one query, newest first: from `id` back through live responses
   * of this team, stopping where a link is missing, after `maxDepth` rows, or after the row that takes
   * the bodies past `maxBytes` (so at most that plus one row is loaded).
   */
  async chain(
    team: string,
    id: string,
    now: number,
    maxDepth: number,
    maxBytes: number,
  ): Promise<Array<ResponseBody & { previousResponseId: string | null }>> {
    const { rows } = await sql<{
      id: string;
      previous_response_id: string | null;
      created_at: number;
      bytes: number;
      body: string;
    }>`with recursive chain (id, previous_response_id, created_at, bytes, body, depth, total) as (
        select id, previous_response_id, created_at, bytes, body, 1, bytes
          from responses
         where id = ${id} and team_id = ${team} and expires_at > ${now}
        union all
        select r.id, r.previous_response_id, r.created_at, r.bytes, r.body, c.depth + 1, c.total + r.bytes
          from responses r join chain c on r.id = c.previous_response_id
         where r.team_id = ${team} and r.expires_at > ${now} and c.depth < ${maxDepth} and c.total <= ${maxBytes}
      )
      select id, previous_response_id, created_at, bytes, body from chain order by depth`.execute(
      this.handle.db,
    );
    return rows.map((r) => ({
      id: r.id,
      previousResponseId: r.previous_response_id,
      createdAt: Number(r.created_at),
      bytes: Number(r.bytes),
      body: r.body,
    }));
  }

  /** The newest live response of this team that holds the item. */
  async itemHolder(team: string, itemId: string, now: number): Promise<ResponseBody | undefined> {
    const row = await this.handle.db
      .selectFrom('response_items as i')
      .innerJoin('responses as r', 'r.id', 'i.response_id')
      .select(['r.id', 'r.created_at', 'r.bytes', 'r.body'])
      .where('i.team_id', '=', team)
      .where('i.item_id', '=', itemId)
      .where('r.team_id', '=', team)
      .where('r.expires_at', '>', now)
      .orderBy('r.created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && { id: row.id, createdAt: row.created_at, bytes: row.bytes, body: row.body };
  }

  /** Deletes a live response of this team and its item rows; false when there was none. */
  async delete(team: string, id: string, now: number): Promise<boolean> {
    return this.handle.db.transaction().execute(async (trx) => {
      const res = await trx
        .deleteFrom('responses')
        .where('id', '=', id)
        .where('team_id', '=', team)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await trx.deleteFrom('response_items').where('response_id', '=', id).execute();
      return true;
    });
  }

  /** Deletes up to `limit` expired responses (oldest first) with their item rows; returns how many. */
  async deleteExpired(now: number, limit: number): Promise<number> {
    return this.handle.db.transaction().execute(async (trx) => {
      const ids = (
        await trx
          .selectFrom('responses')
          .select('id')
          .where('expires_at', '<=', now)
          .orderBy('expires_at')
          .limit(limit)
          .execute()
      ).map((r) => r.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom('response_items').where('response_id', 'in', ids).execute();
      await trx.deleteFrom('responses').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  /** Rows in the table, expired or not (tests and diagnostics). */
  async count(): Promise<{ responses: number; items: number }> {
    const r = await this.handle.db
      .selectFrom('responses')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const i = await this.handle.db
      .selectFrom('response_items')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { responses: Number(r.n), items: Number(i.n) };
  }
}
