//! Fee suggestions and history: `eth_gasPrice`, `eth_maxPriorityFeePerGas` and
//! `eth_feeHistory`, computed from the chain's recent blocks as geth's oracle does.

use super::Eth;
use crate::{error::RpcError, provider::ChainBlock};
use alloy_consensus::Transaction as _;
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::U256;
use alloy_rpc_types_eth::FeeHistory;
use altlayer_core::execution::base_fee_after;
use revm::primitives::hardfork::SpecId;

/// Blocks the tip suggestion looks back over (geth's `--gpo.blocks`).
const SUGGESTION_BLOCKS: u64 = 20;
/// The percentile of recent tips suggested (geth's `--gpo.percentile`).
const SUGGESTION_PERCENTILE: usize = 60;
/// The tip suggested when recent blocks hold no transactions: 1 gwei, geth's default.
const DEFAULT_TIP: u128 = 1_000_000_000;
/// The most blocks `eth_feeHistory` covers (geth's `maxBlockCount`).
pub(crate) const MAX_FEE_HISTORY_BLOCKS: u64 = 1_024;

impl Eth {
    /// The next block's base fee.
    fn next_base_fee(&self) -> u64 {
        let chain = self.chain();
        chain
            .block(chain.tip().latest)
            .map_or(0, |head| base_fee_after(chain.config(), head.header()))
    }

    /// A tip that gets a transaction into the next block: the 60th percentile of the tips
    /// paid in the last 20 blocks, or 1 gwei when they were empty.
    pub(crate) fn suggested_tip(&self) -> U256 {
        let chain = self.chain();
        let latest = chain.tip().latest;
        let mut tips: Vec<u128> = (latest.saturating_sub(SUGGESTION_BLOCKS - 1)..=latest)
            .filter_map(|n| chain.block(n))
            .flat_map(|block| {
                let base_fee = block.header().base_fee;
                block
                    .block
                    .transactions
                    .iter()
                    .filter_map(move |tx| tx.effective_tip_per_gas(base_fee))
                    .collect::<Vec<_>>()
            })
            .collect();
        if tips.is_empty() {
            return U256::from(DEFAULT_TIP);
        }
        tips.sort_unstable();
        U256::from(tips[(tips.len() - 1) * SUGGESTION_PERCENTILE / 100])
    }

    /// The next block's base fee plus the suggested tip.
    pub(crate) fn suggested_gas_price(&self) -> U256 {
        U256::from(self.next_base_fee()) + self.suggested_tip()
    }

    /// `eth_feeHistory`: for `count` blocks up to `newest`, their base fees (and the next
    /// block's), gas used ratios and the tips at the given percentiles of gas used.
    pub(crate) fn history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> Result<FeeHistory, RpcError> {
        if let Some(percentiles) = &percentiles {
            let ordered = percentiles.windows(2).all(|w| w[0] <= w[1]);
            if !ordered || percentiles.iter().any(|p| !(0.0..=100.0).contains(p)) {
                return Err(RpcError::InvalidParams(format!(
                    "invalid reward percentiles: {percentiles:?}"
                )));
            }
            if percentiles.len() > 100 {
                return Err(RpcError::LimitExceeded(
                    "more than 100 reward percentiles".into(),
                ));
            }
        }
        let chain = self.chain();
        let newest = self.number(newest).ok_or(RpcError::HeaderNotFound)?;
        let count = count.min(MAX_FEE_HISTORY_BLOCKS).min(newest + 1);
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        let oldest = newest + 1 - count;
        let blocks: Vec<_> = (oldest..=newest)
            .map(|n| chain.block(n).ok_or(RpcError::HeaderNotFound))
            .collect::<Result<_, _>>()?;
        let mut base_fee_per_gas: Vec<u128> = blocks
            .iter()
            .map(|b| u128::from(b.header().base_fee))
            .collect();
        if let Some(last) = blocks.last() {
            base_fee_per_gas.push(u128::from(base_fee_after(chain.config(), last.header())));
        }
        let gas_used_ratio = blocks
            .iter()
            .map(|b| b.header().gas_used as f64 / b.header().gas_limit.max(1) as f64)
            .collect();
        let reward = percentiles.map(|p| blocks.iter().map(|b| rewards(b, &p)).collect());
        let cancun = chain.config().spec.is_enabled_in(SpecId::CANCUN);
        Ok(FeeHistory {
            base_fee_per_gas,
            gas_used_ratio,
            // No blobs on the rollup: the minimum blob base fee, nothing used.
            base_fee_per_blob_gas: if cancun {
                vec![1; count as usize + 1]
            } else {
                Vec::new()
            },
            blob_gas_used_ratio: if cancun {
                vec![0.0; count as usize]
            } else {
                Vec::new()
            },
            oldest_block: oldest,
            reward,
        })
    }
}

/// The tips at `percentiles` of a block's gas used, as geth computes them: transactions
/// sorted by tip, each weighing its gas used.
fn rewards(block: &ChainBlock, percentiles: &[f64]) -> Vec<u128> {
    let base_fee = block.header().base_fee;
    let mut previous = 0;
    let mut txs: Vec<(u128, u64)> = block
        .block
        .transactions
        .iter()
        .zip(&block.receipts)
        .map(|(tx, receipt)| {
            let used = receipt.cumulative_gas_used() - previous;
            previous = receipt.cumulative_gas_used();
            (tx.effective_tip_per_gas(base_fee).unwrap_or_default(), used)
        })
        .collect();
    if txs.is_empty() {
        return vec![0; percentiles.len()];
    }
    txs.sort_unstable_by_key(|(tip, _)| *tip);
    let total = block.header().gas_used as f64;
    let mut index = 0;
    let mut sum = txs[0].1;
    percentiles
        .iter()
        .map(|p| {
            let threshold = total * p / 100.0;
            while (sum as f64) < threshold && index < txs.len() - 1 {
                index += 1;
                sum += txs[index].1;
            }
            txs[index].0
        })
        .collect()
}
