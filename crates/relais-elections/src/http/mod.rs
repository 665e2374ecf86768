//! The app's HTTP routes (HTTP only here): the summary builds (`build.rs`). Plugged into the
//! server by the binary's `app_routes`.

mod build;

pub use build::{BuildAnswer, BuildBody, BuildStatusView};

use relais_http::Routes;

use crate::build::Elections;

/// The app's documented routes.
pub fn routes(elections: Elections) -> Routes<()> {
    build::routes(elections)
}
