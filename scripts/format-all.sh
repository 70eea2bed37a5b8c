#!/usr/bin/env bash
# Brings the whole tree to the Biome configuration in one go (docs/decisions/0007-formatter-and-linter.md):
# formatting, then the lint fixes that keep behaviour, then formatting again for what the fixes left.
# Safe to run twice. Ends with the checks CI runs; what is still reported there needs a hand.
set -euo pipefail
cd "$(dirname "$0")/.."
biome=node_modules/.bin/biome

"$biome" format --write . >/dev/null
# safe fixes: useImportType, useExponentiationOperator, useRegexLiterals, ...
"$biome" lint --write . >/dev/null 2>&1 || true
# unsafe only by Biome's label: dropping unused imports, `_` before an unused parameter's name
"$biome" lint --write --unsafe --only=correctness/noUnusedImports --only=correctness/noUnusedFunctionParameters . \
  >/dev/null 2>&1 || true
"$biome" format --write . >/dev/null

echo "comment lines over 120 columns (the formatter does not wrap comments):"
git ls-files -z -- '*.ts' '*.mts' '*.js' '*.mjs' ':!test/fixtures' | node -e '
  const fs = require("node:fs");
  for (const f of fs.readFileSync(0, "utf8").split("\0").filter(Boolean))
    fs.readFileSync(f, "utf8").split("\n").forEach((l, i) => {
      if ([...l].length > 120 && /^\s*(\/\/|\/\*|\*)/.test(l)) console.log(`  ${f}:${i + 1}`);
    });'

npm run --silent lint
npx tsc --noEmit
