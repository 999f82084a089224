"""web3.py, unchanged, against the altlayer devnet's JSON-RPC."""

import asyncio
import json
import os
import pathlib
import sys
import time
import traceback

from eth_account import Account
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)
from web3.middleware import SignAndSendRawMiddlewareBuilder

RPC_URL = os.environ.get("RPC_URL", "http://127.0.0.1:8545")
WS_URL = RPC_URL.replace("http", "ws", 1)
CHAIN_ID = int(os.environ.get("CHAIN_ID", "1337"))
# anvil's development key #3 (the devnet funds all ten; the JavaScript clients use #1, #2).
KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
DEMO = json.loads((pathlib.Path(__file__).parent / "artifacts" / "Demo.json").read_text())

w3 = Web3(Web3.HTTPProvider(RPC_URL, request_kwargs={"timeout": 30}))
account = Account.from_key(KEY)
w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
w3.eth.default_account = account.address

results = {"passed": 0, "failed": 0}
state = {}


def step(name):
    """Runs the decorated check at once, printing ok/FAIL with its time."""

    def run(body):
        start = time.monotonic()
        try:
            body()
            results["passed"] += 1
            print(f"ok   {name} ({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            results["failed"] += 1
            print(f"FAIL {name}: {traceback.format_exc()}", flush=True)
        return body

    return run


def until(what, probe, seconds=30):
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait(tx_hash):
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)


def refused(call, kind):
    try:
        call()
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


@step("connected, chain id and the funded balance")
def _():
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.eth.get_balance(account.address) > Web3.to_wei(9000, "ether")
    assert w3.eth.block_number >= 0
    assert w3.client_version.startswith("altlayer/")


@step("a transfer signed locally, sent raw, mined with a receipt")
def _():
    to = Web3.to_checksum_address("0x000000000000000000000000000000000000a3a1")
    before = w3.eth.get_balance(to)
    tx = {
        "to": to,
        "value": Web3.to_wei(3, "ether"),
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": CHAIN_ID,
        "gas": 21000,
        "maxPriorityFeePerGas": w3.eth.max_priority_fee,
        "maxFeePerGas": w3.eth.gas_price * 2,
    }
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = wait(tx_hash)
    assert receipt.status == 1
    assert receipt.gasUsed == 21000
    assert w3.eth.get_balance(to) == before + Web3.to_wei(3, "ether")
    fetched = w3.eth.get_transaction(tx_hash)
    assert fetched.blockNumber == receipt.blockNumber
    assert fetched["from"] == account.address
    state["transfer_block"] = receipt.blockNumber
    # The same signed transaction again: geth's words, through web3.py's error.
    try:
        w3.eth.send_raw_transaction(signed.raw_transaction)
        raise AssertionError("a replayed transaction was accepted")
    except Web3RPCError as error:
        assert "nonce too low" in str(error), error


@step("insufficient funds: geth's words in web3.py's RPC error")
def _():
    poor = Account.create()
    tx = {
        "to": account.address,
        "value": Web3.to_wei(1, "ether"),
        "nonce": 0,
        "chainId": CHAIN_ID,
        "gas": 21000,
        "maxPriorityFeePerGas": 1,
        "maxFeePerGas": w3.eth.gas_price * 2,
    }
    try:
        w3.eth.send_raw_transaction(poor.sign_transaction(tx).raw_transaction)
        raise AssertionError("an unfunded transfer was accepted")
    except Web3RPCError as error:
        assert error.rpc_response["error"]["code"] == -32000, error.rpc_response
        assert "insufficient funds for gas * price + value" in str(error), error


@step("deploy Demo, write through the signing middleware, read back")
def _():
    factory = w3.eth.contract(abi=DEMO["abi"], bytecode=DEMO["bytecode"])
    receipt = wait(factory.constructor().transact())
    assert receipt.status == 1
    demo = w3.eth.contract(address=receipt.contractAddress, abi=DEMO["abi"])
    state["demo"] = demo
    assert len(w3.eth.get_code(demo.address)) > 0
    receipt = wait(demo.functions.store(7, 42).transact())
    assert receipt.status == 1
    assert demo.functions.values(7).call() == 42
    assert demo.functions.total().call() == 42


