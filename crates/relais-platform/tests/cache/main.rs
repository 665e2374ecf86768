//! Cache and limiter suite: every backend (local, Redis, tiered), TTLs on a manual clock,
//! single-flight, invalidation across instances, a Redis outage simulated with a proxy, and
//! limits shared by two instances. Each run has its own Redis key prefix.

mod cases;
mod limits;
mod support;

use cases::*;
use limits::*;
use relais_testkit::suite;

suite!(
    values_are_typed_and_namespaced,
    values_are_typed_and_namespaced_on_redis => needs_redis,
    ttl_expires_on_the_cache_clock,
    single_flight_computes_a_cold_key_once,
    single_flight_computes_a_cold_key_once_on_redis => needs_redis,
    a_failed_computation_is_shared_and_not_cached,
    the_local_tier_stays_within_its_memory_budget,
    invalidation_by_key_tag_and_prefix,
    invalidation_by_key_tag_and_prefix_on_redis => needs_redis,
    tiered_invalidations_reach_the_other_instances => needs_redis,
    redis_outage_degrades_to_computing_then_recovers => needs_redis,
    local_limits_refill_on_the_clock,
    redis_limits_are_shared_by_two_instances => needs_redis,
    limits_fall_back_to_local_buckets_when_redis_is_down => needs_redis,
);
