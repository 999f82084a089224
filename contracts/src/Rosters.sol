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

/// One service's (0 SQUAD, 1 VITAL, 2 MACH) operator set at one epoch (the rollup height of its
/// stake snapshot), as certificates use it: the Merkle root of its operators (in strictly
/// increasing address order), their number, the aggregate of their keys, their total stake and
/// the stake of those without a key. The contract keeps its hash; callers pass it.
struct Roster {
    uint64 epoch;
    uint8 service;
    uint32 operators;
    bytes32 operatorsRoot;
    BN254.G1Point apk;
    uint256 totalStake;
    uint256 keylessStake;
}

/// A quorum certificate: the operators listed (the non-signers, or when fewer signed, the
/// signers: `signersListed`), in increasing address order, with a Merkle multiproof that they
/// are the roster's; `apkG2` is the signers' aggregate key in G2 and `sigma` their aggregate
/// signature. Nothing about the operators not listed is sent: when all sign, a certificate of
/// a thousand operators is as small as one of ten.
struct Certificate {
    bool signersListed;
    Operator[] listed;
    bytes32[] proof;
    bool[] proofFlags;
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
    error UnknownRoster(uint8 service, uint64 epoch);
    error RosterTooRecent(uint64 epoch);
    error NotInRoster();
    error NoSigners();
    error OperatorWithoutKey(address operator);
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

    /// Sets the first epoch's rosters (the operators of each service, in service order); once,
    /// by the deployer. Not in the constructor: a thousand operators are more than creation
    /// code may hold (EIP-3860).
    function initialize(uint64 epoch, Operator[][] calldata operators) external returns (Roster[] memory accepted) {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (acceptedAt[currentEpoch] != 0) revert AlreadyInitialized();
        accepted = _acceptAll(epoch, operators);
        currentEpoch = epoch;
        acceptedAt[epoch] = block.number;
    }

