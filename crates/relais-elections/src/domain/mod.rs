//! The elections domain as plain data and pure functions: identifiers parsed at the boundary
//! ([`Siret`], [`Cycle`]), exact vote counts ([`Votes`]), the PV row ([`PvRow`]).

mod cycle;
mod pv;
mod siret;
mod votes;

pub use cycle::{Cycle, CycleError, CyclePeriod, CycleTable};
pub use pv::{College, PvKind, PvRow, UNIONS, Union, UnionVotes};
pub use siret::{Siret, SiretError};
pub use votes::{Votes, VotesError};
