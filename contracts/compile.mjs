// Compiles the settlement contracts in src/ with solc-js (from npm, offline; the version is
// package.json's) through standard JSON into ../altlayer-l1/artifacts/<Contract>.json, beside
// the crate whose bindings embed them: the ABI, the creation and the runtime bytecode. The
// artifacts are committed, so the Rust build needs no compiler;
// `node compile.mjs --check` (run by .ci/run) fails when they are not what the sources give.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import solc from "solc";

// The contracts deployed on the L1, and `L2Withdrawals`, predeployed on the rollup; libraries
// and structs are compiled into them.
const DEPLOYED = ["Rosters", "MachServiceManager", "VitalStepVerifier", "RollupSettlement", "Bridge", "L2Withdrawals"];

const src = new URL("./src/", import.meta.url);
const sources = Object.fromEntries(
  readdirSync(src)
    .filter((name) => name.endsWith(".sol"))
    .sort()
    .map((name) => [name, { content: readFileSync(new URL(name, src), "utf8") }]),
);
const input = {
  language: "Solidity",
  sources,
  settings: {
    // What anvil and Ethereum mainnet run.
    evmVersion: "prague",
    optimizer: { enabled: true, runs: 200 },
    // Structs passed from calldata to memory and long functions need the IR pipeline's
    // stack handling.
    viaIR: true,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const problems = output.errors ?? [];
for (const p of problems.filter((p) => p.severity !== "error")) {
  console.error(p.formattedMessage);
}
const errors = problems.filter((p) => p.severity === "error");
if (errors.length > 0) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}

const check = process.argv.includes("--check");
let stale = [];
for (const name of DEPLOYED) {
  const file = Object.keys(output.contracts).find((f) => output.contracts[f][name]);
  if (!file) {
    console.error(`no contract ${name} in src/`);
    process.exit(1);
  }
  const contract = output.contracts[file][name];
  const artifact = {
    contractName: name,
    sourceName: `src/${file}`,
    compiler: `solc ${solc.version()}`,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  };
  const path = new URL(`../altlayer-l1/artifacts/${name}.json`, import.meta.url);
  const text = `${JSON.stringify(artifact, null, 2)}\n`;
  if (check) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {}
    if (current !== text) stale.push(`altlayer-l1/artifacts/${name}.json`);
  } else {
    writeFileSync(path, text);
  }
}
if (stale.length > 0) {
  console.error(`stale: ${stale.join(", ")}; run \`node compile.mjs\` in contracts/`);
  process.exit(1);
}
