// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title L2Withdrawals
/// @notice Predeployed on the rollup (in its genesis, at `altlayer_l1::L2_WITHDRAWALS`): sending ETH to `withdraw(recipient)` takes it out of circulation on
/// the rollup and records the withdrawal in storage, where the L1 bridge proves it against a
/// final batch's post-state root (`sent` is the mapping at slot 0).
contract L2Withdrawals {
    /// Withdrawals made, by hash: `keccak256(abi.encode(nonce, sender, recipient, amount))`.
    mapping(bytes32 => bool) public sent;
    /// The next withdrawal's number.
    uint256 public nonce;

    event WithdrawalInitiated(
        uint256 indexed nonce, address indexed sender, address indexed recipient, uint256 amount, bytes32 hash
    );

    error NothingToWithdraw();

    /// Withdraws the ETH sent with the call to `recipient` on the L1. The ETH stays in this
    /// contract, where nothing can move it: on the rollup it is gone; on the L1 the bridge pays
    /// it out of the deposits it holds.
    function withdraw(address recipient) external payable returns (bytes32 hash) {
        if (msg.value == 0) revert NothingToWithdraw();
        hash = withdrawalHash(nonce, msg.sender, recipient, msg.value);
        sent[hash] = true;
        emit WithdrawalInitiated(nonce, msg.sender, recipient, msg.value, hash);
        nonce += 1;
    }

    /// What identifies a withdrawal, on the rollup and on the L1.
    function withdrawalHash(uint256 nonce_, address sender, address recipient, uint256 amount)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(nonce_, sender, recipient, amount));
    }
}
