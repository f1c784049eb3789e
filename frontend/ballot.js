/* The officer's side of a blind-signed ballot (RFC 9474, RSABSSA-SHA384-PSS-Randomized).
 *
 * Bundled by `make js` (frontend/build.mjs) into static/js/vendor/ballot-<version>-<hash>.min.js, which
 * the questionnaire page loads with Subresource Integrity. It does the cryptography only; the requests,
 * the storage of the ballot and the page live in static/js/portal.js.
 *
 * window.VettedBallot (all bytes as standard base64):
 *   supported()                            -> true where this browser has what the protocol needs
 *   fingerprint(pem)                       -> Promise of "sha256:<hex of SHA-256 over the DER SPKI>"
 *   blind(pem)                             -> Promise of {token, blindedMsg, inv}: a fresh token and its
 *                                             blinded form; keep inv secret, it unblinds the signature
 *   finalize(pem, token, inv, blindSig)    -> Promise of the signature on token (throws unless it verifies)
 *   obtainBallot(pem, requestBlindSig)     -> blind, ask, finalize: Promise of {token, signature}
 *       requestBlindSig(blindedMsg)        -> Promise of the server's blind signature
 *   verifyBallot(pem, token, signature)    -> Promise of true/false
 *
 * The token is the prepared message: 32 random bytes (the randomized variant's prefix) followed by a
 * 32-byte random message. The server only ever sees it blinded until the answers are sent with it.
 */
import { RSABSSA } from '@cloudflare/blindrsa-ts';

const SUITE = RSABSSA.SHA384.PSS.Randomized();
const MESSAGE_BYTES = 32;
const KEY_ALGORITHM = { name: 'RSA-PSS', hash: 'SHA-384' };

function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function derFromPem(pem) {
  const match = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
  if (!match) throw new Error('the ballot key is not an SPKI PEM public key');
  return fromBase64(match[1].replace(/\s+/g, ''));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The library reads the modulus through a JWK export, so the key must be extractable (it is public).
function importPublicKey(pem) {
  return crypto.subtle.importKey('spki', derFromPem(pem), KEY_ALGORITHM, true, ['verify']);
}

function supported() {
  return (
    typeof crypto !== 'undefined' &&
    Boolean(crypto.subtle) &&
    typeof crypto.getRandomValues === 'function' &&
    typeof BigInt === 'function'
  );
}

async function fingerprint(pem) {
  const digest = await crypto.subtle.digest('SHA-256', derFromPem(pem));
  return 'sha256:' + hex(new Uint8Array(digest));
}

async function blind(pem) {
  const key = await importPublicKey(pem);
  const prepared = SUITE.prepare(crypto.getRandomValues(new Uint8Array(MESSAGE_BYTES)));
  const { blindedMsg, inv } = await SUITE.blind(key, prepared);
  return { token: toBase64(prepared), blindedMsg: toBase64(blindedMsg), inv: toBase64(inv) };
}

// The library's finalize checks the unblinded signature against the key and throws if it does not verify.
async function finalize(pem, token, inv, blindSig) {
  const key = await importPublicKey(pem);
  return toBase64(await SUITE.finalize(key, fromBase64(token), fromBase64(blindSig), fromBase64(inv)));
}

async function obtainBallot(pem, requestBlindSig) {
  const blinded = await blind(pem);
  const blindSig = await requestBlindSig(blinded.blindedMsg);
  return { token: blinded.token, signature: await finalize(pem, blinded.token, blinded.inv, blindSig) };
}

async function verifyBallot(pem, token, signature) {
  try {
    return await SUITE.verify(await importPublicKey(pem), fromBase64(signature), fromBase64(token));
  } catch (error) {
    return false;
  }
}

window.VettedBallot = Object.freeze({
  suite: SUITE.toString(),
  supported,
  fingerprint,
  blind,
  finalize,
  obtainBallot,
  verifyBallot,
});
