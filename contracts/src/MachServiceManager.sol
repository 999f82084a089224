// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {Rosters, Roster, Certificate} from "./Rosters.sol";

/// An alert that re-execution disagrees with block `blockHash` at `height`, as the Rust
/// `mach::Alert` signs it: `kind` 1 is a state-root mismatch (`invalid` the block's root,
/// `expected` re-execution's), 2 a block-hash mismatch; `snapshotHeight` is the MACH roster's
/// epoch.
struct Alert {
    uint64 height;
    bytes32 blockHash;
    uint8 kind;
    bytes32 invalid;
    bytes32 expected;
    uint64 snapshotHeight;
}

/// @title MachServiceManager
/// @notice MACH on the L1: blocks made fast-final by a certificate of the MACH operators, and
/// alerts confirmed by one, which dApps and bridges query. The checks of AltLayer's
/// `MachServiceManager` with its audit fixes: the bitmap's length is checked against the
/// roster, the stake is read at an epoch accepted strictly before this L1 block, and a
/// threshold above 100 % is refused.
/// @dev A vote's digest is the Rust `FinalityVote::digest` (domain `altlayer/mach/vote`, the
/// epoch as its round), an alert's the Rust `Alert::digest`: the certificates the Rust MACH
/// operators aggregate verify here unchanged.
contract MachServiceManager {
    struct FastFinal {
        bytes32 blockHash;
        bytes32 stateRoot;
        uint64 epoch;
    }

    Rosters public immutable rosters;
    /// Percentage of the MACH stake a certificate needs (inclusive), 66 by default.
    uint8 public immutable thresholdPercent;
    /// Who deployed the contract: it names the resolver once.
    address public immutable deployer;
    /// Who may resolve alerts (the settlement contract, when it reverts the alerted batch).
    address public resolver;

    /// Fast-final blocks by height.
    mapping(uint64 height => FastFinal) private _fastFinal;
    /// The highest fast-final height.
    uint64 public latestFastFinalHeight;
    /// Every confirmed alert's digest, in confirmation order.
    bytes32[] private _alerts;
    /// Confirmed alerts: digest => its block hash (zero: none).
    mapping(bytes32 digest => bytes32 blockHash) public alertBlock;
    /// Alerted block hashes: such a block is never fast-final.
    mapping(bytes32 blockHash => bool) public alerted;
    /// Whether a confirmed alert is still active (not resolved).
    mapping(bytes32 digest => bool) public active;
    /// How many confirmed alerts are active.
    uint256 public activeAlerts;

    event FastFinalityConfirmed(
        uint64 indexed height, bytes32 indexed blockHash, bytes32 stateRoot, uint64 epoch, uint256 signedStake
    );
    event AlertConfirmed(
        bytes32 indexed digest,
        uint64 indexed height,
        bytes32 indexed blockHash,
        uint8 kind,
        bytes32 invalid,
        bytes32 expected,
        uint256 signedStake
    );
    event AlertResolved(bytes32 indexed digest);
    event ResolverSet(address resolver);

    error InvalidThreshold(uint8 percent);
    error NotMach(uint8 service);
    error NotCurrentEpoch(uint64 epoch, uint64 current);
    error WrongSnapshot(uint64 snapshotHeight, uint64 epoch);
    error InvalidAlertKind(uint8 kind);
    error AlreadyConfirmed(bytes32 digest);
    error ConflictingFinality(uint64 height, bytes32 existing);
    error BlockAlerted(bytes32 blockHash);
    error UnknownAlert(bytes32 digest);
    error Unauthorized(address caller);
    error ResolverAlreadySet();

    constructor(Rosters rosters_, uint8 thresholdPercent_) {
        if (thresholdPercent_ == 0 || thresholdPercent_ > 100) revert InvalidThreshold(thresholdPercent_);
        rosters = rosters_;
        thresholdPercent = thresholdPercent_;
        deployer = msg.sender;
    }

    /// Names the contract that may resolve alerts; once, by the deployer.
    function setResolver(address resolver_) external {
        if (msg.sender != deployer) revert Unauthorized(msg.sender);
        if (resolver != address(0)) revert ResolverAlreadySet();
        resolver = resolver_;
        emit ResolverSet(resolver_);
    }

    /// Makes block `blockHash` at `height`, with post-state root `stateRoot`, fast-final with
    /// a certificate of the current epoch's MACH set over its finality vote.
    function confirmFastFinality(
        uint64 height,
        bytes32 blockHash,
        bytes32 stateRoot,
        Roster calldata roster,
        Certificate calldata certificate
    ) external {
        _currentMach(roster);
        if (alerted[blockHash]) revert BlockAlerted(blockHash);
        FastFinal storage existing = _fastFinal[height];
        if (existing.blockHash != bytes32(0)) {
            if (existing.blockHash != blockHash || existing.stateRoot != stateRoot) {
                revert ConflictingFinality(height, existing.blockHash);
            }
            revert AlreadyConfirmed(blockHash);
        }
        uint256 signed = rosters.checkCertificate(
            roster, voteDigest(height, blockHash, stateRoot, roster.epoch), certificate, thresholdPercent
        );
        _fastFinal[height] = FastFinal(blockHash, stateRoot, roster.epoch);
        if (height > latestFastFinalHeight) latestFastFinalHeight = height;
        emit FastFinalityConfirmed(height, blockHash, stateRoot, roster.epoch, signed);
    }

    /// Confirms `alert` with a certificate of the current epoch's MACH set over it: the block
    /// is never fast-final, and the alert stays active until resolved.
    function confirmAlert(Alert calldata alert, Roster calldata roster, Certificate calldata certificate) external {
        _currentMach(roster);
        if (alert.snapshotHeight != roster.epoch) revert WrongSnapshot(alert.snapshotHeight, roster.epoch);
        if (alert.kind != 1 && alert.kind != 2) revert InvalidAlertKind(alert.kind);
        bytes32 digest = alertDigest(alert);
        if (alertBlock[digest] != bytes32(0)) revert AlreadyConfirmed(digest);
        uint256 signed = rosters.checkCertificate(roster, digest, certificate, thresholdPercent);
        _alerts.push(digest);
        alertBlock[digest] = alert.blockHash;
        alerted[alert.blockHash] = true;
        active[digest] = true;
        activeAlerts += 1;
        emit AlertConfirmed(
            digest, alert.height, alert.blockHash, alert.kind, alert.invalid, alert.expected, signed
        );
    }

    /// Ends an alert (its block was reverted on the L1); by the resolver only.
    function resolveAlert(bytes32 digest) external {
        if (msg.sender != resolver) revert Unauthorized(msg.sender);
        if (!active[digest]) revert UnknownAlert(digest);
        active[digest] = false;
        activeAlerts -= 1;
        emit AlertResolved(digest);
    }

    /// Whether any confirmed alert is still active: a bridge should hold withdrawals then.
    function hasActiveAlerts() external view returns (bool) {
        return activeAlerts > 0;
    }

    /// How many alerts were ever confirmed.
    function totalAlerts() external view returns (uint256) {
        return _alerts.length;
    }

    /// Whether an alert with this digest was confirmed.
    function contains(bytes32 digest) external view returns (bool) {
        return alertBlock[digest] != bytes32(0);
    }

    /// Up to `size` confirmed alerts' digests from position `start`, in confirmation order.
    function queryMessageHashes(uint256 start, uint256 size) external view returns (bytes32[] memory out) {
        uint256 total = _alerts.length;
        if (start >= total) return new bytes32[](0);
        uint256 end = start + size > total ? total : start + size;
        out = new bytes32[](end - start);
        for (uint256 i = start; i < end; i++) {
            out[i - start] = _alerts[i];
        }
    }

    /// The fast-final block at `height` (zero hashes: none).
    function fastFinal(uint64 height) external view returns (bytes32 blockHash, bytes32 stateRoot, uint64 epoch) {
        FastFinal storage f = _fastFinal[height];
        return (f.blockHash, f.stateRoot, f.epoch);
    }

    /// Whether block `blockHash` at `height` is fast-final.
    function isFastFinal(uint64 height, bytes32 blockHash) external view returns (bool) {
        return blockHash != bytes32(0) && _fastFinal[height].blockHash == blockHash;
    }

    /// The Rust `FinalityVote::digest`: `signing_digest(altlayer/mach/vote, keccak(height ||
    /// epoch || keccak(blockHash || stateRoot)))`.
    function voteDigest(uint64 height, bytes32 blockHash, bytes32 stateRoot, uint64 epoch)
        public
        view
        returns (bytes32)
    {
        bytes32 subject = keccak256(abi.encodePacked(blockHash, stateRoot));
        return rosters.signingDigest("altlayer/mach/vote", keccak256(abi.encodePacked(height, epoch, subject)));
    }

    /// The Rust `Alert::digest`: `signing_digest(altlayer/mach/alert, keccak(height ||
    /// snapshotHeight || blockHash || kind || invalid || expected))`.
    function alertDigest(Alert calldata alert) public view returns (bytes32) {
        return rosters.signingDigest(
            "altlayer/mach/alert",
            keccak256(
                abi.encodePacked(
                    alert.height, alert.snapshotHeight, alert.blockHash, alert.kind, alert.invalid, alert.expected
                )
            )
        );
    }

    function _currentMach(Roster calldata roster) private view {
        if (roster.service != rosters.MACH()) revert NotMach(roster.service);
        uint64 current = rosters.currentEpoch();
        if (roster.epoch != current) revert NotCurrentEpoch(roster.epoch, current);
    }
}
