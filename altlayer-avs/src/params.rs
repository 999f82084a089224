//! The MACH gadget's side of [`ParameterStore`] for the AVS parameters (defined in
//! altlayer-core, so that governance can change them without depending on this crate).

pub use altlayer_core::params::{AvsParams, InvalidAvsParams};
use altlayer_staking::ParameterStore;

impl ParameterStore for crate::mach::MachFinality {
    type Params = AvsParams;
    type Error = InvalidAvsParams;

    /// The AVS parameters this gadget runs by; it uses the MACH threshold.
    fn params(&self) -> &AvsParams {
        self.avs_params()
    }

    /// Certificates are checked against the new threshold from now on; certificates already
    /// accepted stay.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        params.validate()?;
        self.set_avs_params(params);
        Ok(())
    }
}