@step("events: get_logs, a filter's new entries, the receipt's decoded logs")
def _():
    demo = state["demo"]
    log_filter = demo.events.Stored.create_filter(from_block="latest")
    receipt = wait(demo.functions.store(9, 5).transact())
    decoded = demo.events.Stored().process_receipt(receipt)
    assert decoded[0].args.key == 9 and decoded[0].args.value == 5
    logs = demo.events.Stored().get_logs(
        from_block=0, argument_filters={"key": 9}
    )
    assert len(logs) == 1
    assert logs[0].args.who == account.address
    assert logs[0].transactionHash == receipt.transactionHash
    entries = log_filter.get_new_entries()
    assert any(e.transactionHash == receipt.transactionHash for e in entries), entries
    assert w3.eth.uninstall_filter(log_filter.filter_id)


async def subscribed(address, act):
    """Subscribes to `address`'s logs and to new heads over WebSocket, runs `act` (which
    makes a log), and returns the first log and head pushed."""
    async with AsyncWeb3(WebSocketProvider(WS_URL)) as aw3:
        logs_id = await aw3.eth.subscribe("logs", {"address": address})
        heads_id = await aw3.eth.subscribe("newHeads")
        pushed = {}

        async def listen():
            async for message in aw3.socket.process_subscriptions():
                kind = "log" if message["subscription"] == logs_id else "head"
                assert message["subscription"] in (logs_id, heads_id), message
                pushed.setdefault(kind, message["result"])
                if len(pushed) == 2:
                    return

        listener = asyncio.create_task(listen())
        receipt = await asyncio.to_thread(act)
        await asyncio.wait_for(listener, 30)
        assert await aw3.eth.unsubscribe(logs_id)
        assert await aw3.eth.unsubscribe(heads_id)
        return receipt, pushed


@step("events over WebSocket: eth_subscribe logs and newHeads")
def _():
    demo = state["demo"]
    receipt, pushed = asyncio.run(
        subscribed(demo.address, lambda: wait(demo.functions.store(13, 8).transact()))
    )
    log = pushed["log"]
    assert log["transactionHash"] == receipt.transactionHash, log
    assert demo.events.Stored().process_log(log).args.key == 13
    assert pushed["head"]["number"] > 0


@step("a revert reason, a custom error and a panic, decoded")
def _():
    demo = state["demo"]
    error = refused(lambda: demo.functions.fail(1).call(), ContractLogicError)
    assert "Demo: failure requested" in str(error), error
    custom = refused(lambda: demo.functions.guarded().call(), ContractCustomError)
    selector = Web3.keccak(text="Unauthorized(address)")[:4].hex()
    assert selector in str(custom.data), custom.data
    panic = refused(lambda: demo.functions.divide(1, 0).call(), ContractPanicError)
    assert "Panic error 0x12" in str(panic), panic
    estimate = refused(lambda: demo.functions.fail(2).estimate_gas(), ContractLogicError)
    assert "Demo: failure requested" in str(estimate), estimate


@step("fees: max priority fee, fee history over pending (web3.py's fallback)")
def _():
    assert w3.eth.max_priority_fee >= 0
    history = w3.eth.fee_history(4, "pending", [5.0, 50.0])
    assert len(history.baseFeePerGas) == len(history.gasUsedRatio) + 1
    assert all(len(r) == 2 for r in history.reward)


@step("safe and finalized blocks advance past the transfer; blocks are valid for web3.py")
def _():
    transfer = state["transfer_block"]
    until("safe", lambda: w3.eth.get_block("safe").number >= transfer)
    until("finalized", lambda: w3.eth.get_block("finalized").number >= transfer)
    block = w3.eth.get_block(transfer, full_transactions=True)
    assert len(block.extraData) <= 32
    assert block.number == transfer


print(f"web3.py: {results['passed']} passed, {results['failed']} failed", flush=True)
sys.exit(0 if results["failed"] == 0 else 1)
