// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title RLP
/// @notice Reading RLP (Ethereum's recursive length prefix) from memory, as much as Merkle
/// proofs need: an item's kind and bounds, a list's items, a string's bytes. Every length is
/// checked against the input, so a malformed item reverts and never reads past its end.
library RLP {
    struct Item {
        uint256 offset;
        uint256 length;
    }

    error BadRlp();

    /// The item at `offset` of `data`: whether it is a list, where its payload starts, how
    /// long its payload is, and where the item ends.
    function header(bytes memory data, uint256 offset)
        internal
        pure
        returns (bool isList, uint256 payload, uint256 length, uint256 end)
    {
        if (offset >= data.length) revert BadRlp();
        uint256 prefix = uint8(data[offset]);
        if (prefix < 0x80) {
            return (false, offset, 1, offset + 1);
        } else if (prefix < 0xb8) {
            length = prefix - 0x80;
            payload = offset + 1;
            // A single byte below 0x80 must be encoded as itself.
            if (length == 1 && (payload >= data.length || uint8(data[payload]) < 0x80)) revert BadRlp();
        } else if (prefix < 0xc0) {
            (payload, length) = _long(data, offset, prefix - 0xb7);
        } else if (prefix < 0xf8) {
            isList = true;
            length = prefix - 0xc0;
            payload = offset + 1;
        } else {
            isList = true;
            (payload, length) = _long(data, offset, prefix - 0xf7);
        }
        end = payload + length;
        if (end > data.length) revert BadRlp();
    }

    /// The items of the list that is all of `data`.
    function list(bytes memory data) internal pure returns (Item[] memory items) {
        (bool isList, uint256 payload,, uint256 end) = header(data, 0);
        if (!isList || end != data.length) revert BadRlp();
        // Counted first: an array sized by the payload would cost its memory quadratically.
        uint256 count;
        uint256 at = payload;
        while (at < end) {
            (,,, at) = header(data, at);
            count++;
        }
        if (at != end) revert BadRlp();
        items = new Item[](count);
        at = payload;
        for (uint256 i = 0; i < count; i++) {
            (,,, uint256 next) = header(data, at);
            items[i] = Item(at, next - at);
            at = next;
        }
    }

    /// The bytes of `item`, a string (not a list).
    function bytesOf(bytes memory data, Item memory item) internal pure returns (bytes memory out) {
        (bool isList, uint256 payload, uint256 length,) = header(data, item.offset);
        if (isList) revert BadRlp();
        out = slice(data, payload, length);
    }

    /// The whole encoding of `item` (a node embedded in its parent).
    function raw(bytes memory data, Item memory item) internal pure returns (bytes memory) {
        return slice(data, item.offset, item.length);
    }

    function slice(bytes memory data, uint256 start, uint256 length) internal pure returns (bytes memory out) {
        if (start + length > data.length) revert BadRlp();
        out = new bytes(length);
        assembly ("memory-safe") {
            mcopy(add(out, 32), add(add(data, 32), start), length)
        }
    }

    /// The payload bounds of a long item whose length takes `lengthBytes` bytes.
    function _long(bytes memory data, uint256 offset, uint256 lengthBytes)
        private
        pure
        returns (uint256 payload, uint256 length)
    {
        if (offset + 1 + lengthBytes > data.length || lengthBytes > 8) revert BadRlp();
        // No leading zero in the length, and a long form only for 56 bytes or more.
        if (uint8(data[offset + 1]) == 0) revert BadRlp();
        for (uint256 i = 0; i < lengthBytes; i++) {
            length = (length << 8) | uint8(data[offset + 1 + i]);
        }
        if (length < 56) revert BadRlp();
        payload = offset + 1 + lengthBytes;
    }
}