    /// Accepts the next epoch's rosters (the operators of each service, in service order, at an
    /// epoch above the current) with a certificate of the current MACH set over their hashes.
    function advanceEpoch(
        uint64 epoch,
        Operator[][] calldata operators,
        Roster calldata currentMach,
        Certificate calldata certificate
    ) external returns (Roster[] memory accepted) {
        if (acceptedAt[currentEpoch] == 0) revert UnknownRoster(MACH, currentEpoch);
        if (epoch <= currentEpoch) revert WrongEpoch(epoch, currentEpoch);
        if (currentMach.service != MACH) revert WrongService(MACH, currentMach.service);
        if (currentMach.epoch != currentEpoch) revert WrongEpoch(currentMach.epoch, currentEpoch);
        accepted = _acceptAll(epoch, operators);
        bytes32[3] memory hashes = [hashRoster(accepted[0]), hashRoster(accepted[1]), hashRoster(accepted[2])];
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

    /// A roster's Merkle leaf for an operator: `keccak256(keccak256(abi.encode(operator)))`
    /// (hashed twice, so no inner node of the tree is also a leaf).
    function leaf(Operator calldata op) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(op.operator, op.stake, op.key.X, op.key.Y))));
    }

    /// Checks `certificate` on `digest` against `roster`, an accepted roster of an epoch
    /// accepted before this L1 block: the listed operators are the roster's (the multiproof),
    /// distinct, and keyed where they must sign; the signers hold at least `percent` % of the
    /// stake (inclusive: `signed * 100 >= total * percent`); the aggregate signature verifies
    /// under the signers' aggregate key (all minus the non-signers', or the listed signers').
    /// Returns the signed stake; reverts with the reason otherwise.
    function checkCertificate(Roster calldata roster, bytes32 digest, Certificate calldata certificate, uint8 percent)
        public
        view
        returns (uint256 signed)
    {
        if (percent == 0 || percent > 100) revert InvalidThreshold(percent);
        if (rosterHash[roster.service][roster.epoch] != keccak256(abi.encode(roster))) {
            revert UnknownRoster(roster.service, roster.epoch);
        }
        if (acceptedAt[roster.epoch] >= block.number) revert RosterTooRecent(roster.epoch);
        Operator[] calldata listed = certificate.listed;
        bytes32[] memory leaves = new bytes32[](listed.length);
        uint256 listedStake;
        BN254.G1Point memory listedKeys;
        address previous;
        for (uint256 i = 0; i < listed.length; i++) {
            Operator calldata op = listed[i];
            // Increasing addresses: nobody is listed twice.
            if (i > 0 && op.operator <= previous) revert UnsortedOperators(i);
            previous = op.operator;
            if (op.key.X == 0 && op.key.Y == 0) revert OperatorWithoutKey(op.operator);
            leaves[i] = leaf(op);
            listedStake += op.stake;
            listedKeys = BN254.plus(listedKeys, op.key);
        }
        if (listed.length > 0 || roster.operators > 0) {
            if (_multiProofRoot(certificate.proof, certificate.proofFlags, leaves) != roster.operatorsRoot) {
                revert NotInRoster();
            }
        }
        BN254.G1Point memory apk;
        if (certificate.signersListed) {
            signed = listedStake;
            apk = listedKeys;
        } else {
            // Keyless operators cannot sign: their stake never counts.
            signed = roster.totalStake - roster.keylessStake - listedStake;
            apk = BN254.plus(roster.apk, BN254.negate(listedKeys));
        }
        if (signed == 0) revert NoSigners();
        if (signed * 100 < roster.totalStake * percent) revert BelowThreshold(signed, roster.totalStake, percent);
        (bool ok, bool valid) = BN254.verifySignatureAndApk(digest, apk, certificate.apkG2, certificate.sigma);
        if (!ok) revert PairingFailed();
        if (!valid) revert BadSignature();
    }

    /// The three rosters of `epoch`, accepted.
    function _acceptAll(uint64 epoch, Operator[][] calldata operators) private returns (Roster[] memory accepted) {
        if (operators.length != SERVICES) revert RosterCount(operators.length);
        accepted = new Roster[](SERVICES);
        for (uint256 i = 0; i < SERVICES; i++) {
            accepted[i] = _accept(epoch, uint8(i), operators[i]);
        }
    }

    /// Records the roster of `operators` as `service`'s at `epoch`, computing what certificates
    /// will trust: operators sorted and unique, the Merkle root, the total and keyless stakes
    /// and the aggregate key (every key is checked on the curve by the addition precompile).
    function _accept(uint64 epoch, uint8 service, Operator[] calldata operators)
        private
        returns (Roster memory roster)
    {
        uint256 n = operators.length;
        // The tree as an array: leaf i at `2n - 2 - i`, the children of node j at 2j+1, 2j+2.
        bytes32[] memory tree = new bytes32[](n == 0 ? 0 : 2 * n - 1);
        address previous;
        for (uint256 i = 0; i < n; i++) {
            Operator calldata op = operators[i];
            if (i > 0 && op.operator <= previous) revert UnsortedOperators(i);
            previous = op.operator;
            roster.totalStake += op.stake;
            if (op.key.X == 0 && op.key.Y == 0) {
                roster.keylessStake += op.stake;
            } else {
                roster.apk = BN254.plus(roster.apk, op.key);
            }
            tree[2 * n - 2 - i] = leaf(op);
        }
        for (uint256 j = n; j > 1; j--) {
            uint256 node = j - 2;
            tree[node] = _hashPair(tree[2 * node + 1], tree[2 * node + 2]);
        }
        roster.epoch = epoch;
        roster.service = service;
        roster.operators = uint32(n);
        roster.operatorsRoot = n == 0 ? bytes32(0) : tree[0];
        bytes32 hash = hashRoster(roster);
        rosterHash[service][epoch] = hash;
        emit RosterAccepted(epoch, service, hash, n, roster.totalStake);
    }

    /// The root a multiproof gives (OpenZeppelin's `processMultiProof`, commutative pairs): the
    /// leaves in the order of their tree positions, highest first.
    function _multiProofRoot(bytes32[] calldata proof, bool[] calldata flags, bytes32[] memory leaves)
        private
        pure
        returns (bytes32)
    {
        uint256 leavesLen = leaves.length;
        uint256 flagsLen = flags.length;
        if (leavesLen + proof.length != flagsLen + 1) revert NotInRoster();
        bytes32[] memory hashes = new bytes32[](flagsLen);
        uint256 leafPos;
        uint256 hashPos;
        uint256 proofPos;
        for (uint256 i = 0; i < flagsLen; i++) {
            bytes32 a = leafPos < leavesLen ? leaves[leafPos++] : hashes[hashPos++];
            bytes32 b;
            if (flags[i]) {
                b = leafPos < leavesLen ? leaves[leafPos++] : hashes[hashPos++];
            } else {
                if (proofPos >= proof.length) revert NotInRoster();
                b = proof[proofPos++];
            }
            hashes[i] = _hashPair(a, b);
        }
        if (flagsLen > 0) {
            if (proofPos != proof.length) revert NotInRoster();
            return hashes[flagsLen - 1];
        }
        return leavesLen > 0 ? leaves[0] : proof[0];
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}
