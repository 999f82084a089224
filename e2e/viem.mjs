// viem, unchanged, against the altlayer devnet's JSON-RPC: what a dApp does.
import assert from 'node:assert/strict'
import {
  BaseError,
  ContractFunctionRevertedError,
  InsufficientFundsError,
  NonceTooLowError,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeAbiParameters,
  http,
  keccak256,
  parseEther,
  webSocket,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { CHAIN_ID, DEMO, KEYS, RPC_URL, WS_URL, finish, step, until, within } from './lib.mjs'

const chain = defineChain({
  id: CHAIN_ID,
  name: 'altlayer devnet',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [RPC_URL], webSocket: [WS_URL] } },
})
const client = createPublicClient({ chain, transport: http(RPC_URL), pollingInterval: 100 })
const account = privateKeyToAccount(KEYS.viem)
const wallet = createWalletClient({ account, chain, transport: http(RPC_URL) })
const ws = createPublicClient({ chain, transport: webSocket(WS_URL) })
const { abi, bytecode } = DEMO

/** The first error of `kind` in a viem error's chain. */
function cause(error, kind) {
  assert.ok(error instanceof BaseError, `not a viem error: ${error}`)
  const found = error.walk((e) => e instanceof kind)
  assert.ok(found, `no ${kind.name} in: ${error.message}`)
  return found
}

async function refused(promise, kind) {
  try {
    await promise
  } catch (error) {
    return cause(error, kind)
  }
  assert.fail(`expected ${kind.name}`)
}

let demo
let transferBlock

await step('chain id and the funded balance', async () => {
  assert.equal(await client.getChainId(), CHAIN_ID)
  assert.ok((await client.getBalance({ address: account.address })) > parseEther('9000'))
  assert.ok((await client.getBlockNumber()) >= 0n)
})

await step('a transfer is pending, then mined with a receipt', async () => {
  const to = '0x000000000000000000000000000000000000b0b1'
  const before = await client.getBalance({ address: to })
  const hash = await wallet.sendTransaction({ to, value: parseEther('1.5') })
  const receipt = await client.waitForTransactionReceipt({ hash, timeout: 30_000 })
  assert.equal(receipt.status, 'success')
  assert.equal(receipt.gasUsed, 21000n)
  assert.equal(await client.getBalance({ address: to }), before + parseEther('1.5'))
  const tx = await client.getTransaction({ hash })
  assert.equal(tx.blockNumber, receipt.blockNumber)
  assert.equal(tx.from.toLowerCase(), account.address.toLowerCase())
  const block = await client.getBlock({ blockNumber: receipt.blockNumber, includeTransactions: true })
  assert.ok(block.transactions.some((t) => t.hash === hash))
  transferBlock = receipt.blockNumber
})

await step('deploy Demo, write, read back', async () => {
  const hash = await wallet.deployContract({ abi, bytecode })
  const receipt = await client.waitForTransactionReceipt({ hash, timeout: 30_000 })
  assert.equal(receipt.status, 'success')
  demo = receipt.contractAddress
  assert.ok((await client.getCode({ address: demo })).length > 2)
  const { request } = await client.simulateContract({ account, address: demo, abi, functionName: 'store', args: [7n, 42n] })
  const write = await wallet.writeContract(request)
  assert.equal((await client.waitForTransactionReceipt({ hash: write })).status, 'success')
  assert.equal(await client.readContract({ address: demo, abi, functionName: 'values', args: [7n] }), 42n)
  assert.equal(await client.readContract({ address: demo, abi, functionName: 'total' }), 42n)
  // The slot of values[7] read directly and proven (EIP-1186).
  const slot = keccak256(encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }], [7n, 0n]))
  assert.equal(BigInt(await client.getStorageAt({ address: demo, slot })), 42n)
  const proof = await client.getProof({ address: demo, storageKeys: [slot] })
  assert.equal(proof.storageProof[0].value, 42n)
  assert.ok(proof.accountProof.length > 0)
})

await step('events: getLogs with indexed arguments, a filter, a WebSocket subscription', async () => {
  const filter = await client.createContractEventFilter({ address: demo, abi, eventName: 'Stored' })
  const heard = new Promise((resolve, reject) => {
    const unwatch = ws.watchContractEvent({
      address: demo,
      abi,
      eventName: 'Stored',
      onLogs: (logs) => {
        unwatch()
        resolve(logs)
      },
      onError: reject,
    })
  })
  const heads = new Promise((resolve, reject) => {
    const unwatch = ws.watchBlocks({
      onBlock: (block) => {
        unwatch()
        resolve(block)
      },
      onError: reject,
    })
  })
  // Let the subscriptions reach the node before the event happens.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const hash = await wallet.writeContract({ address: demo, abi, functionName: 'store', args: [9n, 5n] })
  const receipt = await client.waitForTransactionReceipt({ hash })
  const logs = await client.getContractEvents({ address: demo, abi, eventName: 'Stored', args: { key: 9n }, fromBlock: 0n })
  assert.equal(logs.length, 1)
  assert.equal(logs[0].args.value, 5n)
  assert.equal(logs[0].args.who.toLowerCase(), account.address.toLowerCase())
  assert.equal(logs[0].transactionHash, hash)
  assert.equal(logs[0].blockNumber, receipt.blockNumber)
  const both = await client.getContractEvents({ address: demo, abi, eventName: 'Stored', args: { key: [7n, 9n] }, fromBlock: 0n })
  assert.equal(both.length, 2)
  const changes = await client.getFilterChanges({ filter })
  assert.ok(changes.some((log) => log.transactionHash === hash), 'the filter saw the event')
  const pushed = await within(heard, 'the Stored log over WebSocket')
  assert.equal(pushed[0].transactionHash, hash)
  assert.equal(pushed[0].args.key, 9n)
  assert.ok((await within(heads, 'a new head over WebSocket')).number > 0n)
  await client.uninstallFilter({ filter })
})

