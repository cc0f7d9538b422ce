//! `Filter` (`org.apache.kafka.connect.transforms.Filter`, KIP-585): drops every record;
//! meant to be used with a predicate.

use crate::config_def::ConfigDef;
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};
use crate::transforms::Transform;

/// Drops all records.
#[derive(Debug, Default)]
pub(crate) struct Filter;

/// `Filter` has no keys.
pub(crate) fn config_def() -> ConfigDef {
    ConfigDef::new()
}

impl Transform for Filter {
    fn configure(&mut self, _config: &Config) -> Result<(), ConnectError> {
        Ok(())
    }

    fn apply(&mut self, _record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_everything() {
        let mut f = Filter;
        f.configure(&Config::new()).unwrap();
        assert_eq!(f.apply(ConnectRecord::default()).unwrap(), None);
    }
}
