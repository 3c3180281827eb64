import { describe, expect, it } from 'vitest';
import { randomBase62 } from '../../src/core/base62.js';
import { SecretBox } from '../../src/services/secret-box.js';

describe('secret box (AES-256-GCM)', () => {
  const a = new SecretBox(['key-a-0123456789']);
  const b = new SecretBox(['key-b-0123456789']);

  it('round-trips, with a fresh IV each time', () => {
    const x = a.encrypt('sk-provider-secret', 'cred_1');
    const y = a.encrypt('sk-provider-secret', 'cred_1');
    expect(x.ciphertext).not.toBe(y.ciphertext);
    expect(x.keyId).toBe(a.currentKeyId);
    expect(a.decrypt(x.ciphertext, x.keyId, 'cred_1')).toBe('sk-provider-secret');
    expect(Buffer.from(x.ciphertext, 'base64').toString('latin1')).not.toContain('secret');
  });

  it('refuses another row id, a tampered ciphertext and an unknown key', () => {
    const x = a.encrypt('v', 'cred_1');
    expect(() => a.decrypt(x.ciphertext, x.keyId, 'cred_2')).toThrow();
    const buf = Buffer.from(x.ciphertext, 'base64');
    buf[buf.length - 1]! ^= 1;
    expect(() => a.decrypt(buf.toString('base64'), x.keyId, 'cred_1')).toThrow();
    expect(() => b.decrypt(x.ciphertext, x.keyId, 'cred_1')).toThrow(/no configured secret key/);
  });

  it('during a rotation both keys decrypt and the first encrypts', () => {
    const both = new SecretBox(['key-b-0123456789', 'key-a-0123456789']);
    const old = a.encrypt('v', 'c');
    expect(both.decrypt(old.ciphertext, old.keyId, 'c')).toBe('v');
    expect(both.encrypt('v', 'c').keyId).toBe(b.currentKeyId);
    expect(new SecretBox([]).enabled).toBe(false);
  });
});

describe('base62', () => {
  it('is fixed-width and uses only [0-9A-Za-z]', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = randomBase62(32);
      expect(s).toMatch(/^[0-9A-Za-z]{43}$/);
      seen.add(s);
    }
    expect(seen.size).toBe(200);
  });
});
