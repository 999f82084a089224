//! Passed parameters reaching a live rollup at the next epoch: a new fee split changes the
//! next epoch's rewards, a new MACH threshold changes which certificates are accepted.

use alloy_primitives::{Address, U256};
use altlayer_avs::{
    MachError, QuorumCertificate, SignerBitmap,
    bls::{SecretKey, Signature},
    mach::{FinalityVote, MachFinality, mach_set},
    qc::{QcError, Roster, StakeSnapshot, Threshold},
    restaked::{DEV_AUTHORITY, dev_ledger, stake_operator},
    vital::court::{Court, CourtConfig},
};
use altlayer_core::{FinalityGadget, Header, RollupId, finality::FinalityStatus};
use altlayer_gov::{
    Action, Ballot, Clock, GovParams, Governance, ProtocolParams, Status, VoteOption,
};
use altlayer_staking::{
    AltLedger, FeeSplit, OperatorKey, OperatorSetConfig, OperatorSetId, ParameterStore, Service,
    StakingParams,
};

const AUTHORITY: Address = DEV_AUTHORITY;
const ESCROW: Address = Address::repeat_byte(0xe5);
const CHAIN: u64 = 1_337;
const ROLLUP: RollupId = RollupId(1);

fn governance() -> Governance {
    let params = ProtocolParams {
        gov: GovParams {
            min_deposit: U256::from(10),
            min_initial_deposit: U256::from(10),
            voting_delay_blocks: 1,
            voting_period_blocks: 5,
            timelock_secs: 10,
            ..GovParams::default()
        },
        ..ProtocolParams::default()
    };
    Governance::new(params, AUTHORITY, ESCROW, None).unwrap()
}

/// Passes `action` with `voters` voting Yes, from height `from` (the ledger at `from`):
/// proposed, voted, tallied, queued and executed, in the current epoch.
fn pass(
    gov: &mut Governance,
    ledger: &mut AltLedger,
    proposer: Address,
    voters: &[Address],
    action: Action,
    from: u64,
) {
    let t = |h: u64| h * 10;
    let id = gov
        .propose(
            ledger,
            proposer,
            vec![action],
            U256::from(10),
            Clock::new(from, t(from)),
        )
        .unwrap();
    ledger.advance(from + 1, t(from + 1)).unwrap();
    gov.advance(ledger, Clock::new(from + 1, t(from + 1)))
        .unwrap();
    for voter in voters {
        gov.vote(
            ledger,
            *voter,
            id,
            Ballot::single(VoteOption::Yes),
            Clock::new(from + 1, t(from + 1)),
        )
        .unwrap();
    }
    ledger.advance(from + 6, t(from + 6)).unwrap();
    gov.advance(ledger, Clock::new(from + 6, t(from + 6)))
        .unwrap();
    assert_eq!(gov.proposal(id).unwrap().status, Status::Succeeded);
    let eta = gov.queue(id, Clock::new(from + 6, t(from + 6))).unwrap();
    let executed = gov.execute(ledger, id, Clock::new(from + 6, eta)).unwrap();
    assert!(matches!(executed, Status::Executed { .. }), "{executed:?}");
}

#[test]
fn a_new_fee_split_changes_the_next_epochs_rewards() {
    let squad = OperatorSetId::new(Service::Squad, ROLLUP);
    let sequencer = Address::repeat_byte(0x5e);
    let payer = Address::repeat_byte(0xfe);
    let mut ledger = AltLedger::new(StakingParams::default(), AUTHORITY, CHAIN).unwrap();
    ledger
        .create_set(
            &AUTHORITY,
            squad,
            OperatorSetConfig {
                min_stake: U256::from(1),
            },
        )
        .unwrap();
    ledger
        .register_operator(sequencer, OperatorKey::EcdsaOnly, 0)
        .unwrap();
    ledger
        .mint(&AUTHORITY, &sequencer, U256::from(1_100))
        .unwrap();
    ledger.stake(&sequencer, U256::from(1_000)).unwrap();
    ledger
        .delegate(&sequencer, &sequencer, U256::from(1_000))
        .unwrap();
    ledger.join_set(&sequencer, squad).unwrap();
    ledger
        .mint(&AUTHORITY, &payer, U256::from(1_000_000))
        .unwrap();
    ledger.advance(1, 10).unwrap();
    let mut gov = governance();

    // Epoch 0 under the default split: 40 % of each fee to the sequencers.
    let fees = |ledger: &mut AltLedger| {
        ledger
            .collect_fees(&payer, ROLLUP, U256::from(10_000))
            .unwrap();
    };
    fees(&mut ledger);
    let split = FeeSplit {
        burn_bips: 0,
        sequencers_bips: 8_000,
        operators_bips: 1_000,
        treasury_bips: 1_000,
    };
    pass(
        &mut gov,
        &mut ledger,
        sequencer,
        &[sequencer],
        Action::SetFeeSplit { split },
        1,
    );
    // Executed, but fees in the rest of this epoch still follow the old split.
    fees(&mut ledger);
    let epoch0 = ledger.distribute_epoch(&AUTHORITY, squad).unwrap();
    assert_eq!(
        epoch0.distributed + epoch0.carried,
        U256::from(8_000),
        "2 x 40 % of 10,000"
    );

    gov.begin_epoch(&mut ledger, &mut []).unwrap();
    assert_eq!(ledger.params().fee_split, split);
    fees(&mut ledger);
    fees(&mut ledger);
    let epoch1 = ledger.distribute_epoch(&AUTHORITY, squad).unwrap();
    assert_eq!(
        epoch1.distributed + epoch1.carried,
        U256::from(16_000),
        "2 x 80 % of 10,000"
    );
    ledger.check_invariants().unwrap();
}

