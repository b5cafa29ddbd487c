#!/usr/bin/env bash
# Vendors Twilio's Voice JavaScript SDK (npm @twilio/voice-sdk) into the inbox's assets: the agent's browser
# answers and places WhatsApp calls with it (issue 22). The package is fetched from the npm registry at a pinned
# version and checked against the registry's published sha512 integrity before anything is extracted; its
# browser bundle and its licence are written beside the inbox's modules (src/http/inbox/vendor/), from where the
# server embeds and serves them under the inbox's CSP. Run it again to update: change VERSION and INTEGRITY
# together (from `npm view @twilio/voice-sdk@<version> dist.integrity`).
set -euo pipefail

VERSION="2.18.5"
INTEGRITY="sha512-2/tw1IDAIn7j6yFDOln8p93v3aHIxNIN93JwL98cHIlbkSNeU/Jt9zGM/0TvDpNjo+k88lvAew4jgOjKlc9/KA=="
URL="https://registry.npmjs.org/@twilio/voice-sdk/-/voice-sdk-${VERSION}.tgz"

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/src/http/inbox/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

curl -fsSL --retry 3 -o "$work/sdk.tgz" "$URL"
actual="sha512-$(openssl dgst -sha512 -binary "$work/sdk.tgz" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "vendor-voice-sdk: $URL does not match its pinned integrity" >&2
  echo "  expected $INTEGRITY" >&2
  echo "  got      $actual" >&2
  exit 1
fi
tar -xzf "$work/sdk.tgz" -C "$work" package/dist/twilio.min.js package/LICENSE.md package/package.json
mkdir -p "$out"
cp "$work/package/dist/twilio.min.js" "$out/twilio-voice.min.js"
cp "$work/package/LICENSE.md" "$out/twilio-voice.LICENSE.md"
printf '@twilio/voice-sdk %s (%s)\n%s\n' "$VERSION" "$(node -p "require('$work/package/package.json').license" 2>/dev/null || echo Apache-2.0)" "$INTEGRITY" > "$out/twilio-voice.VERSION"
echo "vendored @twilio/voice-sdk $VERSION into $out"
