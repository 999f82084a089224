//! `altlayer_`: where a block stands among the restaked finality tiers and what proves it,
//! the confirmed alerts, the batches on settlement and the operator sets.

use crate::{
    api::AltlayerApiServer,
    error::RpcError,
    eth::Eth,
    provider::{AlertInfo, BatchInfo, BlockFinality, OperatorSetInfo, Tier},
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::U64;
use altlayer_core::evidence::Service;
use jsonrpsee::core::RpcResult;

impl AltlayerApiServer for Eth {
    fn finality(&self, block: BlockId) -> RpcResult<BlockFinality> {
        let chain = self.chain();
        // A height above the head is pending: not in the chain yet.
        if let BlockId::Number(BlockNumberOrTag::Number(number)) = block
            && number > chain.tip().latest
        {
            return Ok(BlockFinality {
                number,
                hash: None,
                tier: Tier::Pending,
                soft_certificate: None,
                fast_certificate: None,
                alert: None,
                batch: None,
            });
        }
        let number = self.resolve(Some(block))?;
        Ok(chain.finality(number).ok_or(RpcError::HeaderNotFound)?)
    }

    fn has_active_alerts(&self) -> RpcResult<bool> {
        Ok(self.chain().alerts().iter().any(|alert| alert.active))
    }

    fn alerts(&self) -> RpcResult<Vec<AlertInfo>> {
        Ok(self.chain().alerts())
    }

    fn batch(&self, index: U64) -> RpcResult<Option<BatchInfo>> {
        Ok(self.chain().batch(index.to::<u64>()))
    }

    fn operators(&self, service: Service) -> RpcResult<Option<OperatorSetInfo>> {
        Ok(self.chain().operators(service))
    }
}
