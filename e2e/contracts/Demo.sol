// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// What the end-to-end tests deploy: storage written and read back, an event with indexed
/// topics, a revert with a reason string, a custom error and a panic.
contract Demo {
    /// A value was stored.
    event Stored(address indexed who, uint256 indexed key, uint256 value);

    /// The caller may not do this.
    error Unauthorized(address who);

    mapping(uint256 => uint256) public values;
    uint256 public total;

    /// Stores `value` under `key` and says so.
    function store(uint256 key, uint256 value) external {
        values[key] = value;
        total += value;
        emit Stored(msg.sender, key, value);
    }

    /// Reverts with a reason string unless `code` is zero.
    function fail(uint256 code) external pure returns (uint256) {
        require(code == 0, "Demo: failure requested");
        return code;
    }

    /// Always reverts with the custom error `Unauthorized(msg.sender)`.
    function guarded() external view {
        revert Unauthorized(msg.sender);
    }

    /// Divides: a zero divisor panics (0x12).
    function divide(uint256 a, uint256 b) external pure returns (uint256) {
        return a / b;
    }
}
