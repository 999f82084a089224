// Compiles contracts/Demo.sol with solc-js (from npm, offline) into artifacts/Demo.json: the
// ABI and the creation bytecode. The artifact is committed; run `node compile.mjs` after
// changing the contract (the e2e script checks the artifact is current).
import { readFileSync, writeFileSync } from "node:fs";
import solc from "solc";

const source = readFileSync(new URL("./contracts/Demo.sol", import.meta.url), "utf8");
const input = {
  language: "Solidity",
  sources: { "Demo.sol": { content: source } },
  settings: {
    // The rollup's default EVM spec.
    evmVersion: "prague",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const demo = output.contracts["Demo.sol"].Demo;
const artifact = {
  contractName: "Demo",
  compiler: `solc ${solc.version()}`,
  abi: demo.abi,
  bytecode: `0x${demo.evm.bytecode.object}`,
};
const path = new URL("./artifacts/Demo.json", import.meta.url);
const text = `${JSON.stringify(artifact, null, 2)}\n`;
if (process.argv.includes("--check")) {
  if (readFileSync(path, "utf8") !== text) {
    console.error("artifacts/Demo.json is stale: run `node compile.mjs`");
    process.exit(1);
  }
} else {
  writeFileSync(path, text);
}
