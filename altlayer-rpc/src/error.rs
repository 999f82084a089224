//! Errors as geth gives them, so clients classify them: the JSON-RPC codes (-32700 to -32603
//! for the protocol, -32000 for a refused transaction or a failed query, 3 for a revert, with
//! the revert bytes in `data`) and geth's messages, which viem, ethers and web3.py match on.

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::{Panic, Revert, SolError};
use altlayer_core::{
    sequencer::{PoolError, SubmitError},
    transaction::TxError,
};
use jsonrpsee::types::{ErrorObjectOwned, error::INVALID_PARAMS_CODE};

/// geth's code for a failed call or a refused transaction.
pub const SERVER_ERROR_CODE: i32 = -32_000;
/// geth's code for a reverted call, whose `data` holds the revert bytes.
pub const EXECUTION_REVERTED_CODE: i32 = 3;
/// The code for a request over one of the server's limits (as geth's "limit exceeded").
pub const LIMIT_EXCEEDED_CODE: i32 = -32_005;
/// The code for a method this transport cannot serve (as geth's "notifications not
/// supported" over HTTP).
pub const METHOD_NOT_AVAILABLE_CODE: i32 = -32_601;
/// The code for an internal failure.
pub const INTERNAL_ERROR_CODE: i32 = -32_603;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// A parameter is malformed or out of range.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The block asked for is not in the chain.
    #[error("header not found")]
    HeaderNotFound,
    /// The block asked for by hash is not in the chain.
    #[error("header for hash not found")]
    HashNotFound,
    /// The state after the block asked for is no longer kept.
    #[error("historical state for block {0} is not available")]
    StateUnavailable(u64),
    /// A transaction was refused at submission.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The call reverted; the bytes are its revert data.
    #[error("execution reverted")]
    Reverted(Bytes),
    /// The call halted (out of gas, invalid opcode, ...), or could not start.
    #[error("{0}")]
    Execution(String),
    /// The caller cannot pay for the gas and value of a call.
    #[error("insufficient funds for gas * price + value: have {balance} want {cost}")]
    InsufficientFunds {
        /// The caller's balance.
        balance: U256,
        /// What the call would cost.
        cost: U256,
    },
    /// eth_estimateGas found no gas limit at which the call succeeds.
    #[error("gas required exceeds allowance ({0})")]
    GasRequiredExceedsAllowance(u64),
    /// A call ran past the server's time limit.
    #[error("execution aborted (timeout = {0:?})")]
    Timeout(std::time::Duration),
    /// The filter does not exist (never made, uninstalled, or expired).
    #[error("filter not found")]
    FilterNotFound,
    /// A request over one of the server's limits.
    #[error("{0}")]
    LimitExceeded(String),
    /// A method this transport cannot serve.
    #[error("{0}")]
    NotAvailable(String),
    /// Something failed inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RpcError {
    /// The JSON-RPC code.
    pub const fn code(&self) -> i32 {
        match self {
            Self::InvalidParams(_) => INVALID_PARAMS_CODE,
            Self::Reverted(_) => EXECUTION_REVERTED_CODE,
            Self::LimitExceeded(_) => LIMIT_EXCEEDED_CODE,
            Self::NotAvailable(_) => METHOD_NOT_AVAILABLE_CODE,
            Self::Internal(_) => INTERNAL_ERROR_CODE,
            _ => SERVER_ERROR_CODE,
        }
    }

    /// The message, in geth's words.
    pub fn message(&self) -> String {
        match self {
            Self::Submit(error) => submit_message(error),
            Self::Reverted(output) => revert_message(output),
            other => other.to_string(),
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(error: RpcError) -> Self {
        let message = error.message();
        match error {
            // geth sends the revert bytes even when there are none ("0x").
            RpcError::Reverted(output) => {
                ErrorObjectOwned::owned(EXECUTION_REVERTED_CODE, message, Some(output.to_string()))
            }
            other => ErrorObjectOwned::owned(other.code(), message, None::<()>),
        }
    }
}

impl From<TxError> for RpcError {
    fn from(error: TxError) -> Self {
        Self::Submit(SubmitError::Invalid(error))
    }
}

/// geth's message for a revert: `execution reverted`, followed by the reason when the data
/// is an `Error(string)` or a `Panic(uint256)`, as `abi.UnpackRevert` decodes them.
pub fn revert_message(output: &[u8]) -> String {
    if let Ok(revert) = Revert::abi_decode(output) {
        return format!("execution reverted: {}", revert.reason);
    }
    if let Ok(panic) = Panic::abi_decode(output) {
        return format!("execution reverted: {}", panic.as_geth_str());
    }
    "execution reverted".to_string()
}

/// geth's message for a refused transaction (core/txpool and core errors), which clients
/// match on: viem's `NonceTooLowError` on "nonce too low", `InsufficientFundsError` on
/// "insufficient funds for gas * price + value", and so on.
pub fn submit_message(error: &SubmitError) -> String {
    match error {
        SubmitError::Invalid(error) => tx_message(error),
        SubmitError::Pool(PoolError::Duplicate(_)) => "already known".to_string(),
        SubmitError::Pool(PoolError::ReplacementUnderpriced { .. }) => {
            "replacement transaction underpriced".to_string()
        }
        SubmitError::Pool(PoolError::Full(_)) => "txpool is full".to_string(),
        SubmitError::Ended => "the rollup has ended and takes no more transactions".to_string(),
        other => other.to_string(),
    }
}

fn tx_message(error: &TxError) -> String {
    match error {
        TxError::Malformed(reason) => format!("invalid transaction: {reason}"),
        TxError::UnsupportedType(_) => "transaction type not supported".to_string(),
        TxError::Oversize { .. } => "oversized data".to_string(),
        TxError::HighS | TxError::InvalidV | TxError::InvalidSignatureScalars => {
            "invalid transaction v, r, s values".to_string()
        }
        TxError::WrongChainId { .. } => "invalid chain id for signer".to_string(),
        TxError::MissingChainId => {
            "only replay-protected (EIP-155) transactions allowed over RPC".to_string()
        }
        TxError::NonceTooLow { expected, got } => {
            format!("nonce too low: next nonce {expected}, tx nonce {got}")
        }
        TxError::NonceTooHigh { expected, got } => {
            format!("nonce too high: next nonce {expected}, tx nonce {got}")
        }
        TxError::InsufficientFunds { balance, cost } => format!(
            "insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {}",
            cost.saturating_sub(*balance)
        ),
        TxError::IntrinsicGasTooLow {
            gas_limit,
            intrinsic,
        } => format!("intrinsic gas too low: gas {gas_limit}, minimum needed {intrinsic}"),
        TxError::GasLimitAboveBlockLimit { .. } | TxError::BlockGasExhausted { .. } => {
            "exceeds block gas limit".to_string()
        }
        TxError::FeeCapBelowBaseFee { max_fee, base_fee } => format!(
            "max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}"
        ),
        TxError::PriorityFeeAboveFeeCap { .. } => {
            "max priority fee per gas higher than max fee per gas".to_string()
        }
        TxError::SenderHasCode(address) => format!("sender not an eoa: address {address}"),
        other => other.to_string(),
    }
}

/// The result of an RPC method.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256, hex};

    #[test]
    fn reverts_carry_geths_reason_and_the_raw_data() {
        // Error("not enough") as solc encodes it.
        let data = Revert::from("not enough").abi_encode();
        let error: ErrorObjectOwned = RpcError::Reverted(data.clone().into()).into();
        assert_eq!(error.code(), 3);
        assert_eq!(error.message(), "execution reverted: not enough");
        assert_eq!(
            error.data().unwrap().get(),
            format!("\"0x{}\"", hex::encode(&data))
        );
        // Panic(0x11): geth's words for an overflow.
        let panic = Panic::from(0x11).abi_encode();
        assert_eq!(
            revert_message(&panic),
            "execution reverted: arithmetic underflow or overflow"
        );
        // A custom error is not decoded, but its bytes go out.
        let custom = hex!("deadbeef");
        let error: ErrorObjectOwned = RpcError::Reverted(custom.into()).into();
        assert_eq!(error.message(), "execution reverted");
        assert_eq!(error.data().unwrap().get(), "\"0xdeadbeef\"");
        // No data at all: "0x", as geth sends.
        let error: ErrorObjectOwned = RpcError::Reverted(Bytes::new()).into();
        assert_eq!(error.data().unwrap().get(), "\"0x\"");
    }

    #[test]
    fn refusals_use_geths_words() {
        let cases = [
            (
                SubmitError::Invalid(TxError::NonceTooLow {
                    expected: 5,
                    got: 3,
                }),
                "nonce too low: next nonce 5, tx nonce 3",
            ),
            (
                SubmitError::Invalid(TxError::InsufficientFunds {
                    balance: U256::from(10),
                    cost: U256::from(25),
                }),
                "insufficient funds for gas * price + value: balance 10, tx cost 25, overshot 15",
            ),
            (
                SubmitError::Pool(PoolError::Duplicate(B256::ZERO)),
                "already known",
            ),
            (
                SubmitError::Pool(PoolError::ReplacementUnderpriced {
                    sender: Address::ZERO,
                    nonce: 0,
                }),
                "replacement transaction underpriced",
            ),
            (
                SubmitError::Invalid(TxError::IntrinsicGasTooLow {
                    gas_limit: 20_000,
                    intrinsic: 21_000,
                }),
                "intrinsic gas too low: gas 20000, minimum needed 21000",
            ),
            (
                SubmitError::Invalid(TxError::FeeCapBelowBaseFee {
                    max_fee: 1,
                    base_fee: 7,
                }),
                "max fee per gas less than block base fee: maxFeePerGas: 1, baseFee: 7",
            ),
            (
                SubmitError::Invalid(TxError::GasLimitAboveBlockLimit {
                    gas_limit: 40_000_000,
                    block_gas_limit: 30_000_000,
                }),
                "exceeds block gas limit",
            ),
            (
                SubmitError::Invalid(TxError::Oversize {
                    size: 200_000,
                    limit: 131_072,
                }),
                "oversized data",
            ),
            (
                SubmitError::Invalid(TxError::WrongChainId {
                    expected: 1,
                    got: 2,
                }),
                "invalid chain id for signer",
            ),
        ];
        for (error, message) in cases {
            let object: ErrorObjectOwned = RpcError::Submit(error).into();
            assert_eq!(object.code(), -32_000);
            assert_eq!(object.message(), message);
            assert!(object.data().is_none());
        }
    }
}
