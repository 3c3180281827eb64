import type { Kysely, Migration } from 'kysely';

/**
 * Files, uploads and batches (OpenAI's Files, Uploads and Batch APIs): their records, and with
 * PostgreSQL their content (`file_chunks`), so every instance and worker shares them. Joined into
 * ALL_MIGRATIONS; the same on both dialects (`bytea` has no meaning to SQLite, which keeps file content
 * on the local disk and never writes that table).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run against any schema state, not the final one
type AnyDb = Kysely<any>;

const files: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('files')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('filename', 'text', (c) => c.notNull())
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('files_team_idx')
      .ifNotExists()
      .on('files')
      .columns(['team_id', 'created_at', 'id'])
      .execute();

    // File and part content with PostgreSQL: one row per chunk of up to 1 MiB, read back one at a time.
    await db.schema
      .createTable('file_chunks')
      .ifNotExists()
      .addColumn('content_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('data', 'bytea', (c) => c.notNull())
      .addPrimaryKeyConstraint('file_chunks_pk', ['content_id', 'seq'])
      .execute();

    await db.schema
      .createTable('uploads')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('filename', 'text', (c) => c.notNull())
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('mime_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('file_id', 'text')
      .execute();
    await db.schema
      .createTable('upload_parts')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('upload_id', 'text', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('upload_parts_upload_idx')
      .ifNotExists()
      .on('upload_parts')
      .columns(['upload_id', 'created_at'])
      .execute();

    await db.schema
      .createTable('batches')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('team_id', 'text', (c) => c.notNull())
      .addColumn('endpoint', 'text', (c) => c.notNull())
      .addColumn('input_file_id', 'text', (c) => c.notNull())
      .addColumn('completion_window', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('output_file_id', 'text')
      .addColumn('error_file_id', 'text')
      .addColumn('errors', 'text')
      .addColumn('metadata', 'text')
      // JSON: the submitter (key, user, tier), so every line's job runs and bills as them.
      .addColumn('caller', 'text')
      .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('completed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('in_progress_at', 'bigint')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('finalizing_at', 'bigint')
      .addColumn('completed_at', 'bigint')
      .addColumn('failed_at', 'bigint')
      .addColumn('expired_at', 'bigint')
      .addColumn('cancelling_at', 'bigint')
      .addColumn('cancelled_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('batches_team_idx')
      .ifNotExists()
      .on('batches')
      .columns(['team_id', 'created_at', 'id'])
      .execute();
    // The expiry sweep looks for unfinished batches past their window.
    await db.schema
      .createIndex('batches_expiry_idx')
      .ifNotExists()
      .on('batches')
      .columns(['status', 'expires_at'])
      .execute();
    await db.schema
      .createTable('batch_results')
      .ifNotExists()
      .addColumn('batch_id', 'text', (c) => c.notNull())
      .addColumn('line', 'integer', (c) => c.notNull())
      .addColumn('custom_id', 'text', (c) => c.notNull())
      .addColumn('ok', 'integer', (c) => c.notNull())
      .addColumn('record', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('batch_results_pk', ['batch_id', 'line'])
      .execute();
  },
};

export const FILE_MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0004_files_uploads_batches': files,
};
