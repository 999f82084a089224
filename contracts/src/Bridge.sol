// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {RollupSettlement} from "./RollupSettlement.sol";
import {MachServiceManager} from "./MachServiceManager.sol";
import {StateProofs} from "./MerkleTrie.sol";

/// @title Bridge
/// @notice The rollup's ETH bridge. Deposits: ETH sent here is locked and numbered; the
/// rollup's sequencer credits each deposit on the rollup once and in order (the deposit log is
/// the only authority: `deposits(n)` is the hash chain up to deposit `n`, which the rollup's
/// blocks record). Withdrawals: made on the rollup through the `L2Withdrawals` predeploy,
/// which records them in its storage; proven here with `eth_getProof`-style account and
/// storage proofs against the post-state root of a final batch; each paid once.
/// @dev While MACH has an active alert, withdrawals wait: a confirmed alert says a block may be
/// wrong before the challenge game has said so.
contract Bridge {
    struct Withdrawal {
        uint256 nonce;
        address sender;
        address recipient;
        uint256 amount;
    }

    RollupSettlement public immutable settlement;
    MachServiceManager public immutable mach;
    /// The `L2Withdrawals` predeploy's address on the rollup.
    address public immutable l2Withdrawals;

    /// Deposits made so far: the next deposit's number.
    uint256 public depositCount;
    /// The hash chain of deposits: `chain[n] = keccak256(abi.encode(chain[n-1], n, from, to,
    /// amount))`, `chain[-1] = 0`.
    mapping(uint256 nonce => bytes32) public deposits;
    /// Withdrawals paid, by hash.
    mapping(bytes32 => bool) public claimed;

    event Deposited(uint256 indexed nonce, address indexed from, address indexed to, uint256 amount, bytes32 chain);
    event WithdrawalFinalized(bytes32 indexed hash, uint64 indexed batch, address indexed recipient, uint256 amount);

    error NothingToDeposit();
    error NotFinal(uint64 batch);
    error AlertsActive();
    error AlreadyClaimed(bytes32 hash);
    error NotWithdrawn(bytes32 hash);
    error TransferFailed();

    constructor(RollupSettlement settlement_, MachServiceManager mach_, address l2Withdrawals_) {
        settlement = settlement_;
        mach = mach_;
        l2Withdrawals = l2Withdrawals_;
    }

    /// Deposits the ETH sent to `to` on the rollup.
    function deposit(address to) external payable returns (uint256 nonce) {
        if (msg.value == 0) revert NothingToDeposit();
        nonce = depositCount;
        bytes32 previous = nonce == 0 ? bytes32(0) : deposits[nonce - 1];
        bytes32 chain = keccak256(abi.encode(previous, nonce, msg.sender, to, msg.value));
        deposits[nonce] = chain;
        depositCount = nonce + 1;
        emit Deposited(nonce, msg.sender, to, msg.value, chain);
    }

    /// Pays withdrawal `w` to its recipient, once: `accountProof` proves the `L2Withdrawals`
    /// account and `storageProof` its `sent[hash]` slot against the post-state root of final
    /// batch `batchIndex`.
    function finalizeWithdrawal(
        uint64 batchIndex,
        Withdrawal calldata w,
        bytes[] calldata accountProof,
        bytes[] calldata storageProof
    ) external {
        if (address(mach) != address(0) && mach.hasActiveAlerts()) revert AlertsActive();
        if (!settlement.isFinal(batchIndex)) revert NotFinal(batchIndex);
        bytes32 hash = keccak256(abi.encode(w.nonce, w.sender, w.recipient, w.amount));
        if (claimed[hash]) revert AlreadyClaimed(hash);
        bytes32 root = settlement.finalStateRoot(batchIndex);
        // `sent` is the mapping at slot 0 of L2Withdrawals.
        bytes32 slot = keccak256(abi.encode(hash, uint256(0)));
        if (StateProofs.storageAt(root, l2Withdrawals, slot, accountProof, storageProof) != 1) {
            revert NotWithdrawn(hash);
        }
        claimed[hash] = true;
        emit WithdrawalFinalized(hash, batchIndex, w.recipient, w.amount);
        (bool ok,) = w.recipient.call{value: w.amount}("");
        if (!ok) revert TransferFailed();
    }
}
