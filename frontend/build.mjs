// Build the ballot bundle: `make js` (writes), `make js-check` (rebuilds in memory, compares, writes nothing).
//
// frontend/ballot.js + @cloudflare/blindrsa-ts (pinned in package.json / package-lock.json) -> one minified
// IIFE, static/js/vendor/ballot-<blindrsa version>-<first 12 hex of its SHA-384>.min.js, and
// static/js/vendor/ballot.manifest.json naming it with its Subresource Integrity hash. Django reads the
// manifest (responses/templatetags/ballot.py). The same inputs give the same bytes, so anyone can rebuild
// the committed file and compare its hash with the one the site publishes.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const VENDOR = join(ROOT, 'static', 'js', 'vendor');
const MANIFEST = join(VENDOR, 'ballot.manifest.json');
const BUNDLE_NAME = /^ballot-.*\.min\.js$/;

function installedVersion(name) {
  return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
}

const packages = {
  '@cloudflare/blindrsa-ts': installedVersion('@cloudflare/blindrsa-ts'),
  esbuild: esbuild.version,
};

const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: ['frontend/ballot.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  charset: 'utf8',
  legalComments: 'none', // the notices of the bundled code are in the banner below
  banner: {
    js: [
      `/*! Vetted Survey ballot bundle: frontend/ballot.js built by esbuild ${packages.esbuild} (\`make js\`).`,
      ` * Includes @cloudflare/blindrsa-ts ${packages['@cloudflare/blindrsa-ts']}, Copyright (c) 2023 Cloudflare, Inc.,`,
      ' * Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0), and the Stanford Javascript Crypto',
      ' * Library it vendors, (c) Emily Stark, Mike Hamburg, Dan Boneh, Stanford University, BSD licence. */',
    ].join('\n'),
  },
  write: false,
  logLevel: 'warning',
});
const bytes = result.outputFiles[0].contents;
const sha384 = createHash('sha384').update(bytes).digest();
const file = `ballot-${packages['@cloudflare/blindrsa-ts']}-${sha384.toString('hex').slice(0, 12)}.min.js`;
const manifest = {
  file: `js/vendor/${file}`,
  integrity: `sha384-${sha384.toString('base64')}`,
  source: 'frontend/ballot.js',
  packages,
};
const manifestText = JSON.stringify(manifest, null, 2) + '\n';

if (process.argv.includes('--check')) {
  let committed = null;
  try {
    committed = readFileSync(join(VENDOR, file));
  } catch (error) {
    committed = null;
  }
  const sameBundle = committed !== null && Buffer.compare(committed, Buffer.from(bytes)) === 0;
  const sameManifest = readFileSync(MANIFEST, 'utf8') === manifestText;
  if (!sameBundle || !sameManifest) {
    console.error(
      `The committed ballot bundle differs from a fresh build (${file}, ${manifest.integrity}): run \`make js\`.`,
    );
    process.exit(1);
  }
  console.log(`${relative(ROOT, join(VENDOR, file))} is reproducible: ${manifest.integrity}`);
} else {
  for (const old of readdirSync(VENDOR)) {
    if (BUNDLE_NAME.test(old) && old !== file) unlinkSync(join(VENDOR, old));
  }
  writeFileSync(join(VENDOR, file), bytes);
  writeFileSync(MANIFEST, manifestText);
  console.log(`${relative(ROOT, join(VENDOR, file))} ${manifest.integrity}`);
}
