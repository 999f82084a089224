//! The ledger's invariants and its state hash.

use super::*;

impl AltLedger {
    /// Checks every accounting invariant; `Err` names the first that fails.
    pub fn check_invariants(&self) -> Result<(), String> {
        let liquid = self.liquid.values().fold(U256::ZERO, |s, v| s + v);
        let staked = self.staked.values().fold(U256::ZERO, |s, c| s + c.latest());
        let pooled = self
            .operators
            .values()
            .fold(U256::ZERO, |s, o| s + o.pool.latest().stake);
        let unbonding = self
            .unbonding
            .values()
            .flat_map(|m| m.values())
            .flatten()
            .fold(U256::ZERO, |s, e| s + e.amount);
        if staked != self.total_staked.latest() {
            return Err(format!(
                "stALT total {} != sum {}",
                self.total_staked.latest(),
                staked
            ));
        }
        if pooled != self.total_pooled.latest() {
            return Err(format!(
                "pooled total {} != sum {}",
                self.total_pooled.latest(),
                pooled
            ));
        }
        if unbonding != self.total_unbonding {
            return Err(format!(
                "unbonding total {} != sum {}",
                self.total_unbonding, unbonding
            ));
        }
        let rewards = self.unclaimed_rewards();
        let held = liquid + staked + pooled + unbonding + rewards + self.treasury + self.burned;
        if held != self.minted {
            return Err(format!(
                "supply: minted {} != held and burned {}",
                self.minted, held
            ));
        }
        self.check_reward_pots()?;
        for (address, operator) in &self.operators {
            let pool = operator.pool.latest();
            let shares = self
                .shares
                .values()
                .filter_map(|m| m.get(address))
                .fold(U256::ZERO, |s, c| s + c.latest());
            if shares != pool.shares {
                return Err(format!(
                    "operator {address}: shares {shares} != pool shares {}",
                    pool.shares
                ));
            }
            if pool.shares.is_zero() && !pool.stake.is_zero() {
                return Err(format!("operator {address}: stake without shares"));
            }
        }
        for (id, set) in &self.sets {
            let members = self
                .members_at(*id, self.height)
                .map_err(|e| e.to_string())?;
            let total = members.iter().fold(U256::ZERO, |s, (_, w)| s + w);
            if total != set.total.latest() {
                return Err(format!(
                    "set {id:?}: total {} != members' weights {total}",
                    set.total.latest()
                ));
            }
        }
        Ok(())
    }

    /// Deterministic hash of the whole state (same operations, same hash): keccak-256 of its
    /// canonical JSON snapshot, every map ordered by key.
    pub fn state_hash(&self) -> B256 {
        // Serializing plain maps and numbers into memory cannot fail; an empty hash input in
        // the impossible case still yields a deterministic (if useless) value, not a panic.
        keccak256(serde_json::to_vec(self).unwrap_or_default())
    }
}
