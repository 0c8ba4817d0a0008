//! The source types a run can use.

use std::sync::Arc;

use crate::SourceFactory;

/// Source types by name, in the order they were added (the first of a name wins).
#[derive(Clone, Default)]
pub struct SourceCatalog {
    factories: Vec<Arc<dyn SourceFactory>>,
}

impl std::fmt::Debug for SourceCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl SourceCatalog {
    /// An empty catalog.
    pub fn new() -> SourceCatalog {
        SourceCatalog::default()
    }

    /// The catalog with one more type.
    pub fn with(mut self, factory: Arc<dyn SourceFactory>) -> SourceCatalog {
        self.factories.push(factory);
        self
    }

    /// The factory of a type.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn SourceFactory>> {
        self.factories.iter().find(|f| f.type_name() == type_name)
    }

    /// Every type's name, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.type_name()).collect()
    }

    /// Every factory, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn SourceFactory>> {
        self.factories.iter()
    }
}