/// @title MerkleTrie
/// @notice Verifies Ethereum Merkle-Patricia proofs, as `eth_getProof` (EIP-1186) returns them:
/// the nodes on the path from the root to a key, root first. Proves inclusion (the value at the
/// key) and exclusion (no value: the path ends in an empty branch slot or diverges from a leaf
/// or an extension).
/// @dev Keys here are keccak hashes (secure tries), so a node on a proof path is never shorter
/// than 32 bytes and embedded in its parent: that would need two keys sharing a prefix of
/// about 60 nibbles. A proof that asks for one is refused rather than followed.
library MerkleTrie {
    error BadProof(uint256 node);

    /// The value stored at `key` in the trie with root `root` (`found` false: none), from
    /// `proof`. Reverts when the proof does not lead from the root to a decision.
    function get(bytes32 key, bytes[] memory proof, bytes32 root)
        internal
        pure
        returns (bool found, bytes memory value)
    {
        bytes32 expected = root;
        uint256 depth;
        for (uint256 i = 0; i < proof.length; i++) {
            bytes memory node = proof[i];
            if (keccak256(node) != expected || node.length < 32) revert BadProof(i);
            RLP.Item[] memory items = RLP.list(node);
            if (items.length == 17) {
                if (depth == 64) {
                    // A value in a branch: not with 32-byte keys.
                    revert BadProof(i);
                }
                uint8 nibble = _nibble(key, depth);
                bytes memory child = RLP.bytesOf(node, items[nibble]);
                if (child.length == 0) return (false, "");
                expected = _reference(child, i);
                depth += 1;
            } else if (items.length == 2) {
                bytes memory path = RLP.bytesOf(node, items[0]);
                if (path.length == 0) revert BadProof(i);
                uint8 flag = uint8(path[0]) >> 4;
                if (flag > 3) revert BadProof(i);
                bool odd = flag & 1 == 1;
                uint256 count = (path.length - 1) * 2 + (odd ? 1 : 0);
                if (depth + count > 64) return (false, "");
                for (uint256 n = 0; n < count; n++) {
                    // Nibble n of the path: after the flag nibble when odd.
                    uint256 at = odd ? n + 1 : n + 2;
                    uint8 p = at % 2 == 0 ? uint8(path[at / 2]) >> 4 : uint8(path[at / 2]) & 0x0f;
                    if (p != _nibble(key, depth + n)) return (false, "");
                }
                depth += count;
                if (flag >= 2) {
                    // A leaf: it holds the key only if it ends it.
                    if (depth != 64) return (false, "");
                    return (true, RLP.bytesOf(node, items[1]));
                }
                expected = _reference(RLP.bytesOf(node, items[1]), i);
            } else {
                revert BadProof(i);
            }
        }
        // The proof stopped before deciding.
        revert BadProof(proof.length);
    }

    function _reference(bytes memory child, uint256 node) private pure returns (bytes32 hash) {
        if (child.length != 32) revert BadProof(node);
        assembly ("memory-safe") {
            hash := mload(add(child, 32))
        }
    }

    function _nibble(bytes32 key, uint256 n) private pure returns (uint8) {
        uint8 b = uint8(key[n / 2]);
        return n % 2 == 0 ? b >> 4 : b & 0x0f;
    }
}

/// @title StateProofs
/// @notice An account's storage slot proven against a state root with EIP-1186 proofs.
library StateProofs {
    error NoAccount();

    /// The value of `slot` of `account` in the state with root `stateRoot` (zero when unset),
    /// from the account proof and the slot's storage proof.
    function storageAt(
        bytes32 stateRoot,
        address account,
        bytes32 slot,
        bytes[] memory accountProof,
        bytes[] memory storageProof
    ) internal pure returns (uint256) {
        (bool exists, bytes memory encoded) =
            MerkleTrie.get(keccak256(abi.encodePacked(account)), accountProof, stateRoot);
        if (!exists) revert NoAccount();
        // [nonce, balance, storageRoot, codeHash]
        RLP.Item[] memory fields = RLP.list(encoded);
        if (fields.length != 4) revert RLP.BadRlp();
        bytes memory storageRoot = RLP.bytesOf(encoded, fields[2]);
        if (storageRoot.length != 32) revert RLP.BadRlp();
        (bool set, bytes memory value) =
            MerkleTrie.get(keccak256(abi.encodePacked(slot)), storageProof, bytes32(storageRoot));
        if (!set) return 0;
        // A slot's value is the RLP string of its big-endian bytes without leading zeros.
        (bool isList, uint256 payload, uint256 length, uint256 end) = RLP.header(value, 0);
        if (isList || end != value.length || length > 32) revert RLP.BadRlp();
        bytes memory word = RLP.slice(value, payload, length);
        uint256 result;
        for (uint256 i = 0; i < word.length; i++) {
            result = (result << 8) | uint8(word[i]);
        }
        return result;
    }
}
