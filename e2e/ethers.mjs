// ethers v6, unchanged, against the altlayer devnet's JSON-RPC. Its JsonRpcProvider batches
// requests (up to 100 per HTTP request) and polls filters; its WebSocketProvider subscribes.
import assert from 'node:assert/strict'
import { ethers } from 'ethers'
import { CHAIN_ID, DEMO, KEYS, RPC_URL, WS_URL, finish, step, until, within } from './lib.mjs'

const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { pollingInterval: 100 })
provider.pollingInterval = 100
const wallet = new ethers.Wallet(KEYS.ethers, provider)
const wsProvider = new ethers.WebSocketProvider(WS_URL)

/** The error `promise` is refused with. */
async function refusal(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected a refusal')
}

let demo
let transferBlock

await step('network, block number and the funded balance', async () => {
  const network = await provider.getNetwork()
  assert.equal(network.chainId, BigInt(CHAIN_ID))
  assert.ok((await provider.getBalance(wallet.address)) > ethers.parseEther('9000'))
  assert.ok((await provider.getBlockNumber()) >= 0)
})

await step('a transfer mined with its receipt', async () => {
  const to = '0x000000000000000000000000000000000000e7e1'
  const before = await provider.getBalance(to)
  const tx = await wallet.sendTransaction({ to, value: ethers.parseEther('2') })
  const receipt = await tx.wait(1, 30_000)
  assert.equal(receipt.status, 1)
  assert.equal(receipt.gasUsed, 21000n)
  assert.equal(await provider.getBalance(to), before + ethers.parseEther('2'))
  const fetched = await provider.getTransaction(tx.hash)
  assert.equal(fetched.blockNumber, receipt.blockNumber)
  const block = await provider.getBlock(receipt.blockNumber, true)
  assert.ok(block.prefetchedTransactions.some((t) => t.hash === tx.hash))
  transferBlock = receipt.blockNumber
})

await step('deploy Demo with a ContractFactory, write, read back', async () => {
  const factory = new ethers.ContractFactory(DEMO.abi, DEMO.bytecode, wallet)
  const deployed = await factory.deploy()
  await deployed.waitForDeployment()
  demo = deployed
  assert.ok((await provider.getCode(await demo.getAddress())).length > 2)
  const receipt = await (await demo.store(7, 42)).wait()
  assert.equal(receipt.status, 1)
  assert.equal(await demo.values(7), 42n)
  assert.equal(await demo.total(), 42n)
})

await step('events: queryFilter, a polled filter (contract.on) and a WebSocket subscription', async () => {
  const polled = new Promise((resolve) => {
    demo.once('Stored', (who, key, value, event) => resolve({ who, key, value, event }))
  })
  const wsDemo = new ethers.Contract(await demo.getAddress(), DEMO.abi, wsProvider)
  const pushed = new Promise((resolve) => {
    wsDemo.once('Stored', (who, key, value, event) => resolve({ who, key, value, event }))
  })
  // Let the filter and the subscription reach the node first.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const tx = await demo.store(9, 5)
  const receipt = await tx.wait()
  const logs = await demo.queryFilter(demo.filters.Stored(wallet.address, 9), 0)
  assert.equal(logs.length, 1)
  assert.equal(logs[0].args.value, 5n)
  assert.equal(logs[0].transactionHash, tx.hash)
  assert.equal(logs[0].blockNumber, receipt.blockNumber)
  const heard = await within(polled, 'the Stored event through a polled filter')
  assert.equal(heard.key, 9n)
  assert.equal(heard.event.log.transactionHash, tx.hash)
  const pushedEvent = await within(pushed, 'the Stored event over WebSocket')
  assert.equal(pushedEvent.value, 5n)
  assert.equal(pushedEvent.who, wallet.address)
  await demo.removeAllListeners()
  await wsDemo.removeAllListeners()
})

await step('a revert reason, a custom error and a panic, decoded', async () => {
  const reason = await refusal(demo.fail(1))
  assert.equal(reason.code, 'CALL_EXCEPTION')
  assert.equal(reason.reason, 'Demo: failure requested')
  const custom = await refusal(demo.guarded())
  assert.equal(custom.code, 'CALL_EXCEPTION')
  assert.equal(custom.revert.name, 'Unauthorized')
  assert.equal(custom.revert.args[0], wallet.address)
  const panic = await refusal(demo.divide(1, 0))
  assert.equal(panic.revert.name, 'Panic')
  assert.equal(BigInt(panic.revert.args[0]), 0x12n)
  // A transaction that would revert is refused at estimation, with the reason.
  const estimate = await refusal(demo.fail.estimateGas(3))
  assert.equal(estimate.reason, 'Demo: failure requested')
})

await step("geth's refusals become ethers' error codes", async () => {
  const to = '0x000000000000000000000000000000000000e7e2'
  const low = await refusal(wallet.sendTransaction({ to, value: 1n, nonce: 0 }))
  assert.equal(low.code, 'NONCE_EXPIRED', low.message)
  const poor = ethers.Wallet.createRandom(provider)
  const funds = await refusal(poor.sendTransaction({ to, value: ethers.parseEther('1'), gasLimit: 21000n }))
  assert.equal(funds.code, 'INSUFFICIENT_FUNDS', funds.message)
})

await step('fee data and a fee history', async () => {
  const fees = await provider.getFeeData()
  assert.ok(fees.maxFeePerGas > 0n)
  assert.ok(fees.gasPrice > 0n)
  const history = await provider.send('eth_feeHistory', ['0x4', 'latest', [50]])
  assert.equal(history.baseFeePerGas.length, history.gasUsedRatio.length + 1)
})

await step('safe and finalized blocks advance past the transfer', async () => {
  await until('safe past the transfer', async () => (await provider.getBlock('safe')).number >= transferBlock)
  await until('finalized past the transfer', async () => (await provider.getBlock('finalized')).number >= transferBlock)
})

await step('debug_traceCall with the prestateTracer', async () => {
  const address = await demo.getAddress()
  const data = demo.interface.encodeFunctionData('store', [1, 2])
  const trace = await provider.send('debug_traceCall', [{ from: wallet.address, to: address, data }, 'latest', { tracer: 'prestateTracer' }])
  const touched = Object.keys(trace).map((a) => a.toLowerCase())
  assert.ok(touched.includes(address.toLowerCase()))
  assert.ok(touched.includes(wallet.address.toLowerCase()))
})

provider.destroy()
await wsProvider.destroy()
finish('ethers')
