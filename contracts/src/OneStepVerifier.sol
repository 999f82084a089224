// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {Rosters, Roster, Certificate} from "./Rosters.sol";

/// @title IOneStepVerifier
/// @notice Decides the last step of a dispute game: what step `step` (0-based) of batch
/// `batchIndex`, committed with the batch commitment `commitment`, leads to from the agreed root
/// `preRoot`. `valid` is false when the step cannot execute at all (an invalid transaction or
/// header): then no claimed root is right. A ZK verifier of the rollup's state transition
/// could implement it; `VitalStepVerifier` takes the VITAL operators' certified verdict.
interface IOneStepVerifier {
    function verifyStep(uint64 batchIndex, bytes32 commitment, uint64 step, bytes32 preRoot, bytes calldata proof)
        external
        view
        returns (bool valid, bytes32 postRoot);
}

/// @title VitalStepVerifier
/// @notice A one-step verifier that takes the verdict of the VITAL set: the VITAL operators
/// re-execute the step off chain (the Rust one-step proof over a Merkle witness) and certify
/// `(valid, postRoot)` with a stake-weighted BLS certificate of the current epoch's VITAL roster.
/// A ZK proof of the step could replace it behind `IOneStepVerifier` without the trust in
/// the VITAL set's stake.
/// @dev The proof is `abi.encode(bool valid, bytes32 postRoot, Roster roster, Certificate
/// certificate)`; the digest signed is the Rust `signing_digest` of domain
/// `altlayer/vital/step` over `keccak256(batchIndex || commitment || step || preRoot ||
/// valid || postRoot)` (integers big-endian, `valid` one byte).
contract VitalStepVerifier is IOneStepVerifier {
    Rosters public immutable rosters;
    /// Percentage of the VITAL stake a verdict needs (inclusive).
    uint8 public immutable thresholdPercent;

    error InvalidThreshold(uint8 percent);
    error NotVital(uint8 service);
    error NotCurrentEpoch(uint64 epoch, uint64 current);

    constructor(Rosters rosters_, uint8 thresholdPercent_) {
        if (thresholdPercent_ == 0 || thresholdPercent_ > 100) revert InvalidThreshold(thresholdPercent_);
        rosters = rosters_;
        thresholdPercent = thresholdPercent_;
    }

    function verifyStep(uint64 batchIndex, bytes32 commitment, uint64 step, bytes32 preRoot, bytes calldata proof)
        external
        view
        returns (bool valid, bytes32 postRoot)
    {
        Roster memory roster;
        Certificate memory certificate;
        (valid, postRoot, roster, certificate) = abi.decode(proof, (bool, bytes32, Roster, Certificate));
        if (roster.service != rosters.VITAL()) revert NotVital(roster.service);
        uint64 current = rosters.currentEpoch();
        if (roster.epoch != current) revert NotCurrentEpoch(roster.epoch, current);
        rosters.checkCertificate(
            roster, verdictDigest(batchIndex, commitment, step, preRoot, valid, postRoot), certificate, thresholdPercent
        );
    }

    /// The digest the VITAL set signs for a step's verdict.
    function verdictDigest(
        uint64 batchIndex,
        bytes32 commitment,
        uint64 step,
        bytes32 preRoot,
        bool valid,
        bytes32 postRoot
    ) public view returns (bytes32) {
        return rosters.signingDigest(
            "altlayer/vital/step",
            keccak256(abi.encodePacked(batchIndex, commitment, step, preRoot, valid, postRoot))
        );
    }
}
