//! The settings in force at run time.
//!
//! [`LiveConfig`] is what readers consult: replaceable at run time without a
//! lock on the hot path (readers compare a generation number and re-read only
//! when it moved). Where new settings come from is [`super::Source`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::Config;

/// The settings readers consult, replaceable at run time.
#[derive(Debug)]
pub struct LiveConfig {
    generation: AtomicU64,
    current: RwLock<Arc<Config>>,
}

impl LiveConfig {
    /// Starts at generation 0 with `config`.
    pub fn new(config: Arc<Config>) -> Self {
        LiveConfig {
            generation: AtomicU64::new(0),
            current: RwLock::new(config),
        }
    }

    /// The current generation; changes whenever the config is replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current generation and config.
    pub fn get(&self) -> (u64, Arc<Config>) {
        // Readers of a poisoned lock still see a complete Arc.
        let config = self.current.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), Arc::clone(&config))
    }

    /// Replaces the config and moves the generation on.
    pub fn replace(&self, config: Arc<Config>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
