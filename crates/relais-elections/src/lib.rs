//! The elections app: CSE election results (PV rows, one per PV × collège), PAP invitations and
//! the per-SIRET summary with legal seat allocation. The rules are those of the elections domain
//! reference; `domain` holds them as plain data and pure functions, with no storage and no HTTP.

pub mod demo;
pub mod domain;
