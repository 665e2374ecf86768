//! `tracing` setup: human-readable lines by default, one JSON object per line with
//! `log.format = json`. Request spans carry `request_id`, `method` and `route`.

use relais_platform::config::{Config, ConfigError, LogFormat, Origin};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(config: &Config) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(&config.log_level).map_err(|e| ConfigError::Invalid {
        key: "log.level",
        origin: Origin::Default,
        value: format!("{:?}", config.log_level),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // A second init (tests building several applications) keeps the first subscriber.
    drop(result);
    Ok(())
}
