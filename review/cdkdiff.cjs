#!/usr/bin/env node
// The CDK's own template diff (@aws-cdk/cloudformation-diff, pinned in package.json), as JSON for
// review/cdkdiff.py: `node review/cdkdiff.cjs OLD.template.json NEW.template.json [PATHS.json]`.
// PATHS.json maps logical IDs to construct paths (from the cloud assembly's manifest), as the CLI shows them.
// Prints {resources, security, other, text}; exit 2 on bad input.
"use strict";
const fs = require("fs");
const { Writable } = require("stream");
const cfnDiff = require("@aws-cdk/cloudformation-diff");

const IMPACT = {
  WILL_REPLACE: "replaced",
  MAY_REPLACE: "may be replaced",
  WILL_DESTROY: "deleted",
  WILL_ORPHAN: "removed from the stack, retained (orphaned)",
  WILL_IMPORT: "imported",
};
const PROPERTY_REPLACEMENT = { WILL_REPLACE: "", MAY_REPLACE: " (may)" };
const OTHER_SECTIONS = [
  ["awsTemplateFormatVersion", "Template"], ["description", "Template"], ["transform", "Template"],
  ["parameters", "Parameters"], ["metadata", "Metadata"], ["mappings", "Mappings"],
  ["conditions", "Conditions"], ["outputs", "Outputs"], ["unknown", "Other Changes"],
];

function readJson(path, what) {
  try {
    return JSON.parse(fs.readFileSync(path, "utf8"));
  } catch (error) {
    process.stderr.write(`cdkdiff: ${what} ${path}: ${error.message}\n`);
    process.exit(2);
  }
}

// The CLI's rendering of a construct path: without the stack and a trailing Resource/Default.
function shortPath(path) {
  if (!path) return "";
  let parts = path.replace(/^\//, "").split("/");
  if (parts.length > 1) {
    parts = parts.slice(1);
    if (parts.length > 1 && ["Resource", "Default"].includes(parts[parts.length - 1])) parts = parts.slice(0, -1);
  }
  return parts.join("/");
}

function sign(change) {
  return change.isAddition ? "+" : change.isRemoval ? "-" : "~";
}

function rows(table, summary) {
  // summarize*() gives a header row, then one row per change whose first cell is "+" or "-".
  if (!summary || summary.length < 2) return [];
  const [header, ...body] = summary;
  return body.map((cells) => ({
    table,
    sign: cells[0],
    cells: Object.fromEntries(header.slice(1).map((h, i) => [h, String(cells[i + 1] ?? "").replace(/\s+/g, " ").trim()])),
  }));
}

function main(argv) {
  if (argv.length < 2) {
    process.stderr.write("usage: node review/cdkdiff.cjs OLD.template.json NEW.template.json [PATHS.json]\n");
    process.exit(2);
  }
  const before = readJson(argv[0], "old template");
  const after = readJson(argv[1], "new template");
  const paths = argv[2] ? readJson(argv[2], "logical-id paths") : {};
  const diff = cfnDiff.fullDiff(before, after);

  const resources = [];
  diff.resources.forEachDifference((logicalId, change) => {
    const properties = [];
    const forcing = [];
    change.forEachDifference((_type, name, value) => {
      properties.push(name);
      const replacement = PROPERTY_REPLACEMENT[value.changeImpact];
      if (replacement !== undefined) forcing.push(name + replacement);
    });
    resources.push({
      kind: change.isAddition ? "added" : change.isRemoval ? "removed" : "changed",
      type: change.resourceType || "",
      path: shortPath(paths[logicalId]),
      logical_id: logicalId,
      impact: IMPACT[change.changeImpact] || "",
      properties,
      forcing,
    });
  });

  const security = [
    ...rows("IAM Statement Changes", diff.iamChanges.summarizeStatements()),
    ...rows("IAM Policy Changes", diff.iamChanges.summarizeManagedPolicies()),
    ...rows("Security Group Changes", diff.securityGroupChanges.summarize()),
  ];

  const other = [];
  for (const [key, section] of OTHER_SECTIONS) {
    const value = diff[key];
    if (value && typeof value.forEachDifference === "function") {
      value.forEachDifference((name, change) => other.push(`${section}: [${sign(change)}] ${name}`));
    } else if (value && value.isDifferent) {
      other.push(`${section}: [~] ${key}`);
    }
  }

  let text = "";
  const sink = new Writable({ write(chunk, _encoding, done) { text += chunk.toString(); done(); } });
  cfnDiff.formatDifferences(sink, diff, paths);
  process.stdout.write(JSON.stringify({ resources, security, other, text: text.replace(/\x1b\[[0-9;]*m/g, "") }));
}

main(process.argv.slice(2));