await step('a revert reason, a custom error and a panic, decoded', async () => {
  const reason = await refused(client.readContract({ address: demo, abi, functionName: 'fail', args: [1n] }), ContractFunctionRevertedError)
  assert.equal(reason.reason, 'Demo: failure requested')
  const custom = await refused(client.simulateContract({ account, address: demo, abi, functionName: 'guarded' }), ContractFunctionRevertedError)
  assert.equal(custom.data.errorName, 'Unauthorized')
  assert.equal(custom.data.args[0].toLowerCase(), account.address.toLowerCase())
  const panic = await refused(client.readContract({ address: demo, abi, functionName: 'divide', args: [1n, 0n] }), ContractFunctionRevertedError)
  assert.equal(panic.data.errorName, 'Panic')
  assert.equal(panic.data.args[0], 0x12n)
  // eth_estimateGas carries the revert data too.
  const estimate = await refused(client.estimateContractGas({ account, address: demo, abi, functionName: 'fail', args: [2n] }), ContractFunctionRevertedError)
  assert.equal(estimate.reason, 'Demo: failure requested')
})

await step("geth's refusals become viem's errors", async () => {
  const to = '0x000000000000000000000000000000000000b0b2'
  await refused(wallet.sendTransaction({ to, value: 1n, nonce: 0 }), NonceTooLowError)
  const poor = privateKeyToAccount(generatePrivateKey())
  const poorWallet = createWalletClient({ account: poor, chain, transport: http(RPC_URL) })
  await refused(poorWallet.sendTransaction({ to, value: parseEther('1'), gas: 21000n }), InsufficientFundsError)
})

await step('fees: gas price, priority fee, fee history', async () => {
  const fees = await client.estimateFeesPerGas()
  assert.ok(fees.maxFeePerGas > 0n)
  const history = await client.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] })
  assert.equal(history.baseFeePerGas.length, history.gasUsedRatio.length + 1)
  assert.equal(history.reward[0].length, 2)
})

await step('safe and finalized advance past the transfer (MACH, then the challenge window)', async () => {
  await until('a safe block past the transfer', async () => (await client.getBlock({ blockTag: 'safe' })).number >= transferBlock)
  await until('a finalized block past the transfer', async () => (await client.getBlock({ blockTag: 'finalized' })).number >= transferBlock)
  const tiers = await client.request({ method: 'altlayer_finality', params: [`0x${transferBlock.toString(16)}`] })
  assert.equal(tiers.tier, 'firm')
  assert.match(tiers.fastCertificate, /^0x[0-9a-f]{64}$/)
  assert.match(tiers.softCertificate, /^0x[0-9a-f]{64}$/)
  assert.ok(BigInt(tiers.batch) >= 0n)
  assert.equal(await client.request({ method: 'altlayer_hasActiveAlerts', params: [] }), false)
  const mach = await client.request({ method: 'altlayer_operators', params: ['mach'] })
  assert.equal(mach.operators.length, 4)
  assert.equal(mach.thresholdPercent, 66)
  assert.ok(BigInt(mach.totalStake) > 0n)
  const batch = await client.request({ method: 'altlayer_getBatch', params: [tiers.batch] })
  assert.equal(BigInt(batch.index), BigInt(tiers.batch))
  assert.ok(BigInt(batch.firstBlock) <= transferBlock && transferBlock <= BigInt(batch.lastBlock), JSON.stringify(batch))
  assert.match(batch.postStateRoot, /^0x[0-9a-f]{64}$/)
})

await step('debug_traceTransaction with the callTracer', async () => {
  const hash = await wallet.writeContract({ address: demo, abi, functionName: 'store', args: [11n, 1n] })
  await client.waitForTransactionReceipt({ hash })
  const trace = await client.request({ method: 'debug_traceTransaction', params: [hash, { tracer: 'callTracer' }] })
  assert.equal(trace.type, 'CALL')
  assert.equal(trace.to.toLowerCase(), demo.toLowerCase())
  assert.equal(trace.from.toLowerCase(), account.address.toLowerCase())
})

await ws.transport.getRpcClient().then((rpc) => rpc.close())
finish('viem')
