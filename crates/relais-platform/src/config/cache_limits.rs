//! Parsing of the `cache.*` and `limits.*` settings.

use std::time::Duration;

use super::{ConfigError, Values, parse_duration, parse_size};
use crate::cache::CacheBackend;
use crate::limit::LimitBackend;
use crate::rate::Rate;

/// Cache settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// The backend.
    pub backend: CacheBackend,
    /// Memory budget of the local tier, in bytes.
    pub memory: u64,
    /// TTL of values cached without one.
    pub default_ttl: Duration,
}

/// Rate-limit settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    /// Where buckets live.
    pub backend: LimitBackend,
    /// Limits per route.
    pub routes: Vec<RouteLimit>,
}

/// A limit on one route, per caller (token, or client address without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLimit {
    /// HTTP method, upper case.
    pub method: String,
    /// Route template as declared, e.g. `/api/tasks/{id}`.
    pub path: String,
    /// The rate.
    pub rate: Rate,
}

impl RouteLimit {
    /// `METHOD /path`, as written in the setting.
    pub fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Parses every `cache.*` and `limits.*` setting (`redis`: whether `redis.url` is set).
pub(super) fn parse(
    v: &Values<'_>,
    redis: bool,
) -> Result<(CacheSettings, LimitSettings), ConfigError> {
    let cache = CacheSettings {
        backend: v.parse("cache.backend", |s| parse_cache_backend(s, redis))?,
        memory: v.parse("cache.memory", |s| match parse_size(s)? {
            n if n < 1 << 20 => Err("must be at least 1MiB".into()),
            n => Ok(n as u64),
        })?,
        default_ttl: v.parse("cache.default_ttl", |s| match parse_duration(s)? {
            d if d.is_zero() => Err("must be more than 0".into()),
            d => Ok(d),
        })?,
    };
    let limits = LimitSettings {
        backend: v.parse("limits.backend", |s| parse_limit_backend(s, redis))?,
        routes: v.parse("limits.routes", parse_route_limits)?,
    };
    Ok((cache, limits))
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

pub(super) fn parse_cache_backend(s: &str, redis: bool) -> Result<CacheBackend, String> {
    let backend = match s {
        "auto" if redis => CacheBackend::Tiered,
        "auto" => CacheBackend::Local,
        "local" => CacheBackend::Local,
        "redis" => CacheBackend::Redis,
        "tiered" => CacheBackend::Tiered,
        _ => return Err("expected `auto`, `local`, `redis` or `tiered`".into()),
    };
    if backend != CacheBackend::Local && !redis {
        return Err(format!("the {} backend needs redis.url", backend.as_str()));
    }
    Ok(backend)
}

pub(super) fn parse_limit_backend(s: &str, redis: bool) -> Result<LimitBackend, String> {
    match s {
        "auto" if redis => Ok(LimitBackend::Redis),
        "auto" | "local" => Ok(LimitBackend::Local),
        "redis" if redis => Ok(LimitBackend::Redis),
        "redis" => Err("the redis backend needs redis.url".into()),
        _ => Err("expected `auto`, `local` or `redis`".into()),
    }
}

/// Parses `POST /api/tasks=100/m, GET /api/tasks=600/m`.
pub fn parse_route_limits(s: &str) -> Result<Vec<RouteLimit>, String> {
    let mut limits: Vec<RouteLimit> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (route, rate) = part.rsplit_once('=').ok_or_else(|| {
            format!("`{part}`: expected METHOD /path=RATE, e.g. POST /api/tasks=100/m")
        })?;
        let (method, path) = route
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{part}`: expected METHOD /path=RATE"))?;
        let method = method.trim().to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(format!("`{part}`: unknown method `{method}`"));
        }
        let path = path.trim();
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(format!(
                "`{part}`: the route must be a path such as /api/tasks"
            ));
        }
        let rate: Rate = rate.trim().parse().map_err(|e| format!("`{part}`: {e}"))?;
        let limit = RouteLimit {
            method,
            path: path.to_owned(),
            rate,
        };
        if limits.iter().any(|l| l.route() == limit.route()) {
            return Err(format!("`{}` is limited twice", limit.route()));
        }
        limits.push(limit);
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_limits_parse_and_refuse_typos() {
        let limits = parse_route_limits("POST /api/tasks=100/m, get /api/tasks/{id}=5/s").unwrap();
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].route(), "POST /api/tasks");
        assert_eq!(limits[1].route(), "GET /api/tasks/{id}");
        assert_eq!(limits[1].rate.to_string(), "5/s");
        assert!(parse_route_limits("").unwrap().is_empty());
        for bad in [
            "POST /api/tasks",
            "/api/tasks=1/m",
            "FETCH /api/tasks=1/m",
            "POST api/tasks=1/m",
            "POST /api/tasks=often",
            "POST /api/tasks=1/m,POST /api/tasks=2/m",
        ] {
            assert!(parse_route_limits(bad).is_err(), "{bad} should be refused");
        }
    }

    fn load(vars: &[(&str, &str)]) -> Result<crate::config::Config, String> {
        crate::config::ConfigLoader::new()
            .env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .load()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_load_with_defaults_and_errors_name_the_key() {
        let config = load(&[]).unwrap();
        assert_eq!(config.cache.backend, CacheBackend::Local);
        assert_eq!(config.cache.memory, 64 << 20);
        assert_eq!(config.cache.default_ttl, Duration::from_secs(300));
        assert_eq!(config.limits.backend, LimitBackend::Local);
        assert!(config.limits.routes.is_empty());
        let shared = load(&[
            ("RELAIS_REDIS_URL", "redis://127.0.0.1:6379"),
            ("RELAIS_LIMITS_ROUTES", "POST /api/uploads=10/hour"),
        ])
        .unwrap();
        assert_eq!(shared.cache.backend, CacheBackend::Tiered);
        assert_eq!(shared.limits.backend, LimitBackend::Redis);
        assert_eq!(shared.limits.routes[0].rate.to_string(), "10/h");
        let e = load(&[("RELAIS_CACHE_BACKEND", "tiered")]).unwrap_err();
        assert!(
            e.contains("`cache.backend`") && e.contains("needs redis.url"),
            "{e}"
        );
        let e = load(&[("RELAIS_CACHE_MEMORY", "10KiB")]).unwrap_err();
        assert!(e.contains("`cache.memory`") && e.contains("1MiB"), "{e}");
        let e = load(&[("RELAIS_CACHE_DEFAULT_TTL", "0s")]).unwrap_err();
        assert!(e.contains("`cache.default_ttl`"), "{e}");
        let e = load(&[("RELAIS_LIMITS_ROUTES", "POST /api/uploads")]).unwrap_err();
        assert!(
            e.contains("`limits.routes`") && e.contains("METHOD /path=RATE"),
            "{e}"
        );
    }

    #[test]
    fn backends_follow_redis() {
        assert_eq!(parse_cache_backend("auto", true), Ok(CacheBackend::Tiered));
        assert_eq!(parse_cache_backend("auto", false), Ok(CacheBackend::Local));
        assert!(parse_cache_backend("tiered", false).is_err());
        assert!(parse_cache_backend("memcached", true).is_err());
        assert_eq!(parse_limit_backend("auto", true), Ok(LimitBackend::Redis));
        assert_eq!(parse_limit_backend("local", true), Ok(LimitBackend::Local));
        assert!(parse_limit_backend("redis", false).is_err());
    }
}
