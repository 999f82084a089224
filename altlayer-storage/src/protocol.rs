//! [`ProtocolStore`] for [`RedbStore`]: the protocol records in their own table, written in
//! one durable transaction per call.

use crate::{RedbStore, backend, tables::PROTOCOL};
use altlayer_core::storage::{ProtocolStore, StorageError};
use redb::ReadableDatabase;

impl ProtocolStore for RedbStore {
    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = match tx.open_table(PROTOCOL) {
            Ok(table) => table,
            // A database from before the table existed: no records yet.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        Ok(table
            .get(name)
            .map_err(backend)?
            .map(|value| value.value().to_vec()))
    }

    fn write_records(&self, records: &[(&str, Option<&[u8]>)]) -> Result<(), StorageError> {
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        {
            let mut table = tx.open_table(PROTOCOL).map_err(backend)?;
            for (name, value) in records {
                match value {
                    Some(value) => {
                        table.insert(*name, *value).map_err(backend)?;
                    }
                    None => {
                        table.remove(*name).map_err(backend)?;
                    }
                }
            }
        }
        tx.commit().map_err(backend)
    }
}
