//! The async runner: carries out a [`Rollup`]'s effects with tokio against its
//! [`DataAvailability`] and [`Settlement`] components, feeding each answer back, until the
//! input has nothing left to cause.

use altlayer_core::{
    DataAvailability, FinalityGadget, Sequencer, Settlement,
    ledger::RollupLedger,
    rollup::{Effect, Input, Rollup, RollupError, RollupEvent, SettlementCall, SettlementView},
    verifier::Verifier,
};
use std::collections::VecDeque;

/// Handles `input` and every answer to the effects it causes; returns the events, in order.
/// Messages to peers are dropped: a rollup run in one process has none (its sets run in
/// process).
pub async fn step<S, V, F, L, D, St>(
    rollup: &mut Rollup<S, V, F, L, D, St>,
    input: Input<S::Message, F::Message>,
) -> Result<Vec<RollupEvent>, RollupError>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    let mut events = Vec::new();
    let mut inputs = VecDeque::from([input]);
    while let Some(input) = inputs.pop_front() {
        let out = rollup.handle(input)?;
        events.extend(out.events);
        for effect in out.effects {
            if let Some(answer) = execute(rollup, effect).await {
                inputs.push_back(answer);
            }
        }
    }
    Ok(events)
}

/// Carries out one effect and returns the input that answers it.
async fn execute<S, V, F, L, D, St>(
    rollup: &Rollup<S, V, F, L, D, St>,
    effect: Effect<S::Message, F::Message>,
) -> Option<Input<S::Message, F::Message>>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    let (da, settlement) = (rollup.da(), rollup.settlement());
    Some(match effect {
        Effect::Send { to, .. } => {
            tracing::trace!(?to, "no peers in process: message dropped");
            return None;
        }
        Effect::Publish { ticket, batch } => Input::Published {
            ticket,
            result: da.publish(&batch).await,
        },
        Effect::Commit { ticket, commitment } => Input::Committed {
            ticket,
            result: settlement.commit_batch(*commitment).await,
        },
        Effect::Retrieve { index, da_ref } => Input::Retrieved {
            index,
            result: da.retrieve(&da_ref).await,
        },
        Effect::Call(call) => {
            let result = match &call {
                SettlementCall::Challenge {
                    batch,
                    challenger,
                    bond,
                } => settlement
                    .open_challenge(batch, *challenger, *bond)
                    .await
                    .map(|_| ()),
                SettlementCall::Play { dispute, mover, mv } => {
                    settlement.play(*dispute, *mover, *mv).await
                }
                SettlementCall::Prove {
                    dispute, witness, ..
                } => settlement.prove(*dispute, witness).await,
            };
            Input::Called { call, result }
        }
        Effect::Sync { now, from } => {
            let read = async {
                settlement.observe_time(now).await?;
                let now = settlement.now().await?;
                let (events, next) = settlement.events(from).await?;
                Ok(SettlementView { now, events, next })
            };
            Input::Synced { result: read.await }
        }
    })
}