struct Mach {
    ledger: AltLedger,
    keys: Vec<SecretKey>,
    operators: Vec<Address>,
    roster: Roster,
    gadget: MachFinality,
}

/// Four MACH operators with BLS keys and 40, 30, 20 and 10 ALT of stake.
fn mach() -> Mach {
    let set = mach_set(ROLLUP);
    let mut ledger = dev_ledger(StakingParams::default(), CHAIN, &[set]).unwrap();
    let mut keys = Vec::new();
    let mut operators = Vec::new();
    for (i, stake) in [40u64, 30, 20, 10].into_iter().enumerate() {
        let key = SecretKey::from_seed(&[i as u8 + 1; 32]).unwrap();
        let address = Address::with_last_byte(0x10 + i as u8);
        let registration = OperatorKey::bn254(key.register(CHAIN, address));
        stake_operator(&mut ledger, address, registration, U256::from(stake), set).unwrap();
        // Liquid ALT beside the stake, for deposits.
        ledger.mint(&AUTHORITY, &address, U256::from(10)).unwrap();
        keys.push(key);
        operators.push(address);
    }
    ledger.advance(1, 10).unwrap();
    let roster = Roster::from_ledger(&ledger, StakeSnapshot::new(set, 1)).unwrap();
    let gadget = MachFinality::new(CHAIN, ROLLUP, Threshold::default(), 3_600);
    Mach {
        ledger,
        keys,
        operators,
        roster,
        gadget,
    }
}

impl Mach {
    /// A certificate for the block at `height`, signed by the operators `signers`, offered to
    /// the gadget.
    fn certify(&mut self, height: u64, signers: &[usize]) -> Result<(), MachError> {
        let header = Header {
            chain_id: CHAIN,
            rollup_id: ROLLUP,
            height,
            ..Default::default()
        };
        self.gadget.on_header(&header);
        let vote = FinalityVote {
            chain_id: CHAIN,
            rollup: ROLLUP,
            height,
            block_hash: header.hash(),
            state_root: header.state_root,
            snapshot_height: 1,
        };
        let digest = vote.digest();
        let mut bitmap = SignerBitmap::new(self.roster.len());
        let mut signatures = Vec::new();
        for &i in signers {
            let public = Some(self.keys[i].public_key_g2());
            let index = self
                .roster
                .entries()
                .iter()
                .position(|e| e.key == public)
                .unwrap();
            bitmap.set(index);
            signatures.push(self.keys[i].sign(&digest));
        }
        let certificate = QuorumCertificate {
            digest,
            snapshot: self.roster.snapshot(),
            signers: bitmap,
            signature: Signature::aggregate(&signatures),
        };
        self.gadget
            .on_vote_certificate(vote, certificate, &self.roster)
    }
}

#[test]
fn a_new_mach_threshold_changes_which_certificates_are_accepted_from_the_next_epoch() {
    let mut mach = mach();
    let mut gov = governance();
    // 70 % of the stake signs: enough under 66 %.
    mach.certify(1, &[0, 1]).unwrap();
    let threshold = Threshold::new(75).unwrap();
    let (proposer, voters) = (mach.operators[0], [mach.operators[0], mach.operators[1]]);
    pass(
        &mut gov,
        &mut mach.ledger,
        proposer,
        &voters,
        Action::SetFinalityThreshold { threshold },
        1,
    );
    // Executed, not yet in force: still accepted.
    mach.certify(2, &[0, 1]).unwrap();
    assert!(matches!(
        mach.gadget.status(2),
        FinalityStatus::FastFinal { .. }
    ));

    gov.begin_epoch(&mut mach.ledger, &mut [&mut mach.gadget])
        .unwrap();
    assert_eq!(mach.gadget.params().mach_threshold, threshold);
    assert!(matches!(
        mach.certify(3, &[0, 1]),
        Err(MachError::Certificate(QcError::BelowThreshold { .. }))
    ));
    assert!(!matches!(
        mach.gadget.status(3),
        FinalityStatus::FastFinal { .. }
    ));
    // 80 % clears 75 %.
    mach.certify(4, &[0, 1, 3]).unwrap();
    assert!(matches!(
        mach.gadget.status(4),
        FinalityStatus::FastFinal { .. }
    ));
}

#[test]
fn vital_parameters_reach_the_court_and_every_avs_target_at_the_epoch() {
    let mut mach = mach();
    let mut gov = governance();
    // VITAL parameters: they reach every AVS target, VITAL's court among them, at the epoch.
    let mut court = Court::new(CourtConfig {
        rollup: altlayer_core::RollupConfig::default(),
        move_timeout: 3_600,
        min_bond: U256::from(1_000),
    });
    let bond = Action::SetChallengeBond {
        amount: U256::from(5_000),
    };
    let proposer = mach.operators[0];
    pass(
        &mut gov,
        &mut mach.ledger,
        proposer,
        &[mach.operators[0], mach.operators[1]],
        bond,
        1,
    );
    assert_eq!(court.config().min_bond, U256::from(1_000));
    assert!(
        gov.begin_epoch(&mut mach.ledger, &mut [&mut mach.gadget, &mut court])
            .unwrap()
    );
    assert_eq!(court.config().min_bond, U256::from(5_000));
    assert_eq!(mach.gadget.params().challenge_bond, U256::from(5_000));
    assert_eq!(gov.params().avs.challenge_bond, U256::from(5_000));
}
