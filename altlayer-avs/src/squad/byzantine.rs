//! How a sequencer misbehaves in fault drills: what it sends instead of an honest message.

use super::{Message, SquadNode, Target};
#[cfg(feature = "test-utils")]
use super::{Proposal, Vote, VoteKind};
use alloy_primitives::Address;
#[cfg(feature = "test-utils")]
use alloy_primitives::{B256, keccak256};
use altlayer_core::bls::SecretKey;

/// How a sequencer behaves (anything but `Honest` is for tests and fault drills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// Follows the protocol.
    #[default]
    Honest,
    /// Signs two different proposals and two different votes for every slot, each to half of
    /// the peers.
    #[cfg(feature = "test-utils")]
    Equivocate,
    /// Never sends its proposals.
    #[cfg(feature = "test-utils")]
    WithholdProposals,
}

/// What a sequencer behaving as `behaviour` sends where an honest one sends `message` to
/// `to`; `peers` are the set's members in roster order.
#[cfg_attr(not(feature = "test-utils"), allow(unused_variables))]
pub(crate) fn byzantine_sends(
    behaviour: Behaviour,
    node: &SquadNode,
    key: &SecretKey,
    peers: &[Address],
    to: Target,
    message: Message,
) -> Vec<(Target, Message)> {
    #[cfg(feature = "test-utils")]
    match (behaviour, &message, to) {
        (Behaviour::WithholdProposals, Message::Proposal(_), _) => return Vec::new(),
        (Behaviour::Equivocate, Message::Proposal(p), Target::All) => {
            let mut other = (**p).clone();
            other.block.payload.timestamp += 1;
            other.signature = resign_proposal(node, key, &other);
            return split(
                node,
                peers,
                message.clone(),
                Message::Proposal(Box::new(other)),
            );
        }
        (Behaviour::Equivocate, Message::Vote(v), Target::All) if v.kind != VoteKind::Proposal => {
            let other_block = Some(match v.block {
                Some(hash) => keccak256(hash),
                None => B256::repeat_byte(0xee),
            });
            let other = Vote {
                block: other_block,
                signature: key.sign(&node.vote_digest(v.height, v.round, v.kind, other_block)),
                ..v.clone()
            };
            return split(node, peers, message.clone(), Message::Vote(other));
        }
        _ => {}
    }
    vec![(to, message)]
}

#[cfg(feature = "test-utils")]
fn resign_proposal(
    node: &SquadNode,
    key: &SecretKey,
    proposal: &Proposal,
) -> altlayer_core::bls::Signature {
    let digest = node.vote_digest(
        proposal.block.height,
        proposal.round,
        VoteKind::Proposal,
        Some(proposal.block.hash()),
    );
    key.sign(&digest)
}

/// `first` to the lower half of the peers, `second` to the upper half.
#[cfg(feature = "test-utils")]
fn split(
    node: &SquadNode,
    peers: &[Address],
    first: Message,
    second: Message,
) -> Vec<(Target, Message)> {
    let half = peers.len() / 2;
    peers
        .iter()
        .enumerate()
        .filter(|(_, peer)| **peer != node.address())
        .map(|(i, peer)| {
            let message = if i < half {
                first.clone()
            } else {
                second.clone()
            };
            (Target::One(*peer), message)
        })
        .collect()
}
