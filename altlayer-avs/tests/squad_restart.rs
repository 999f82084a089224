//! A SQUAD sequencer restarted after a crash between signing and sending cannot equivocate.

use altlayer_avs::squad::CryptoMode;
use std::sync::Arc;

mod squad_support;

use squad_support::{config, setup};

/// A sequencer killed after it signed a prevote and before the prevote left its process, then
/// restarted from its record on disk (redb), re-sends the same prevote and signs no other for
/// that slot, even when the leader equivocates. Restarted without the record, it would sign
/// the other block's prevote: the equivocation the record prevents.
#[test]
fn a_sequencer_killed_between_signing_and_sending_cannot_equivocate_after_a_restart() {
    use altlayer_avs::squad::{
        Input, Message, Output, SquadNode, VoteKind, durable::DurableSquadNode,
    };
    use altlayer_core::storage::ProtocolStore;
    use altlayer_storage::{RedbStore, StoreOptions};

    let s = setup(4);
    let config = config(CryptoMode::Full);
    let nodes: Vec<SquadNode> = (0..4)
        .map(|i| {
            SquadNode::new(
                config.clone(),
                s.roster.clone(),
                s.peers[i],
                s.keys[i].clone(),
            )
            .unwrap()
        })
        .collect();
    let leader = nodes[0].leader(0);
    let l = s.peers.iter().position(|p| *p == leader).unwrap();
    let d = (l + 1) % 4;
    // The leader's proposal for height 1, round 0, and a second one it signs for the same
    // slot (an equivocating leader).
    let mut leader_node =
        SquadNode::new(config.clone(), s.roster.clone(), leader, s.keys[l].clone()).unwrap();
    let proposal = leader_node
        .start(0)
        .into_iter()
        .find_map(|o| match o {
            Output::Send {
                message: Message::Proposal(p),
                ..
            } => Some(p),
            _ => None,
        })
        .expect("the leader proposes");
    let mut other = (*proposal).clone();
    other.block.payload.timestamp += 1;
    other.signature = s.keys[l].sign(&leader_node.vote_digest(
        other.block.height,
        other.round,
        VoteKind::Proposal,
        Some(other.block.hash()),
    ));
    let prevote_for = |outputs: &[Output]| {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    message: Message::Vote(v),
                    ..
                } if v.kind == VoteKind::Prevote && v.height == 1 && v.round == 0 => {
                    Some(v.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };

    let dir = tempfile::tempdir().unwrap();
    let open_store = || -> Arc<dyn ProtocolStore> {
        Arc::new(RedbStore::open(dir.path(), StoreOptions::default()).unwrap())
    };
    let signed = {
        let mut node = DurableSquadNode::open(
            config.clone(),
            s.roster.clone(),
            s.peers[d],
            s.keys[d].clone(),
            open_store(),
        )
        .unwrap();
        node.start(0).unwrap();
        let outputs = node
            .handle(
                1,
                Input::Message {
                    from: leader,
                    message: Message::Proposal(proposal.clone()),
                },
            )
            .unwrap();
        let votes = prevote_for(&outputs);
        assert_eq!(votes.len(), 1, "{outputs:?}");
        assert_eq!(votes[0].block, Some(proposal.block.hash()));
        votes[0].clone()
        // Killed here: the outputs (the prevote) are dropped, never sent.
    };

    let mut restarted = DurableSquadNode::open(
        config.clone(),
        s.roster.clone(),
        s.peers[d],
        s.keys[d].clone(),
        open_store(),
    )
    .unwrap();
    // It re-sends the prevote it signed, unchanged...
    assert_eq!(
        prevote_for(&restarted.start(2).unwrap()),
        vec![signed.clone()]
    );
    // ...and signs no prevote for the other block in that slot.
    let outputs = restarted
        .handle(
            3,
            Input::Message {
                from: leader,
                message: Message::Proposal(Box::new(other.clone())),
            },
        )
        .unwrap();
    assert!(
        prevote_for(&outputs)
            .iter()
            .all(|v| v.block == Some(proposal.block.hash())),
        "{outputs:?}"
    );

    // Without the record, the same node signs the other block's prevote: an equivocation.
    let mut forgetful =
        SquadNode::new(config, s.roster.clone(), s.peers[d], s.keys[d].clone()).unwrap();
    forgetful.start(2);
    let outputs = forgetful.handle(
        3,
        Input::Message {
            from: leader,
            message: Message::Proposal(Box::new(other.clone())),
        },
    );
    assert_eq!(
        prevote_for(&outputs).first().and_then(|v| v.block),
        Some(other.block.hash())
    );
}
