// Checks custom resources against their CRDs' OpenAPI schemas, the way the
// API server would, with the schemas the @kubernetes-models packages carry
// (pinned in package.json beside this file):
//
// - values (types, required fields, enums, patterns such as durations) by
//   the package's validate(), compiled from the CRD's schema;
// - unknown fields, which those schemas allow (a cluster rejects them under
//   strict field validation, the default of `kubectl apply`), by the
//   TypeScript compiler's excess-property check against the package's types.
//
// Input: a JSON file (the first argument) holding an array of {source, object}. Output on stdout: JSON
// {checked: {Kind: count}, problems: [{source, kind, name, field, message}]}.
// Exit 0 when it could check (problems or not), 2 when it could not.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

// apiVersion -> the models package's module for it.
const MODULES = {
  "cert-manager.io/v1": "@kubernetes-models/cert-manager/cert-manager.io/v1",
  "acme.cert-manager.io/v1": "@kubernetes-models/cert-manager/acme.cert-manager.io/v1",
  "external-secrets.io/v1": "@kubernetes-models/external-secrets/external-secrets.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "monitoring.coreos.com/v1alpha1":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1",
};

// TypeScript diagnostics that mean "this field is not in the schema".
const UNKNOWN_FIELD_CODES = new Set([2353, 2561]);

const here = path.dirname(fileURLToPath(import.meta.url));
const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const checked = {};
const problems = [];
const failed = new Set();
const problem = (item, field, message) => {
  failed.add(item);
  problems.push({
    source: item.source,
    kind: item.object.kind ?? "",
    name: item.object.metadata?.name ?? "(unnamed)",
    field,
    message,
  });
};

// "/spec/groups/0/for" -> "spec.groups[0].for"
const fieldOf = (pointer) =>
  pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");

const valueAt = (obj, pointer) =>
  pointer
    .split("/")
    .slice(1)
    .reduce((v, p) => v?.[p.replace(/~1/g, "/").replace(/~0/g, "~")], obj);

// 1. Values, by the schema's compiled validate().
const typed = []; // [item, module alias, interface] for the TypeScript pass
const aliases = new Map();
const passedValues = new Set();
for (const item of input) {
  const { apiVersion, kind } = item.object;
  const specifier = MODULES[apiVersion];
  const mod = specifier && (await import(specifier));
  const Model = mod?.[kind];
  if (!Model || Model.kind !== kind || Model.apiVersion !== apiVersion) {
    problem(item, "kind", `no CRD schema for ${apiVersion} ${kind}`);
    continue;
  }
  try {
    new Model(item.object).validate();
    passedValues.add(item);
  } catch (e) {
    for (const err of e.errors ?? e.details ?? [{ instancePath: "", message: e.message }]) {
      let field = fieldOf(err.instancePath ?? "");
      let message = err.message;
      if (err.keyword === "required") {
        field = field ? `${field}.${err.params.missingProperty}` : err.params.missingProperty;
        message = "is required by the CRD";
      } else if (err.keyword === "enum") {
        message = `must be one of ${err.params.allowedValues.join(", ")}`;
      } else if (err.keyword === "pattern") {
        message = `must match ${err.params.pattern}`;
      }
      if (err.keyword !== "required") message += ` (got ${JSON.stringify(valueAt(item.object, err.instancePath ?? ""))})`;
      problem(item, field, message);
    }
  }
  if (!aliases.has(specifier)) aliases.set(specifier, `m${aliases.size}`);
  typed.push([item, aliases.get(specifier), `I${kind}`]);
}

// 2. Unknown fields, by type-checking each object as a literal of its type.
// One property per line, so a diagnostic's line names the field.
const lines = [...aliases].map(([spec, alias]) => `import type * as ${alias} from "${spec}";`);
const lineField = []; // line index -> [item, field]
const emit = (item, field, text) => {
  lineField[lines.length] = [item, field];
  lines.push(text);
};
const literal = (item, value, field, prefix, suffix) => {
  if (Array.isArray(value)) {
    emit(item, field, `${prefix}[`);
    value.forEach((v, i) => literal(item, v, `${field}[${i}]`, "", ","));
    emit(item, field, `]${suffix}`);
  } else if (value !== null && typeof value === "object") {
    emit(item, field, `${prefix}{`);
    for (const [k, v] of Object.entries(value)) {
      literal(item, v, field ? `${field}.${k}` : k, `${JSON.stringify(k)}: `, ",");
    }
    emit(item, field, `}${suffix}`);
  } else {
    emit(item, field, `${prefix}${JSON.stringify(value)}${suffix}`);
  }
};
typed.forEach(([item, alias, iface], i) =>
  literal(item, item.object, "", `export const o${i}: ${alias}.${iface} = `, ";"),
);

const file = path.join(here, "__objects__.ts");
const text = lines.join("\n") + "\n";
const options = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  types: [],
};
const host = ts.createCompilerHost(options);
const readSource = host.getSourceFile;
host.getSourceFile = (name, lang, ...rest) =>
  path.resolve(name) === file
    ? ts.createSourceFile(name, text, lang)
    : readSource.call(host, name, lang, ...rest);
host.fileExists = ((exists) => (name) => path.resolve(name) === file || exists(name))(
  host.fileExists,
);
const program = ts.createProgram([file], options, host);
const source = program.getSourceFile(file);
for (const d of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
  if (d.file?.fileName === undefined || path.resolve(d.file.fileName) !== file) {
    console.error(`validate-crds: ${message}`);
    process.exit(2);
  }
  const { line } = source.getLineAndCharacterOfPosition(d.start);
  const [item, field] = lineField[line] ?? [];
  if (!item) {
    console.error(`validate-crds: line ${line + 1}: ${message}`);
    process.exit(2);
  }
  if (UNKNOWN_FIELD_CODES.has(d.code)) {
    const unknown = /'"?([^'"]+)"?' does not exist/.exec(message)?.[1];
    const at = unknown && !field.endsWith(unknown) ? (field ? `${field}.${unknown}` : unknown) : field;
    problem(item, at, `is not a field of the CRD (${message})`);
  } else if (passedValues.has(item)) {
    // The schema's validate() passed it; the types still disagree.
    problem(item, field, message);
  }
}

for (const [item] of typed) {
  if (!failed.has(item)) checked[item.object.kind] = (checked[item.object.kind] ?? 0) + 1;
}
process.stdout.write(JSON.stringify({ checked, problems }) + "\n");
