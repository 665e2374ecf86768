//! The app's import types, plugged into the platform's import seam: `elections.pv` (PV result
//! files) and `elections.invitations` (PAP invitations). Rows are parsed here into domain types;
//! their batches are written by `crate::store`.

mod cells;
mod file_state;
mod invitations;
mod pv;

pub use invitations::{Invitation, InvitationImport};
pub use pv::{PvImport, PvLine, PvRecord};

use relais_platform::imports::FileFormat;

/// Formats both types accept: the platform's, and JSON (the Ministry's export).
const FORMATS: &[FileFormat] = &[
    FileFormat::Csv,
    FileFormat::Xlsx,
    FileFormat::Xls,
    FileFormat::Json,
];
/// Largest upload (a national file of a cycle is some 30 MB as CSV, more as JSON).
const MAX_SIZE: u64 = 200_000_000;
/// Most data rows of an upload (a cycle has some 130,000 PV rows).
const MAX_ROWS: u64 = 2_000_000;
