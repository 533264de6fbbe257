//! Workers: claim queued runs, run them through the engine, keep their leases.
