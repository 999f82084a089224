//! Example rollups built with altlayer-rs. Each example is a function returning what it
//! observed, run by a binary of the same name and checked by a test, so examples cannot rot.
//!
//! - [`minimal_rollup`]: core's defaults through the builder, run with tokio.
//! - [`restaked_rollup`]: SQUAD, MACH, VITAL and the ALT ledger swapped into the builder.
//! - [`custom_finality`]: a finality gadget of the user's own, swapped in with one call.
//! - [`plain_loop`]: the sans-IO rollup driven from a plain loop, without an async runtime,
//!   catching a sequencer that lies.

pub mod custom_finality;
pub mod minimal_rollup;
pub mod plain_loop;
pub mod restaked_rollup;
