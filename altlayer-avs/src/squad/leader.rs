//! Leader election (by stake, seeded by the previous commit certificate), epochs and
//! rosters.

use super::*;

impl SquadNode {
    /// The leader of `round` at the current height: drawn by stake with
    /// `keccak(seed || height || round)`, where the seed is the previous block's commit
    /// certificate (the genesis hash at first).
    pub fn leader(&self, round: u32) -> Address {
        let seed = match self.state.chain.last() {
            Some(decision) => match &decision.block.last_commit {
                Some((_, qc)) => qc.hash(),
                None => decision.block.hash(),
            },
            None => self.config.genesis,
        };
        leader(&self.roster, seed, self.state.height, round)
    }
}

/// A development sequencer set for `rollup`: `n` keys derived from their index, addresses
/// derived from the keys, equal stake, as the SQUAD roster at height 0. For devnets,
/// benchmarks and tests; a real set comes from staking ([`Roster::from_ledger`]).
#[cfg(feature = "test-utils")]
pub fn dev_set(n: usize, rollup: RollupId) -> Result<DevSet, bls::BlsError> {
    let keys: Vec<SecretKey> = (0..n as u64)
        .map(|i| {
            SecretKey::from_seed(&[b"altlayer/squad/dev".as_slice(), &i.to_be_bytes()].concat())
        })
        .collect::<Result<_, _>>()?;
    let peers: Vec<Address> = keys
        .iter()
        .map(|k| Address::from_slice(&keccak256(k.public_key_g1().to_bytes())[12..]))
        .collect();
    let roster = Roster::new(
        StakeSnapshot::new(squad_set(rollup), 0),
        keys.iter()
            .zip(&peers)
            .map(|(k, a)| crate::qc::RosterEntry {
                operator: *a,
                stake: U256::from(1),
                key: Some(k.public_key_g2()),
            })
            .collect(),
    );
    Ok(DevSet {
        keys,
        peers,
        roster: Arc::new(roster),
    })
}

/// What [`dev_set`] makes.
#[cfg(feature = "test-utils")]
#[derive(Clone, Debug)]
pub struct DevSet {
    /// The sequencers' keys.
    pub keys: Vec<SecretKey>,
    /// Their addresses, in the same order.
    pub peers: Vec<Address>,
    /// The roster.
    pub roster: Arc<Roster>,
}

/// A roster a SQUAD node accepts: the rollup's SQUAD set, with at least
/// [`MIN_SEQUENCERS`] staked sequencers.
pub(super) fn check_roster(roster: &Roster, rollup: RollupId) -> Result<(), SquadError> {
    if roster.snapshot().set != squad_set(rollup) {
        return Err(SquadError::WrongRoster(rollup));
    }
    let staked = roster
        .entries()
        .iter()
        .filter(|e| !e.stake.is_zero())
        .count();
    if staked < MIN_SEQUENCERS {
        return Err(SquadError::TooFewSequencers(staked));
    }
    Ok(())
}

/// The leader of `(height, round)`: the operator whose cumulative stake interval (address
/// order) contains `keccak(seed || height || round) mod total`.
pub fn leader(roster: &Roster, seed: B256, height: u64, round: u32) -> Address {
    let mut buf = [0u8; 32 + 8 + 4];
    buf[..32].copy_from_slice(seed.as_slice());
    buf[32..40].copy_from_slice(&height.to_be_bytes());
    buf[40..].copy_from_slice(&round.to_be_bytes());
    let total = roster.total();
    if total.is_zero() {
        return Address::ZERO;
    }
    let mut ticket = U256::from_be_bytes(keccak256(buf).0) % total;
    for entry in roster.entries() {
        if ticket < entry.stake {
            return entry.operator;
        }
        ticket -= entry.stake;
    }
    Address::ZERO
}

/// The epoch of `height` (heights start at 1): `(height - 1) / epoch_length`, or 0 with a
/// single epoch.
pub const fn epoch_of(height: u64, epoch_length: u64) -> u64 {
    match height.saturating_sub(1).checked_div(epoch_length) {
        Some(epoch) => epoch,
        None => 0,
    }
}

/// The snapshot a SQUAD set's roster is read at for the epoch of `height`: the staking
/// checkpoint at the height before the epoch's first block.
pub const fn epoch_snapshot(rollup: RollupId, height: u64, epoch_length: u64) -> StakeSnapshot {
    StakeSnapshot::new(
        squad_set(rollup),
        epoch_of(height, epoch_length) * epoch_length,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qc::RosterEntry;

    fn roster(stakes: &[u64]) -> Roster {
        Roster::new(
            StakeSnapshot::new(squad_set(RollupId(1)), 0),
            stakes
                .iter()
                .enumerate()
                .map(|(i, stake)| RosterEntry {
                    operator: Address::with_last_byte(i as u8 + 1),
                    stake: U256::from(*stake),
                    key: None,
                })
                .collect(),
        )
    }

    #[test]
    fn the_leader_is_drawn_by_stake_and_the_same_everywhere() {
        let roster = roster(&[1, 2, 3, 4, 0]);
        let seed = B256::repeat_byte(7);
        let mut counts = BTreeMap::new();
        for height in 1..=2_000u64 {
            for round in 0..5u32 {
                let chosen = leader(&roster, seed, height, round);
                assert_eq!(
                    chosen,
                    leader(&roster, seed, height, round),
                    "deterministic"
                );
                *counts.entry(chosen).or_insert(0u64) += 1;
            }
        }
        // 10,000 draws: operator i (stake i of 10) is chosen about 1,000 i times.
        for i in 1..=4u8 {
            let count = counts
                .get(&Address::with_last_byte(i))
                .copied()
                .unwrap_or(0);
            let expected = 1_000 * u64::from(i);
            assert!(
                count.abs_diff(expected) < expected / 5 + 60,
                "operator {i}: {count}"
            );
        }
        // No stake, never a leader.
        assert!(!counts.contains_key(&Address::with_last_byte(5)));
    }

    #[test]
    fn a_new_round_or_seed_draws_again_and_an_empty_roster_has_no_leader() {
        let roster = roster(&[1, 1, 1, 1]);
        let seed = B256::repeat_byte(1);
        let rounds: std::collections::BTreeSet<Address> = (0..32)
            .map(|round| leader(&roster, seed, 1, round))
            .collect();
        assert!(rounds.len() > 1, "round changes rotate the leader");
        let seeds: std::collections::BTreeSet<Address> = (0..32u8)
            .map(|s| leader(&roster, B256::repeat_byte(s), 1, 0))
            .collect();
        assert!(
            seeds.len() > 1,
            "the seed (the parent's commit) changes the draw"
        );
        assert_eq!(leader(&self::roster(&[0, 0]), seed, 1, 0), Address::ZERO);
    }

    #[test]
    fn epochs_and_their_snapshots() {
        assert_eq!(epoch_of(1, 0), 0);
        assert_eq!(epoch_of(1_000, 0), 0);
        assert_eq!(epoch_of(1, 10), 0);
        assert_eq!(epoch_of(10, 10), 0);
        assert_eq!(epoch_of(11, 10), 1);
        assert_eq!(epoch_snapshot(RollupId(1), 11, 10).height, 10);
        assert_eq!(epoch_snapshot(RollupId(1), 10, 10).height, 0);
    }
}
