// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IOneStepVerifier} from "./OneStepVerifier.sol";

/// @title RollupSettlement
/// @notice The rollup's batches on the L1: a bonded proposer commits each batch's state
/// commitment (pre- and post-state root, last height, the batch's commitment and step count,
/// where its data is in DA) in order; a
/// challenge window in L1 time follows; anyone may challenge with a bond, which opens the
/// bisection game of the Rust `settlement::bisection` module, played here move by move with
/// deadlines; the last step is decided through an `IOneStepVerifier`. A challenger who wins
/// reverts the batch and every later one and takes the proposer's bond; one who loses forfeits
/// its bond to the proposer. Bonds are paid out by `withdraw` (pull payments).
/// @dev Events carry what the Rust side needs to mirror decisions in the ALT ledger (who was
/// proven wrong, for which batch and step). The contradiction shortcut of the Rust game (a
/// proposer's midpoint root that differs from the roots it published) is not played here: the
/// published roots live in DA, and the one-step stage reaches the same winner.
contract RollupSettlement {
    enum BatchState {
        None,
        Pending,
        Final,
        Reverted
    }

    struct Batch {
        bytes32 preStateRoot;
        bytes32 postStateRoot;
        /// The batch's commitment (the Rust `Batch::commitment`): what its data hashes to.
        /// Where the data is in DA travels in `BatchCommitted` only: nothing here reads it.
        bytes32 commitment;
        uint64 lastHeight;
        uint64 steps;
        uint64 windowEnds;
        /// Which commit this is, over the contract's life: a batch committed again at a
        /// reverted batch's index is another batch to challenge.
        uint64 serial;
        uint32 openChallenges;
        BatchState state;
        address proposer;
        uint256 bond;
    }

    enum Party {
        Proposer,
        Challenger
    }

    enum Stage {
        None,
        Bisecting,
        OneStep,
        Decided
    }

    enum Reason {
        Timeout,
        OneStepProof,
        Reverted
    }

    struct Dispute {
        uint64 batch;
        address challenger;
        uint256 bond;
        uint64 lo;
        uint64 hi;
        bytes32 loRoot;
        bytes32 hiRoot;
        uint64 pendingIndex;
        bytes32 pendingRoot;
        bool pending;
        uint64 deadline;
        Stage stage;
    }

    /// The rollup: its genesis state root is the first batch's pre-state root.
    uint64 public immutable chainId;
    uint64 public immutable rollupId;
    bytes32 public immutable genesisStateRoot;
    /// The only address that commits batches.
    address public immutable proposer;
    /// What decides a game's last step.
    IOneStepVerifier public immutable oneStepVerifier;
    /// Seconds of L1 time a batch may be challenged for, and each move has.
    uint64 public immutable challengeWindow;
    uint64 public immutable moveTimeout;
    /// Bonds in wei: the proposer's per batch, and the least a challenger locks.
    uint256 public immutable proposerBond;
    uint256 public immutable minChallengeBond;

    Batch[] private _batches;
    /// Batches committed and not reverted: the next batch's index.
    uint64 public nextIndex;
    /// Batches final: every batch below is final.
    uint64 public finalizedCount;
    /// Batches ever committed.
    uint64 public commits;
    Dispute[] private _disputes;
    /// Whether a challenger disputes a batch, by the batch's serial (one game per challenger
    /// and batch).
    mapping(uint64 serial => mapping(address challenger => bool)) private _challenging;
    /// The games opened on a batch, by its serial.
    mapping(uint64 serial => uint256[]) private _gamesOf;
    /// Bonds and rewards owed, paid by `withdraw`.
    mapping(address => uint256) public owed;

    event BatchCommitted(
        uint64 indexed index,
        bytes32 preStateRoot,
        bytes32 postStateRoot,
        uint64 lastHeight,
        bytes32 commitment,
        uint64 steps,
        uint64 daPosition,
        bytes32 daCommitment,
        address proposer,
        uint64 windowEnds
    );
    event BatchFinalized(uint64 indexed index, uint64 lastHeight, bytes32 postStateRoot);
    event BatchesReverted(uint64 indexed fromIndex, uint64 count);
    event ChallengeOpened(uint256 indexed dispute, uint64 indexed batch, address challenger, uint256 bond);
    event RootPosted(uint256 indexed dispute, uint64 index, bytes32 root, uint64 deadline);
    event VerdictGiven(uint256 indexed dispute, bool agree, uint64 lo, uint64 hi, uint64 deadline);
    event OneStepReady(uint256 indexed dispute, uint64 step, bytes32 preRoot, bytes32 claimedRoot, uint64 deadline);
    /// A game ended: `step` is the step it narrowed to (`type(uint64).max`: none). A game
    /// ended because its batch was reverted by another has no winner: reason `Reverted`.
    event ChallengeDecided(
        uint256 indexed dispute,
        uint64 indexed batch,
        address proposer,
        address challenger,
        Party winner,
        Reason reason,
        uint64 step,
        uint256 bond
    );
    event Withdrawn(address indexed to, uint256 amount);

    error NotProposer(address caller);
    error BondTooLow(uint256 given, uint256 minimum);
    error OutOfOrder(uint64 expected, uint64 given);
    error RootGap(bytes32 expected, bytes32 given);
    error NoSteps();
    error UnknownBatch(uint64 index);
    error NotFinal(uint64 index);
    error NotChallengeable(uint64 index);
    error AlreadyChallenging(uint64 index, address challenger);
    error UnknownDispute(uint256 dispute);
    error NotYourMove(address caller);
    error WrongIndex(uint64 expected, uint64 given);
    error NotAtOneStep(uint256 dispute);
    error DeadlineNotPassed(uint64 deadline);
    error NothingOwed();
    error TransferFailed();

    constructor(
        uint64 chainId_,
        uint64 rollupId_,
        bytes32 genesisStateRoot_,
        address proposer_,
        IOneStepVerifier verifier_,
        uint64 challengeWindow_,
        uint64 moveTimeout_,
        uint256 proposerBond_,
        uint256 minChallengeBond_
    ) {
        chainId = chainId_;
        rollupId = rollupId_;
        genesisStateRoot = genesisStateRoot_;
        proposer = proposer_;
        oneStepVerifier = verifier_;
        challengeWindow = challengeWindow_;
        moveTimeout = moveTimeout_;
        proposerBond = proposerBond_;
        minChallengeBond = minChallengeBond_;
    }

    /// Commits batch `index` (the next one) with the proposer's bond: it must start from the
    /// previous batch's post-state root (the genesis root for the first). `commitment` is the
    /// batch's (what a game's last step is bound to), `steps` the steps a game over it bisects,
    /// `daPosition` and `daCommitment` where its data is. Its window starts now.
    function commitBatch(
        uint64 index,
        bytes32 preStateRoot,
        bytes32 postStateRoot,
        uint64 lastHeight,
        bytes32 commitment,
        uint64 steps,
        uint64 daPosition,
        bytes32 daCommitment
    ) external payable {
        if (msg.sender != proposer) revert NotProposer(msg.sender);
        if (msg.value < proposerBond) revert BondTooLow(msg.value, proposerBond);
        if (index != nextIndex) revert OutOfOrder(nextIndex, index);
        bytes32 expected = index == 0 ? genesisStateRoot : _batches[index - 1].postStateRoot;
        if (preStateRoot != expected) revert RootGap(expected, preStateRoot);
        if (steps == 0) revert NoSteps();
        uint64 windowEnds = uint64(block.timestamp) + challengeWindow;
        Batch memory batch = Batch({
            preStateRoot: preStateRoot,
            postStateRoot: postStateRoot,
            commitment: commitment,
            lastHeight: lastHeight,
            steps: steps,
            windowEnds: windowEnds,
            serial: commits,
            openChallenges: 0,
            state: BatchState.Pending,
            proposer: msg.sender,
            bond: msg.value
        });
        // A reverted batch's slot is written over by its replacement.
        if (index < _batches.length) {
            _batches[index] = batch;
        } else {
            _batches.push(batch);
        }
        nextIndex = index + 1;
        commits += 1;
        emit BatchCommitted(
            index,
            preStateRoot,
            postStateRoot,
            lastHeight,
            commitment,
            steps,
            daPosition,
            daCommitment,
            msg.sender,
            windowEnds
        );
    }

    /// Finalizes, in order, the batches whose windows passed with no challenge open; returns
    /// the number of final batches. Anyone may call it; each final batch's bond goes back.
    function finalize() public returns (uint64) {
        uint64 count = finalizedCount;
        while (count < nextIndex) {
            Batch storage batch = _batches[count];
            if (block.timestamp < batch.windowEnds || batch.openChallenges != 0) break;
            batch.state = BatchState.Final;
            owed[batch.proposer] += batch.bond;
            emit BatchFinalized(count, batch.lastHeight, batch.postStateRoot);
            count++;
        }
        finalizedCount = count;
        return count;
    }

    /// Challenges batch `index` in its window with a bond: opens a game between its proposer
    /// and the caller over its steps, from its pre-state root (agreed) to its post-state root
    /// (disputed). The proposer moves first.
    function challenge(uint64 index) external payable returns (uint256 id) {
        if (index >= nextIndex) revert UnknownBatch(index);
        Batch storage batch = _batches[index];
        if (batch.state != BatchState.Pending || block.timestamp >= batch.windowEnds) revert NotChallengeable(index);
        if (msg.value < minChallengeBond) revert BondTooLow(msg.value, minChallengeBond);
        if (_challenging[batch.serial][msg.sender]) revert AlreadyChallenging(index, msg.sender);
        _challenging[batch.serial][msg.sender] = true;
        batch.openChallenges += 1;
        id = _disputes.length;
        _gamesOf[batch.serial].push(id);
        _disputes.push(
            Dispute({
                batch: index,
                challenger: msg.sender,
                bond: msg.value,
                lo: 0,
                hi: batch.steps,
                loRoot: batch.preStateRoot,
                hiRoot: batch.postStateRoot,
                pendingIndex: 0,
                pendingRoot: bytes32(0),
                pending: false,
                deadline: 0,
                stage: Stage.Bisecting
            })
        );
        emit ChallengeOpened(id, index, msg.sender, msg.value);
        _advance(id);
    }

    /// The proposer's root after the first `index` steps, `index` the disputed interval's
    /// midpoint. A move after its deadline loses the game instead.
    function postRoot(uint256 id, uint64 index, bytes32 root) external {
        Dispute storage d = _open(id);
        if (msg.sender != _batches[d.batch].proposer) revert NotYourMove(msg.sender);
        if (d.stage != Stage.Bisecting || d.pending) revert NotYourMove(msg.sender);
        if (block.timestamp > d.deadline) return _decide(id, Party.Challenger, Reason.Timeout);
        uint64 mid = d.lo + (d.hi - d.lo) / 2;
        if (index != mid) revert WrongIndex(mid, index);
        d.pending = true;
        d.pendingIndex = mid;
        d.pendingRoot = root;
        d.deadline = uint64(block.timestamp) + moveTimeout;
        emit RootPosted(id, mid, root, d.deadline);
    }

    /// The challenger's verdict on the proposer's last root: agreeing moves the interval's low
    /// end up to it, disputing moves the high end down. A move after its deadline loses.
    function giveVerdict(uint256 id, bool agree) external {
        Dispute storage d = _open(id);
        if (msg.sender != d.challenger) revert NotYourMove(msg.sender);
        if (d.stage != Stage.Bisecting || !d.pending) revert NotYourMove(msg.sender);
        if (block.timestamp > d.deadline) return _decide(id, Party.Proposer, Reason.Timeout);
        if (agree) {
            (d.lo, d.loRoot) = (d.pendingIndex, d.pendingRoot);
        } else {
            (d.hi, d.hiRoot) = (d.pendingIndex, d.pendingRoot);
        }
        d.pending = false;
        emit VerdictGiven(id, agree, d.lo, d.hi, uint64(block.timestamp) + moveTimeout);
        _advance(id);
    }

    /// Decides the game's last step with `proof`, which the one-step verifier checks; anyone
    /// may submit it. The proposer wins if the step leads to the root it claimed.
    function proveStep(uint256 id, bytes calldata proof) external {
        Dispute storage d = _open(id);
        if (d.stage != Stage.OneStep) revert NotAtOneStep(id);
        if (block.timestamp > d.deadline) return _decide(id, Party.Proposer, Reason.Timeout);
        Batch storage batch = _batches[d.batch];
        (bool valid, bytes32 root) =
            oneStepVerifier.verifyStep(d.batch, batch.commitment, d.lo, d.loRoot, proof);
        _decide(id, valid && root == d.hiRoot ? Party.Proposer : Party.Challenger, Reason.OneStepProof);
    }

    /// Decides a game whose deadline passed against the party that missed it (at the one-step
    /// stage, without a proof, the proposer's claim stands). Anyone may call it.
    function timeout(uint256 id) external {
        Dispute storage d = _open(id);
        if (block.timestamp <= d.deadline) revert DeadlineNotPassed(d.deadline);
        Party winner;
        if (d.stage == Stage.OneStep) {
            winner = Party.Proposer;
        } else {
            // The party whose turn it was missed it.
            winner = d.pending ? Party.Proposer : Party.Challenger;
        }
        _decide(id, winner, Reason.Timeout);
    }

    /// Pays the caller what it is owed (bonds back, rewards).
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert NothingOwed();
        owed[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Withdrawn(msg.sender, amount);
    }

    /// A committed batch (reverted ones included, until a new batch takes their index).
    function batches(uint64 index) external view returns (Batch memory) {
        if (index >= _batches.length) revert UnknownBatch(index);
        return _batches[index];
    }

    /// Whether batch `index` is final: committed, not reverted, and finalized.
    function isFinal(uint64 index) external view returns (bool) {
        return index < finalizedCount;
    }

    /// Whether `challenger` disputes batch `index` (as committed now).
    function challenging(uint64 index, address challenger) external view returns (bool) {
        return index < _batches.length && _challenging[_batches[index].serial][challenger];
    }

    /// The post-state root of final batch `index`: what withdrawals are proven against.
    function finalStateRoot(uint64 index) external view returns (bytes32) {
        if (index >= finalizedCount) revert NotFinal(index);
        return _batches[index].postStateRoot;
    }

    /// A game.
    function dispute(uint256 id) external view returns (Dispute memory) {
        if (id >= _disputes.length) revert UnknownDispute(id);
        return _disputes[id];
    }

    /// How many games were opened.
    function disputeCount() external view returns (uint256) {
        return _disputes.length;
    }

    function _open(uint256 id) private view returns (Dispute storage d) {
        if (id >= _disputes.length) revert UnknownDispute(id);
        d = _disputes[id];
        if (d.stage == Stage.Decided || d.stage == Stage.None) revert UnknownDispute(id);
    }

    /// Sets the next stage after a move: the one-step stage once one step is left.
    function _advance(uint256 id) private {
        Dispute storage d = _disputes[id];
        d.deadline = uint64(block.timestamp) + moveTimeout;
        if (d.hi - d.lo == 1) {
            d.stage = Stage.OneStep;
            emit OneStepReady(id, d.lo, d.loRoot, d.hiRoot, d.deadline);
        }
    }

    /// Ends game `id` and enforces it: a winning challenger reverts the batch and every later
    /// one (their other games end without a winner, bonds returned) and takes the proposer's
    /// bond with its own; a losing one's bond goes to the proposer.
    function _decide(uint256 id, Party winner, Reason reason) private {
        Dispute storage d = _disputes[id];
        d.stage = Stage.Decided;
        uint64 index = d.batch;
        Batch storage batch = _batches[index];
        batch.openChallenges -= 1;
        uint64 step = d.hi - d.lo == 1 ? d.lo : type(uint64).max;
        emit ChallengeDecided(id, index, batch.proposer, d.challenger, winner, reason, step, d.bond);
        if (winner == Party.Proposer) {
            owed[batch.proposer] += d.bond;
            return;
        }
        owed[d.challenger] += d.bond + batch.bond;
        batch.bond = 0;
        _revertFrom(index);
    }

    function _revertFrom(uint64 index) private {
        uint64 end = nextIndex;
        for (uint64 i = index; i < end; i++) {
            Batch storage b = _batches[i];
            b.state = BatchState.Reverted;
            // Later batches were not proven wrong: their proposer's bond goes back.
            if (b.bond != 0) {
                owed[b.proposer] += b.bond;
                b.bond = 0;
            }
            // Their open games end without a winner (reason `Reverted`); bonds go back.
            uint256[] storage games = _gamesOf[b.serial];
            for (uint256 j = 0; j < games.length; j++) {
                Dispute storage other = _disputes[games[j]];
                if (other.stage == Stage.Bisecting || other.stage == Stage.OneStep) {
                    other.stage = Stage.Decided;
                    b.openChallenges -= 1;
                    owed[other.challenger] += other.bond;
                    emit ChallengeDecided(
                        games[j], i, b.proposer, other.challenger, Party.Challenger, Reason.Reverted,
                        type(uint64).max, other.bond
                    );
                }
            }
        }
        nextIndex = index;
        emit BatchesReverted(index, end - index);
    }
}
