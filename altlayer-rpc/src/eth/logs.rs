//! `eth_getLogs`: the blocks an index says may match (or, without one, every block whose bloom
//! may), then the logs in them that do. With an index the cost follows the matches, not the
//! range.

use super::Eth;
use crate::{
    convert,
    error::RpcError,
    provider::{ChainBlock, LogCriteria},
};
use alloy_eips::BlockNumberOrTag;
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};

/// The criteria of a filter an index can narrow the blocks by.
pub(crate) fn criteria(filter: &Filter) -> LogCriteria {
    LogCriteria {
        addresses: filter.address.iter().copied().collect(),
        topics: std::array::from_fn(|i| filter.topics[i].iter().copied().collect()),
    }
}

/// The logs of `block` matching `filter` (its addresses and topics; the range is the
/// caller's), appended to `out`.
pub(crate) fn block_logs(block: &ChainBlock, filter: &Filter, removed: bool, out: &mut Vec<Log>) {
    if !filter.matches_bloom(block.header().logs_bloom) {
        return;
    }
    out.extend(
        convert::rpc_logs(block, removed)
            .into_iter()
            .flatten()
            .filter(|log| filter.matches(&log.inner)),
    );
}

impl Eth {
    /// The logs matching `filter`, refusing ranges and results over the server's limits.
    pub(crate) async fn find_logs(&self, filter: &Filter) -> Result<Vec<Log>, RpcError> {
        let this = self.clone();
        let filter = filter.clone();
        self.blocking(move |_| this.find_logs_now(&filter)).await
    }

    fn find_logs_now(&self, filter: &Filter) -> Result<Vec<Log>, RpcError> {
        let chain = self.chain();
        let (from, to) = match &filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let number = chain.block_number(hash).ok_or(RpcError::HashNotFound)?;
                (number, number)
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let latest = chain.tip().latest;
                let bound = |tag: Option<BlockNumberOrTag>| match tag.unwrap_or_default() {
                    BlockNumberOrTag::Number(n) => n,
                    tag => self.number(tag).unwrap_or(latest),
                };
                let (from, to) = (bound(*from_block), bound(*to_block));
                if from > to {
                    return Err(RpcError::InvalidParams(
                        "invalid block range params: fromBlock is after toBlock".into(),
                    ));
                }
                if from > latest {
                    return Ok(Vec::new());
                }
                (from, to.min(latest))
            }
        };
        let limits = self.config();
        if to - from >= limits.max_logs_range {
            return Err(RpcError::LimitExceeded(format!(
                "query exceeds max block range {}",
                limits.max_logs_range
            )));
        }
        let heights: Box<dyn Iterator<Item = u64>> =
            match chain.log_blocks(&criteria(filter), from, to) {
                Some(heights) => Box::new(heights.into_iter()),
                None => Box::new(from..=to),
            };
        let mut logs = Vec::new();
        for height in heights {
            let Some(block) = chain.block(height) else {
                continue;
            };
            block_logs(&block, filter, false, &mut logs);
            if logs.len() > limits.max_logs {
                return Err(RpcError::LimitExceeded(format!(
                    "query returned more than {} results",
                    limits.max_logs
                )));
            }
        }
        Ok(logs)
    }
}
