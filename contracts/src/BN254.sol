// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title BN254
/// @notice Points of BN254 (alt_bn128) and the EVM's precompiles over them (EIP-196, EIP-197):
/// the arithmetic EigenLayer's `BN254.sol` provides, with the same encodings and the same
/// try-and-increment hash to G1, so signatures made by the Rust `altlayer_core::bls` module (and
/// by eigensdk) verify here.
/// @dev G2 coordinates are written imaginary part first (`X[0] * i + X[1]`), the order of the
/// pairing precompile's input. Every failed precompile call reverts.
library BN254 {
    /// The base field's modulus p.
    uint256 internal constant FP_MODULUS =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// The order r of G1 and G2 (the scalar field's modulus).
    uint256 internal constant FR_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// `(p + 1) / 4`: p = 3 mod 4, so `beta^((p+1)/4)` is a square root of beta when one exists.
    uint256 internal constant SQRT_EXPONENT =
        0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52;

    // The generator of G2 and its negation (EIP-197).
    uint256 internal constant G2_X1 =
        11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant G2_X0 =
        10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant G2_Y1 =
        4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 internal constant G2_Y0 =
        8495653923123431417604973247489272438418190587263600148770280649306958101930;
    uint256 internal constant NEG_G2_Y1 =
        17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 internal constant NEG_G2_Y0 =
        13392588948715843804641432497768002650278120570034223513918757245338268106653;

    /// Gas given to the pairing check: two pairs cost 113,000 under EIP-1108.
    uint256 internal constant PAIRING_GAS = 120_000;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    /// `X = X[0] * i + X[1]`, `Y = Y[0] * i + Y[1]`.
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    error PrecompileFailed(uint256 precompile);

    function generatorG1() internal pure returns (G1Point memory) {
        return G1Point(1, 2);
    }

    function negGeneratorG2() internal pure returns (G2Point memory) {
        return G2Point([G2_X1, G2_X0], [NEG_G2_Y1, NEG_G2_Y0]);
    }

    /// `-p`; the point at infinity (0, 0) is its own negation.
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) {
            return G1Point(0, 0);
        }
        return G1Point(p.X, FP_MODULUS - (p.Y % FP_MODULUS));
    }

    /// `p1 + p2` through the ecAdd precompile (0x06), which refuses points off the curve.
    function plus(G1Point memory p1, G1Point memory p2) internal view returns (G1Point memory r) {
        uint256[4] memory input = [p1.X, p1.Y, p2.X, p2.Y];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x06, input, 0x80, r, 0x40)
        }
        if (!ok) revert PrecompileFailed(0x06);
    }

    /// `s * p` through the ecMul precompile (0x07).
    function scalarMul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        uint256[3] memory input = [p.X, p.Y, s];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x07, input, 0x60, r, 0x40)
        }
        if (!ok) revert PrecompileFailed(0x07);
    }

    /// Whether `e(a1, a2) * e(b1, b2) == 1`, through the pairing precompile (0x08) with at most
    /// `gasLimit` gas. `success` is false when the precompile refused the input (a point off
    /// the curve or outside the subgroup): the caller tells that apart from a false product.
    function safePairing(
        G1Point memory a1,
        G2Point memory a2,
        G1Point memory b1,
        G2Point memory b2,
        uint256 gasLimit
    ) internal view returns (bool success, bool result) {
        uint256[12] memory input = [
            a1.X,
            a1.Y,
            a2.X[0],
            a2.X[1],
            a2.Y[0],
            a2.Y[1],
            b1.X,
            b1.Y,
            b2.X[0],
            b2.X[1],
            b2.Y[0],
            b2.Y[1]
        ];
        uint256[1] memory out;
        assembly ("memory-safe") {
            success := staticcall(gasLimit, 0x08, input, 0x180, out, 0x20)
        }
        result = success && out[0] == 1;
    }

    /// Hashes a 32-byte message to G1 as EigenLayer's `BN254.hashToG1`: from `x = m mod p`, the
    /// first `x, x+1, ...` with `x^3 + 3` a square gives `(x, (x^3 + 3)^((p+1)/4))`.
    function hashToG1(bytes32 message) internal view returns (G1Point memory) {
        uint256 x = uint256(message) % FP_MODULUS;
        while (true) {
            uint256 beta = addmod(mulmod(mulmod(x, x, FP_MODULUS), x, FP_MODULUS), 3, FP_MODULUS);
            uint256 y = expMod(beta, SQRT_EXPONENT, FP_MODULUS);
            if (mulmod(y, y, FP_MODULUS) == beta) {
                return G1Point(x, y);
            }
            x = addmod(x, 1, FP_MODULUS);
        }
        // Unreachable: half of all x give a point.
        return G1Point(0, 0);
    }

    /// `base^exponent mod modulus` through the modexp precompile (0x05).
    function expMod(uint256 base, uint256 exponent, uint256 modulus) internal view returns (uint256 r) {
        uint256[6] memory input = [uint256(32), 32, 32, base, exponent, modulus];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x05, input, 0xc0, out, 0x20)
        }
        if (!ok) revert PrecompileFailed(0x05);
        r = out[0];
    }

    /// EigenLayer's `BLSSignatureChecker.trySignatureAndApkVerification`: whether `sigma` is a
    /// signature on `message` by the key whose G1 form is `apk` and G2 form `apkG2` (and that
    /// the two are the same key), in one pairing check: with
    /// `gamma = keccak(message, apk, apkG2, sigma) mod r`,
    /// `e(sigma + gamma * apk, -g2) * e(H(m) + gamma * g1, apkG2) == 1`.
    function verifySignatureAndApk(
        bytes32 message,
        G1Point memory apk,
        G2Point memory apkG2,
        G1Point memory sigma
    ) internal view returns (bool pairingSuccessful, bool signatureIsValid) {
        uint256 gamma = uint256(
            keccak256(
                abi.encodePacked(
                    message, apk.X, apk.Y, apkG2.X[0], apkG2.X[1], apkG2.Y[0], apkG2.Y[1], sigma.X, sigma.Y
                )
            )
        ) % FR_MODULUS;
        return safePairing(
            plus(sigma, scalarMul(apk, gamma)),
            negGeneratorG2(),
            plus(hashToG1(message), scalarMul(generatorG1(), gamma)),
            apkG2,
            PAIRING_GAS
        );
    }
}
