// What the JavaScript end-to-end scripts share: the node's URL, the devnet's public
// development keys (anvil's), the compiled Demo contract and a small step runner.
import { readFileSync } from 'node:fs'

/** The node's HTTP URL (`e2e/run` starts the devnet and sets it). */
export const RPC_URL = process.env.RPC_URL ?? 'http://127.0.0.1:8545'
/** The same port's WebSocket URL. */
export const WS_URL = RPC_URL.replace(/^http/, 'ws')
/** The devnet's chain id. */
export const CHAIN_ID = Number(process.env.CHAIN_ID ?? 1337)

/** anvil's development keys #1..#3 (the devnet funds all ten); each client has its own, so
 * their nonces never meet. */
export const KEYS = {
  viem: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  ethers: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  web3py: '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
}

/** Demo.sol as compiled by `compile.mjs` (solc from npm). */
export const DEMO = JSON.parse(readFileSync(new URL('./artifacts/Demo.json', import.meta.url), 'utf8'))

let failures = 0
let passed = 0

/** Runs one named check, printing ok/FAIL with its time; failures are counted, not thrown. */
export async function step(name, body) {
  const start = Date.now()
  try {
    await body()
    passed += 1
    console.log(`ok   ${name} (${Date.now() - start} ms)`)
  } catch (error) {
    failures += 1
    console.log(`FAIL ${name}: ${error?.stack ?? error}`)
  }
}

/** Prints the total and exits non-zero when any check failed. */
export function finish(client) {
  console.log(`${client}: ${passed} passed, ${failures} failed`)
  process.exit(failures === 0 ? 0 : 1)
}

/** `promise`, or a failure naming `what` after `ms` milliseconds (a subscription that never
 * delivers fails its step instead of hanging the script). */
export function within(promise, what, ms = 30_000) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Polls `probe` until it returns a truthy value, at most `ms` milliseconds. */
export async function until(what, probe, ms = 30_000) {
  const start = Date.now()
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
