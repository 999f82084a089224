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

    /// Certificates are checked against the new threshold from now on (certificates already
    /// accepted stay), and batches committed from now on wait out the new challenge window.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        params.validate()?;
        self.set_avs_params(params);
        Ok(())
    }
}

impl ParameterStore for crate::vital::finality::TieredFinality {
    type Params = AvsParams;
    type Error = InvalidAvsParams;

    fn params(&self) -> &AvsParams {
        self.mach().avs_params()
    }

    /// As MACH's gadget does.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        self.mach_mut().set_params(params)
    }
}

impl ParameterStore for crate::mach::committee::MachCommittee {
    type Params = AvsParams;
    type Error = InvalidAvsParams;

    fn params(&self) -> &AvsParams {
        self.tiers().mach().avs_params()
    }

    /// The committee's certificates follow the new threshold (its aggregator asks for it per
    /// block), its tiers the new window.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        self.tiers_mut().set_params(params)
    }
}
