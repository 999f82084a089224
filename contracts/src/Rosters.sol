// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BN254} from "./BN254.sol";

/// One operator of a roster: its address, its stake at the roster's epoch and its BLS key in
/// G1 (`(0, 0)`: it registered none, so it counts in the total stake and can never sign).
struct Operator {
    address operator;
    uint256 stake;
    BN254.G1Point key;
}

/// The operators of one service (0 SQUAD, 1 VITAL, 2 MACH) at one epoch (the rollup height of
/// the stake snapshot), in strictly increasing address order, with the aggregate of their keys
/// and their total stake. The contract keeps its hash only; callers pass it in calldata.
struct Roster {
    uint64 epoch;
    uint8 service;
    Operator[] operators;
    BN254.G1Point apk;
    uint256 totalStake;
}

/// A quorum certificate: bit `i` of `signers` (byte `i / 8`, bit `i % 8` from the least
/// significant) marks operator `i` of the roster; `apkG2` is the sum of the signers' keys in
/// G2 and `sigma` the sum of their signatures. The Rust `QuorumCertificate` in this form.
struct Certificate {
    bytes signers;
    BN254.G2Point apkG2;
    BN254.G1Point sigma;
}

/// @title Rosters
/// @notice The rollup's operator sets, epoch by epoch, and the check of their BLS quorum
/// certificates with the EVM's BN254 precompiles, as EigenLayer's `BLSSignatureChecker` does.
/// The first rosters are set by the deployer (`initialize`); each next epoch's are accepted only with a
/// certificate of the current MACH set over their hashes (a handoff, as light clients follow a
/// validator set), so the L1 learns the stake the rollup's ALT ledger holds without a second
/// staking implementation.
/// @dev Every digest signed is the Rust `signing_digest`: `keccak256(tag || 0x00 || 0x01 ||
/// chainId || rollupId || payload)` with integers big-endian, so a certificate for another
/// chain or rollup never verifies. A roster accepted in this L1 block signs nothing until
/// the next (a certificate's stake is read strictly in the past, as MACH's audit asked).
contract Rosters {
    uint8 public constant SQUAD = 0;
    uint8 public constant VITAL = 1;
    uint8 public constant MACH = 2;
    uint8 public constant SERVICES = 3;

    /// The rollup's chain id and rollup id, as every signed digest binds them.
    uint64 public immutable chainId;
    uint64 public immutable rollupId;
    /// The percentage of the current MACH stake that must sign a handoff (inclusive).
    uint8 public immutable handoffThreshold;

    /// The latest accepted epoch.
    uint64 public currentEpoch;
    /// Hash of each service's roster at each accepted epoch.
    mapping(uint8 service => mapping(uint64 epoch => bytes32)) public rosterHash;
    /// The L1 block in which an epoch was accepted.
    mapping(uint64 epoch => uint256) public acceptedAt;

    event RosterAccepted(
        uint64 indexed epoch, uint8 indexed service, bytes32 hash, uint256 operators, uint256 totalStake
    );
    event EpochAdvanced(uint64 indexed from, uint64 indexed to, uint256 signedStake);

    error InvalidThreshold(uint8 percent);
    error NotDeployer(address caller);
    error AlreadyInitialized();
    error RosterCount(uint256 given);
    error WrongService(uint256 position, uint8 service);
    error WrongEpoch(uint64 epoch, uint64 current);
    error UnsortedOperators(uint256 position);
    error TotalStakeMismatch(uint256 given, uint256 computed);
    error ApkMismatch();
    error UnknownRoster(uint8 service, uint64 epoch);
    error RosterTooRecent(uint64 epoch);
    error BitmapLength(uint256 expected, uint256 given);
    error BitOutOfRange();
    error NoSigners();
    error SignerWithoutKey(address operator);
    error BelowThreshold(uint256 signed, uint256 total, uint8 percent);
    error PairingFailed();
    error BadSignature();

    /// Who deployed the contract: it sets the first rosters, once.
    address public immutable deployer;

    constructor(uint64 chainId_, uint64 rollupId_, uint8 handoffThreshold_) {
        if (handoffThreshold_ == 0 || handoffThreshold_ > 100) revert InvalidThreshold(handoffThreshold_);
        chainId = chainId_;
        rollupId = rollupId_;
        handoffThreshold = handoffThreshold_;
        deployer = msg.sender;
    }

    /// Sets the first epoch's rosters (one per service, in service order); once, by the
    /// deployer. Not in the constructor: a roster of a thousand operators is larger than the
    /// creation code may be (EIP-3860).
    function initialize(Roster[] calldata initial) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (acceptedAt[currentEpoch] != 0) revert AlreadyInitialized();
        if (initial.length != SERVICES) revert RosterCount(initial.length);
        for (uint256 i = 0; i < SERVICES; i++) {
            _accept(initial[i], i, initial[0].epoch);
        }
        currentEpoch = initial[0].epoch;
        acceptedAt[currentEpoch] = block.number;
    }

    /// Accepts the next epoch's rosters (one per service, in service order, one epoch above
    /// the current) with a certificate of the current MACH set over their hashes.
    function advanceEpoch(Roster[] calldata next, Roster calldata currentMach, Certificate calldata certificate)
        external
    {
        if (acceptedAt[currentEpoch] == 0) revert UnknownRoster(MACH, currentEpoch);
        if (next.length != SERVICES) revert RosterCount(next.length);
        uint64 epoch = next[0].epoch;
        if (epoch <= currentEpoch) revert WrongEpoch(epoch, currentEpoch);
        if (currentMach.service != MACH) revert WrongService(0, currentMach.service);
        if (currentMach.epoch != currentEpoch) revert WrongEpoch(currentMach.epoch, currentEpoch);
        bytes32[3] memory hashes;
        for (uint256 i = 0; i < SERVICES; i++) {
            hashes[i] = _accept(next[i], i, epoch);
        }
        uint256 signed = checkCertificate(currentMach, handoffDigest(epoch, hashes), certificate, handoffThreshold);
        emit EpochAdvanced(currentEpoch, epoch, signed);
        currentEpoch = epoch;
        acceptedAt[epoch] = block.number;
    }

    /// The digest the current MACH set signs to hand over to `epoch`'s rosters.
    function handoffDigest(uint64 epoch, bytes32[3] memory hashes) public view returns (bytes32) {
        return signingDigest("altlayer/l1/roster", keccak256(abi.encodePacked(epoch, hashes[0], hashes[1], hashes[2])));
    }

    /// The Rust `signing_digest` of this rollup: domain `tag`, version 1, chain id, rollup id.
    function signingDigest(bytes memory tag, bytes32 payload) public view returns (bytes32) {
        return keccak256(abi.encodePacked(tag, uint8(0), uint8(1), chainId, rollupId, payload));
    }

    /// What the contract keeps of a roster: `keccak256(abi.encode(roster))`.
    function hashRoster(Roster memory roster) public pure returns (bytes32) {
        return keccak256(abi.encode(roster));
    }

    /// Checks `certificate` on `digest` against `roster`, an accepted roster of an epoch
    /// accepted before this L1 block: the bitmap fits the roster, the signers hold at least
    /// `percent` % of its stake (inclusive: `signed * 100 >= total * percent`), and the
    /// aggregate signature verifies under the signers' aggregate key. Returns the signed stake;
    /// reverts with the reason otherwise.
    function checkCertificate(Roster calldata roster, bytes32 digest, Certificate calldata certificate, uint8 percent)
        public
        view
        returns (uint256 signed)
    {
        if (percent == 0 || percent > 100) revert InvalidThreshold(percent);
        bytes32 hash = keccak256(abi.encode(roster));
        if (rosterHash[roster.service][roster.epoch] != hash) revert UnknownRoster(roster.service, roster.epoch);
        if (acceptedAt[roster.epoch] >= block.number) revert RosterTooRecent(roster.epoch);
        uint256 n = roster.operators.length;
        bytes calldata bits = certificate.signers;
        if (bits.length != (n + 7) / 8) revert BitmapLength((n + 7) / 8, bits.length);
        if (n % 8 != 0 && uint8(bits[bits.length - 1]) >> (n % 8) != 0) revert BitOutOfRange();
        uint256 count;
        for (uint256 i = 0; i < n; i++) {
            if (uint8(bits[i >> 3]) & (1 << (i & 7)) != 0) {
                Operator calldata op = roster.operators[i];
                if (op.key.X == 0 && op.key.Y == 0) revert SignerWithoutKey(op.operator);
                signed += op.stake;
                count++;
            }
        }
        if (count == 0) revert NoSigners();
        if (signed * 100 < roster.totalStake * percent) revert BelowThreshold(signed, roster.totalStake, percent);
        // The signers' key from whichever is fewer: the signers, or all minus the non-signers.
        BN254.G1Point memory apk;
        if (count * 2 >= n) {
            apk = roster.apk;
            for (uint256 i = 0; i < n; i++) {
                if (uint8(bits[i >> 3]) & (1 << (i & 7)) == 0) {
                    BN254.G1Point memory key = roster.operators[i].key;
                    if (key.X != 0 || key.Y != 0) {
                        apk = BN254.plus(apk, BN254.negate(key));
                    }
                }
            }
        } else {
            for (uint256 i = 0; i < n; i++) {
                if (uint8(bits[i >> 3]) & (1 << (i & 7)) != 0) {
                    apk = BN254.plus(apk, roster.operators[i].key);
                }
            }
        }
        (bool ok, bool valid) = BN254.verifySignatureAndApk(digest, apk, certificate.apkG2, certificate.sigma);
        if (!ok) revert PairingFailed();
        if (!valid) revert BadSignature();
    }

    /// Records `roster` as service `service`'s at `epoch` after checking what certificates
    /// will trust: operators sorted and unique, the total and the aggregate key (every key is
    /// checked on the curve by the addition precompile).
    function _accept(Roster memory roster, uint256 service, uint64 epoch) private returns (bytes32 hash) {
        if (roster.service != service) revert WrongService(service, roster.service);
        if (roster.epoch != epoch) revert WrongEpoch(roster.epoch, epoch);
        uint256 total;
        BN254.G1Point memory apk;
        address previous;
        for (uint256 i = 0; i < roster.operators.length; i++) {
            Operator memory op = roster.operators[i];
            if (i > 0 && op.operator <= previous) revert UnsortedOperators(i);
            previous = op.operator;
            total += op.stake;
            if (op.key.X != 0 || op.key.Y != 0) {
                apk = BN254.plus(apk, op.key);
            }
        }
        if (total != roster.totalStake) revert TotalStakeMismatch(roster.totalStake, total);
        if (apk.X != roster.apk.X || apk.Y != roster.apk.Y) revert ApkMismatch();
        hash = keccak256(abi.encode(roster));
        rosterHash[roster.service][epoch] = hash;
        emit RosterAccepted(epoch, roster.service, hash, roster.operators.length, total);
    }
}
