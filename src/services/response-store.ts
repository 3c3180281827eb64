import { LRUCache } from 'lru-cache';
import type { ResponseObject, ResponsesInputItem } from '../types/responses.js';

/**
 * Stored responses (`store: true`) for `previous_response_id`, `item_reference` and the GET/DELETE
 * endpoints. Every read is scoped by team: another team's id is simply not found (404), never a 403
 * that would confirm it exists.
 *
 * The interface is async so a database-backed implementation (the storage layer in src/db/) can
 * stand in for the embedded one without touching callers.
 */

export interface StoredResponse {
  id: string;
  team: string;
  /** Unix ms. */
  createdAt: number;
  response: ResponseObject;
  /** This request's own input items (with ids), oldest first; not the earlier turns. */
  input: ResponsesInputItem[];
}

export interface ResponseStore {
  put(rec: StoredResponse): Promise<void>;
  get(team: string, id: string): Promise<StoredResponse | undefined>;
  delete(team: string, id: string): Promise<boolean>;
  /** An input or output item of any stored response of this team, by item id. */
  item(team: string, itemId: string): Promise<ResponsesInputItem | undefined>;
}

export interface MemoryResponseStoreOptions {
  /** Responses kept at most; the least recently used go first. */
  maxEntries: number;
  /** How long a stored response lives. */
  retentionMs: number;
}

/** Bounded in-process store: an LRU with a TTL, for single-instance deployments and tests. */
export class MemoryResponseStore implements ResponseStore {
  private readonly responses: LRUCache<string, StoredResponse>;
  /** team\0itemId -> response id; entries whose response is gone are ignored on read. */
  private readonly items: LRUCache<string, string>;

  constructor(opts: MemoryResponseStoreOptions) {
    this.responses = new LRUCache({ max: opts.maxEntries, ttl: opts.retentionMs });
    // A response has a handful of items; the index is bounded in proportion.
    this.items = new LRUCache({ max: opts.maxEntries * 16, ttl: opts.retentionMs });
  }

  async put(rec: StoredResponse): Promise<void> {
    this.responses.set(key(rec.team, rec.id), rec);
    for (const it of rec.input) if ('id' in it && it.id) this.items.set(key(rec.team, it.id), rec.id);
    for (const it of rec.response.output) this.items.set(key(rec.team, it.id), rec.id);
  }

  async get(team: string, id: string): Promise<StoredResponse | undefined> {
    return this.responses.get(key(team, id));
  }

  async delete(team: string, id: string): Promise<boolean> {
    return this.responses.delete(key(team, id));
  }

  async item(team: string, itemId: string): Promise<ResponsesInputItem | undefined> {
    const owner = this.items.get(key(team, itemId));
    if (owner === undefined) return undefined;
    const rec = this.responses.get(key(team, owner));
    if (!rec) return undefined;
    return (
      rec.response.output.find((o) => o.id === itemId) ?? rec.input.find((i) => 'id' in i && i.id === itemId)
    );
  }
}

function key(team: string, id: string): string {
  return `${team}\u0000${id}`;
}
