import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { HarnessError } from "../errors.js";

/** A WireGuard key pair in `wg`'s form: base64 of the raw 32-byte X25519 keys. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** A new X25519 pair from node:crypto (no `wg genkey` needed). */
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return {
    privateKey: b64(privateKey.export({ format: "jwk" }).d!),
    publicKey: b64(publicKey.export({ format: "jwk" }).x!),
  };
}

/** The public half of a private key given in `wg`'s base64 form (a pre-generated key). */
export function publicKeyOf(privateKey: string): string {
  const d = Buffer.from(privateKey, "base64");
  if (d.length !== 32) throw new HarnessError("a WireGuard private key is 32 bytes in base64 (as `wg genkey` prints it)", { code: "E_CONFIG" });
  const key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: d.toString("base64url"), x: "" }, format: "jwk" });
  return b64(createPublicKey(key).export({ format: "jwk" }).x!);
}

/** The UAPI protocol wants keys as hex. */
export function keyToHex(key: string): string {
  return Buffer.from(key, "base64").toString("hex");
}

export function hexToKey(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

/** A short, non-secret name for a public key in logs. */
export function fingerprint(publicKey: string): string {
  return publicKey.slice(0, 8);
}

function b64(base64url: string): string {
  return Buffer.from(base64url, "base64url").toString("base64");
}
