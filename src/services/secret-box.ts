import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM under keys derived from SWITCHYARD_SECRET_KEY (and, during a rotation, the previous keys).
 * Each ciphertext records which key made it (a fingerprint, never the key), so several keys can be live
 * while `switchyard secrets rotate` re-encrypts. The row id is bound in as associated data: a ciphertext
 * copied onto another row does not decrypt.
 */

const IV_BYTES = 12;
const TAG_BYTES = 16;

interface DerivedKey {
  id: string;
  key: Buffer;
}

function derive(secret: string): DerivedKey {
  const key = Buffer.from(hkdfSync('sha256', secret, 'switchyard', 'credentials-v1', 32));
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key };
}

export class SecretBox {
  private readonly keys: DerivedKey[];

  /** `secrets[0]` encrypts; all of them decrypt. */
  constructor(secrets: readonly string[]) {
    this.keys = secrets.map(derive);
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The fingerprint of the key new ciphertexts use. */
  get currentKeyId(): string | undefined {
    return this.keys[0]?.id;
  }

  encrypt(plaintext: string, aad: string): { ciphertext: string; keyId: string } {
    const k = this.keys[0];
    if (!k) throw new Error('no secret key configured');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', k.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { ciphertext: Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64'), keyId: k.id };
  }

  /** Throws when no configured key made this ciphertext, or it was tampered with. */
  decrypt(ciphertext: string, keyId: string, aad: string): string {
    const k = this.keys.find((x) => x.id === keyId);
    if (!k) throw new Error(`no configured secret key matches key id ${keyId}`);
    const buf = Buffer.from(ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', k.key, buf.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(buf.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  }
}
